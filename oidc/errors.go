package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/store"
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
	errUnavailable          = "temporarily_unavailable"
)

// retryAfter is the Retry-After, in seconds, of an answer given while the
// store is unavailable: about a store timeout, so a client that obeys it
// neither hammers a struggling database nor waits long after it is back.
const retryAfter = "5"

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

// serverError is the answer to a failure that is not the client's: 503
// temporarily_unavailable (RFC 6749 §4.1.2.1) when the store could not
// answer in time, so that clients retry instead of reporting a fault;
// 500 server_error otherwise.
func serverError(err error) *oauthError {
	if errors.Is(err, store.ErrUnavailable) {
		return &oauthError{code: errUnavailable, status: http.StatusServiceUnavailable,
			desc: "the service is briefly unavailable; try again in a few seconds"}
	}
	return newError(errServerError, "the server could not complete the request")
}

// failurePage answers a browser for a failure that is not its own: 503
// with Retry-After and a page saying to try again when the store could
// not answer in time, 500 otherwise.
func (p *Provider) failurePage(w http.ResponseWriter, r *http.Request, err error, title, msg string) {
	if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", retryAfter)
		p.errorPage(w, r, http.StatusServiceUnavailable, "Try again in a moment",
			"The service is briefly unavailable. Please try again in a few seconds.")
		return
	}
	p.errorPage(w, r, http.StatusInternalServerError, title, msg)
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
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
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
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	body := map[string]string{"error_description": e.desc}
	if e.code != "" {
		body["error"] = e.code
	}
	writeJSON(w, e.status, body)
}
