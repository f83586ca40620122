package hostedui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/brand"
	"github.com/gatehouse-auth/gatehouse/locale"
)

// contentSecurityPolicy allows the pages nothing but their own stylesheet
// and script (static/webauthn.js: no inline script, no eval), inline data:
// images, the script's requests and posting forms back to this site.
// Chromium applies form-action to every redirect after a form's POST too,
// so a form whose outcome lies off this origin ends in a continue page
// (continueTo), not in a redirect: the policy stays 'self'.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pages holds one template set per page: each page file defines the blocks
// of layout.html, so each needs its own copy of the layout.
type pages struct {
	signIn        *template.Template
	error         *template.Template
	signUp        *template.Template
	confirm       *template.Template
	forgot        *template.Template
	reset         *template.Template
	newPassword   *template.Template
	account       *template.Template
	mfa           *template.Template
	mfaSetup      *template.Template
	recoveryCodes *template.Template
	continuePage  *template.Template
	relay         *template.Template
	reauth        *template.Template
}

// pageFuncs are the functions every page template may call, bound to one
// language of the pool. t marks a text a user reads: t "Sign in" gives
// that text in the page's language; extra arguments are name/value pairs
// for the text's placeholders, written as {{.Name}} in the text
// ("Continue with {{.Provider}}" "Provider" .Label), and a pair named Count
// also picks the plural form. A text no catalogue has (a Go-side text that
// is already translated, a provider's reason) comes back unchanged. lang
// and dir are the page's language tag and direction, languages the pool's
// languages for the picker; brand is set by setBrands.
func pageFuncs(l *locale.Language, all []*locale.Language) template.FuncMap {
	return template.FuncMap{
		"t":         l.T,
		"lang":      func() string { return l.Tag },
		"dir":       func() string { return l.Dir },
		"languages": func() []*locale.Language { return all },
		"brand":     noBrand,
	}
}

// noBrand stands for "brand" until setBrands gives the pool's: the page's
// brand (package brand), nil for Gatehouse's own look.
func noBrand() *brand.Brand { return nil }

// pageSlot is one page: where its template set lives, its file in
// templates/ (which a pool's templates_dir may replace) and the zero value
// of its data, which checkPages renders it with at start.
type pageSlot struct {
	slot **template.Template
	file string
	data any
}

// table lists every page once, for parsing, checking and per-client copies.
func (p *pages) table() []pageSlot {
	return []pageSlot{
		{&p.signIn, "signin.html", signInPage{}},
		{&p.error, "error.html", errorPage{}},
		{&p.signUp, "signup.html", signUpPage{}},
		{&p.confirm, "confirm.html", confirmPage{}},
		{&p.forgot, "forgot.html", forgotPage{}},
		{&p.reset, "reset.html", resetPage{}},
		{&p.newPassword, "new_password.html", newPasswordPage{}},
		{&p.account, "account.html", accountPage{}},
		{&p.mfa, "mfa.html", mfaPage{}},
		{&p.mfaSetup, "mfa_setup.html", mfaSetupPage{}},
		{&p.recoveryCodes, "recovery_codes.html", recoveryCodesPage{}},
		{&p.continuePage, "continue.html", continuePage{}},
		{&p.relay, "relay.html", relayPage{}},
		{&p.reauth, "reauth.html", confirmStepPage{}},
	}
}

func parsePages(fsys fs.FS, l *locale.Language, all []*locale.Language) (pages, error) {
	layout, err := template.New("layout.html").Funcs(pageFuncs(l, all)).ParseFS(fsys, "layout.html", "partials.html")
	if err != nil {
		return pages{}, err
	}
	page := func(name string) (*template.Template, error) {
		t, err := layout.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(fsys, name); err != nil {
			return nil, err
		}
		if t.Lookup("layout") == nil {
			return nil, fmt.Errorf("%s: layout.html defines no \"layout\" template", name)
		}
		return t, nil
	}
	var p pages
	for _, pg := range p.table() {
		if *pg.slot, err = page(pg.file); err != nil {
			return pages{}, err
		}
	}
	return p, nil
}

