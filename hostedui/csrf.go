package hostedui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/securecookie"
)

// The forms are protected by a signed double submit: the cookie holds a
// random token signed with the pool's keys, the form holds the same token in
// the clear. A page on another site can make the browser send the cookie but
// cannot read it to fill in the form, and a sibling subdomain that can plant
// cookies cannot sign one.
const (
	csrfCookie = "gatehouse_csrf"
	csrfField  = "csrf"
	csrfLen    = 32
)

// csrfToken returns the token a valid CSRF cookie on r holds. Every cookie of
// that name is tried, so a stale or planted one sent first does no harm.
func (h *Handler) csrfToken(r *http.Request) ([]byte, bool) {
	for _, c := range h.cookiesNamed(r, csrfCookie) {
		var tok []byte
		if err := securecookie.DecodeMulti(csrfCookie, c.Value, &tok, h.codecs...); err == nil && len(tok) == csrfLen {
			return tok, true
		}
	}
	return nil, false
}

// issueCSRF returns the token to put in a form, reusing the one r's cookie
// holds so that several open tabs keep working, or setting a new cookie.
// When it cannot, it has answered r with an error page and returns false.
func (h *Handler) issueCSRF(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := h.csrfToken(r)
	if !ok {
		tok = make([]byte, csrfLen)
		rand.Read(tok) // never fails: crypto/rand aborts the program instead
		value, err := securecookie.EncodeMulti(csrfCookie, tok, h.codecs...)
		if err != nil {
			h.internalError(w, r, "issuing the CSRF cookie", err)
			return "", false
		}
		// A session cookie (no Max-Age): the codecs' own max age bounds
		// how long a signed token is accepted.
		h.setCookie(w, r, &http.Cookie{
			Name:     csrfCookie,
			Value:    value,
			Path:     PathPrefix,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		})
	}
	return base64.RawURLEncoding.EncodeToString(tok), true
}

// checkCSRFForm compares the form's token with the cookie's, in constant time.
func checkCSRFForm(cookieTok []byte, field string) bool {
	formTok, err := base64.RawURLEncoding.DecodeString(field)
	return err == nil && len(formTok) == csrfLen && subtle.ConstantTimeCompare(formTok, cookieTok) == 1
}

// sameOrigin reports whether r's Origin header, when present, is r's own
// origin. Browsers send Origin on every cross-site POST, so this refuses
// them before the token is even looked at. The site counts as HTTPS when the
// request came over TLS or cookies must be Secure (cookie_secure always,
// for a site behind a TLS-terminating proxy).
func (h *Handler) sameOrigin(r *http.Request) bool {
	values, present := r.Header["Origin"]
	if !present {
		return true
	}
	if len(values) != 1 {
		return false
	}
	scheme := "http"
	if r.TLS != nil || h.secure(r) {
		scheme = "https"
	}
	o, err := url.Parse(values[0])
	if err != nil || o.Scheme != scheme || o.Host == "" || o.User != nil ||
		(o.Path != "" && o.Path != "/") || o.RawQuery != "" || o.Fragment != "" {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(o.Host, scheme), withoutDefaultPort(r.Host, scheme))
}

// withoutDefaultPort drops ":80" from http and ":443" from https hosts, as
// browsers do when they serialize an origin.
func withoutDefaultPort(host, scheme string) string {
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		return host[:strings.LastIndexByte(host, ':')]
	}
	return host
}
