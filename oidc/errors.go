package oidc

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6,
// RFC 6750 §3.1 and RFC 7009 §2.2.1.
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errInvalidGrant         = "invalid_grant"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errUnsupportedResponse  = "unsupported_response_type"
	errInvalidScope         = "invalid_scope"
	errServerError          = "server_error"
	errLoginRequired        = "login_required"
	errRequestNotSupported  = "request_not_supported"
	errRequestURINotSupp    = "request_uri_not_supported"
	errInvalidToken         = "invalid_token"
	errInsufficientScope    = "insufficient_scope"
	errUnsupportedTokenType = "unsupported_token_type"
)

// oauthError is one error answer: the code, a description for the
// developer (never secret), and for JSON answers the HTTP status.
type oauthError struct {
	code   string
	desc   string
	status int
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func newError(code, desc string) *oauthError {
	status := http.StatusBadRequest
	switch code {
	case errInvalidClient, errInvalidToken:
		status = http.StatusUnauthorized
	case errInsufficientScope:
		status = http.StatusForbidden
	case errServerError:
		status = http.StatusInternalServerError
	}
	return &oauthError{code: code, desc: desc, status: status}
}

// noStore marks a response that carries tokens or secrets (RFC 6749 §5.1).
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeJSON answers v as JSON under status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeTokenError answers an error of the token or revocation endpoint
// (RFC 6749 §5.2). A 401 names the Basic scheme the client may use, as RFC
// 9110 requires of every 401.
func (p *Provider) writeTokenError(w http.ResponseWriter, e *oauthError) {
	noStore(w.Header())
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.realm+`", charset="UTF-8"`)
	}
	body := map[string]string{"error": e.code}
	if e.desc != "" {
		body["error_description"] = e.desc
	}
	writeJSON(w, e.status, body)
}

// writeBearerError answers an error of a resource (the userinfo endpoint)
// as RFC 6750 §3 does, in the WWW-Authenticate header and the body.
func (p *Provider) writeBearerError(w http.ResponseWriter, e *oauthError) {
	noStore(w.Header())
	v := `Bearer realm="` + p.realm + `"`
	if e.code != "" {
		v += `, error="` + e.code + `", error_description="` + strings.ReplaceAll(e.desc, `"`, `'`) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	body := map[string]string{"error_description": e.desc}
	if e.code != "" {
		body["error"] = e.code
	}
	writeJSON(w, e.status, body)
}