// setPageHeaders sets what every answer but a static file carries.
func setPageHeaders(hdr http.Header) {
	setSecurityHeaders(hdr)
	hdr.Set("Cache-Control", "no-store")
}

func setSecurityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" on the form's own POST, which the origin check refuses.
	hdr.Set("Referrer-Policy", "same-origin")
}

// render executes a page into a buffer first, so that a template failure
// becomes a plain 500 instead of half a page under a 200.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, t *template.Template, data any) {
	t = h.pageFor(r, t)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("rendering a hosted page failed", zap.Error(err))
		setPageHeaders(w.Header())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Internal Server Error\n"))
		return
	}
	hdr := w.Header()
	setPageHeaders(hdr)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is what templates/error.html shows.
type errorPage struct {
	DisplayName string
	Status      int
	Title       string
	Message     string
}

// errorJSON is the body of an error for clients that asked for JSON. Error
// is a stable code derived from the status ("not_found"), Message the text
// the page would show.
type errorJSON struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// RenderError answers with a page showing title and message under status, or
// with {"error": "not_found", "message": "..."} when the request's Accept
// header prefers application/json to text/html. Any headers already set on w
// (Allow, Set-Cookie) are kept. The gateway uses it for its own refusals so
// that they look like the rest of the pool's pages.
func (h *Handler) RenderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	h.renderError(w, r, status, errorCode(status), title, message)
}

// renderError is RenderError with the JSON error code given.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, code, title, message string) {
	w.Header().Add("Vary", "Accept")
	if prefersJSON(r.Header.Get("Accept")) {
		// The message is in the page's language too: the pages' scripts
		// (static/webauthn.js) show it; the code is what programs read.
		body, _ := json.Marshal(errorJSON{Error: code, Message: h.lang(r).T(message)})
		body = append(body, '\n')
		hdr := w.Header()
		setPageHeaders(hdr)
		hdr.Set("Content-Type", "application/json; charset=utf-8")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	l := h.lang(r)
	h.render(w, r, status, h.pages.error, errorPage{
		DisplayName: h.displayName,
		Status:      status,
		Title:       l.T(title),
		Message:     l.T(message),
	})
}

// errorCode makes a machine-readable code of a status: 404 -> "not_found".
func errorCode(status int) string {
	text := http.StatusText(status)
	if text == "" {
		return "error_" + strconv.Itoa(status)
	}
	var b strings.Builder
	for _, c := range strings.ToLower(text) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-':
			b.WriteByte('_')
		}
	}
	return b.String()
}

// prefersJSON reports whether an Accept header ranks application/json above
// text/html. On equal quality the more specific match wins, so a browser
// ("text/html, ..., */*;q=0.8") gets HTML and a script sending
// "application/json, */*" gets JSON.
func prefersJSON(accept string) bool {
	if accept == "" {
		return false
	}
	jq, js := acceptQuality(accept, "application", "json")
	hq, hs := acceptQuality(accept, "text", "html")
	return jq > 0 && (jq > hq || (jq == hq && js > hs))
}

// acceptQuality returns the quality accept gives typ/sub and how specific
// the range that matched was (2 exact, 1 "typ/*", 0 "*/*", -1 none). The
// most specific range decides, as RFC 9110 section 12.5.1 says.
func acceptQuality(accept, typ, sub string) (q float64, specificity int) {
	specificity = -1
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		t, s, _ := strings.Cut(mt, "/")
		var sp int
		switch {
		case t == typ && s == sub:
			sp = 2
		case t == typ && s == "*":
			sp = 1
		case t == "*" && s == "*":
			sp = 0
		default:
			continue
		}
		if sp <= specificity {
			continue
		}
		pq := 1.0
		if v, ok := params["q"]; ok {
			if pq, err = strconv.ParseFloat(v, 64); err != nil || pq < 0 || pq > 1 {
				pq = 0
			}
		}
		q, specificity = pq, sp
	}
	return q, specificity
}
