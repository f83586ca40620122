package hostedui

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// LanguagePath is the language picker's target: a GET form on every page
// (templates/layout.html) with the chosen tag in "lang". It sets the
// language cookie and sends the browser back to the page it came from.
const LanguagePath = PathPrefix + "language"

// The pages' language cookies: langCookie is the user's choice from the
// picker (a year); flowLangCookie holds an app's ui_locales (or Cognito's
// lang) for the rest of the browser session, so the pages of a sign-in
// flow keep the language the app asked for. Both hold a tag of the pool's
// catalogue, checked on every read.
const (
	langCookie     = "lang"
	flowLangCookie = "ui_locales"
	langCookieAge  = 365 * 24 * time.Hour
)

// chooseLanguage returns r's language, in the order the pages honour: the request's ui_locales (an OpenID parameter,
// carried to the pages by the authorization endpoint) or Cognito's lang,
// then the ui_locales cookie of an earlier page of the flow, then the
// picker's cookie, then Accept-Language, then the pool's default.
func (h *Handler) chooseLanguage(r *http.Request) (l *locale.Language, fromQuery bool) {
	c := h.locales
	q := r.URL.Query()
	for _, p := range []string{"ui_locales", "lang"} {
		if v := q.Get(p); v != "" && len(v) <= 256 {
			if l := c.Match(v, false); l != nil {
				return l, true
			}
		}
	}
	for _, name := range []string{flowLangCookie, langCookie} {
		for _, ck := range h.cookiesNamed(r, name) {
			if l := c.Lookup(ck.Value); l != nil {
				return l, false
			}
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" && len(al) <= 1024 {
		if l := c.Match(al, true); l != nil {
			return l, false
		}
	}
	return c.Default(), false
}

// withLanguage chooses r's language once, for the page and for any mail
// the request causes (locale.FromContext), and keeps an app's ui_locales
// for the flow's next pages.
func (h *Handler) withLanguage(w http.ResponseWriter, r *http.Request) *http.Request {
	l, fromQuery := h.chooseLanguage(r)
	// The picker's own "lang" is a choice for the cookie it sets, not an
	// app's wish for the flow.
	if fromQuery && r.Method == http.MethodGet && r.URL.Path != LanguagePath {
		h.setCookie(w, r, &http.Cookie{Name: flowLangCookie, Value: l.Tag, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	ctx := locale.NewContext(r.Context(), l)
	return r.WithContext(ctx)
}

// lang is r's language: chosen once by ServeHTTP (withLanguage), or here
// for a page the gateway renders (RenderError).
func (h *Handler) lang(r *http.Request) *locale.Language {
	if l := locale.FromContext(r.Context()); l != nil {
		return l
	}
	l, _ := h.chooseLanguage(r)
	return l
}

// language answers the picker: a GET, so that it works from every page
// without a token in the layout. A cross-site request (Sec-Fetch-Site)
// changes nothing, and the way back is only a path of this site, from the
// Referer of this same origin, never from a parameter.
func (h *Handler) language(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	back := h.languageReturn(r)
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		seeOther(w, back)
		return
	}
	l := h.locales.Lookup(r.URL.Query().Get("lang"))
	if l == nil {
		h.RenderError(w, r, http.StatusBadRequest, "Unknown language", "This site does not offer that language.")
		return
	}
	h.setCookie(w, r, &http.Cookie{Name: langCookie, Value: l.Tag, Path: "/", MaxAge: int(langCookieAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	// The user's choice now outranks the app's ui_locales for this flow.
	h.setCookie(w, r, &http.Cookie{Name: flowLangCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	seeOther(w, back)
}

// languageReturn is the page the picker was used on: the Referer's path
// and query when it is of this origin and a safe path of it, without the
// ui_locales or lang that would choose the language again; else the
// sign-in page.
func (h *Handler) languageReturn(r *http.Request) string {
	ref, err := url.Parse(r.Header.Get("Referer"))
	if err != nil || ref.Host != r.Host || (ref.Scheme != "https" && ref.Scheme != "http") || ref.User != nil {
		return SignInPath
	}
	q := ref.Query()
	if q.Has("ui_locales") || q.Has("lang") {
		q.Del("ui_locales")
		q.Del("lang")
		ref.RawQuery = q.Encode()
	}
	back := ref.EscapedPath()
	if ref.RawQuery != "" {
		back += "?" + ref.RawQuery
	}
	if s, ok := SafeReturnTo(back); ok && s != LanguagePath {
		return s
	}
	return SignInPath
}

// worded are the pool's texts that carry a value (its field errors and
// attribute hints, English as its API says them), each with the catalogue
// message it is: the page shows them in its language.
var worded = []struct {
	re    *regexp.Regexp
	id    string
	names []string
}{
	{regexp.MustCompile(`^Must be at least (-?\d+)\.$`), "Must be at least {{.Min}}.", []string{"Min"}},
	{regexp.MustCompile(`^Must be at most (-?\d+)\.$`), "Must be at most {{.Max}}.", []string{"Max"}},
	{regexp.MustCompile(`^Must be at least (\d+) characters\.$`), "Must be at least {{.Count}} characters.", []string{"Count"}},
	{regexp.MustCompile(`^Must be at most (\d+) characters\.$`), "Must be at most {{.Count}} characters.", []string{"Count"}},
	{regexp.MustCompile(`^A whole number from (-?\d+) to (-?\d+)\.$`), "A whole number from {{.Min}} to {{.Max}}.", []string{"Min", "Max"}},
	{regexp.MustCompile(`^A whole number, at least (-?\d+)\.$`), "A whole number, at least {{.Min}}.", []string{"Min"}},
	{regexp.MustCompile(`^A whole number, at most (-?\d+)\.$`), "A whole number, at most {{.Max}}.", []string{"Max"}},
	{regexp.MustCompile(`^Password (.+)\.$`), "Password {{.Rule}}.", []string{"Rule"}},
}

// poolText gives one of the pool's texts for a page in l: a constant
// through the catalogue, one with a value (worded) as its message with
// the value filled in.
func poolText(l *locale.Language, s string) string {
	if s == "" {
		return ""
	}
	for _, w := range worded {
		m := w.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		pairs := make([]any, 0, 2*len(w.names))
		for i, name := range w.names {
			var v any = m[i+1]
			switch name {
			case "Rule":
				v = l.T(m[i+1])
			case "Count":
				if n, err := strconv.Atoi(m[i+1]); err == nil {
					v = n
				}
			}
			pairs = append(pairs, name, v)
		}
		return l.T(w.id, pairs...)
	}
	return l.T(s)
}

// poolErrors is errs in l (poolText), for a form shown again.
func poolErrors(l *locale.Language, errs pool.FieldErrors) pool.FieldErrors {
	if len(errs) == 0 {
		return errs
	}
	out := make(pool.FieldErrors, len(errs))
	for k, v := range errs {
		out[k] = poolText(l, v)
	}
	return out
}

// The account page's dates and times are Go time layouts that the
// catalogues translate, so that each language writes them its own way
// ("02.01.2006", "2006年1月2日") and no English month name shows.
const (
	layoutDate     = "2 Jan 2006"
	layoutDateTime = "2 Jan 2006 15:04 MST"
	layoutTime     = "15:04 MST"
)
