package oidcrp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

// Sessions starts a gateway session for a verified identity; the gateway
// (*middleware.Gateway) implements it.
type Sessions interface {
	StartIdentity(w http.ResponseWriter, r *http.Request, id *middleware.Identity) error
}

// exchangeTimeout bounds the token request and the userinfo request of a
// callback together.
const exchangeTimeout = 15 * time.Second

// ServeCallback finishes a sign-in at CallbackPath: it checks the flow
// cookie against the state, exchanges the code (with the PKCE verifier),
// verifies the ID token (signature, issuer, audience, expiry, nonce), starts
// the session and sends the browser back to the page it first asked for.
// Anything wrong ends on an error page, never in a redirect loop.
func (rp *RP) ServeCallback(w http.ResponseWriter, r *http.Request, sessions Sessions) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		rp.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
		return
	}
	q := r.URL.Query()
	f, err := rp.readFlow(w, r, q.Get("state"))
	if err != nil {
		rp.refuse(w, r, "flow", err)
		return
	}
	// RFC 9207: an issuer that names itself in the response must be the
	// one this flow was started with (no mix-up with another provider).
	if iss := q.Get("iss"); iss != "" && iss != rp.issuer {
		rp.refuse(w, r, "issuer", fmt.Errorf("response from issuer %q", clip(iss)))
		return
	}
	if code := q.Get("error"); code != "" {
		rp.issuerError(w, r, code, q.Get("error_description"))
		return
	}
	code := q.Get("code")
	if code == "" {
		rp.refuse(w, r, "code", errors.New("callback without a code"))
		return
	}
	if !rp.consumed.consume(f.State, f.Expires, rp.now().Unix()) {
		rp.refuse(w, r, "flow", errReplayed)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), exchangeTimeout)
	defer cancel()
	id, err := rp.exchange(ctx, f, code)
	if err != nil {
		rp.log.Warn("outside sign-in failed", zap.String("reason", "verification"), zap.String("issuer", rp.issuer), zap.Error(err))
		status, title, msg := http.StatusBadGateway, "Sign-in failed", "The identity provider's answer could not be verified. Go back to the page you wanted and try again."
		if errors.Is(err, ErrUnavailable) {
			status, title, msg = http.StatusServiceUnavailable, "Sign-in unavailable", "The identity provider cannot be reached right now. Please try again in a minute."
		}
		rp.renderError(w, r, status, title, msg)
		return
	}
	if err := sessions.StartIdentity(w, r, id); err != nil {
		rp.internalError(w, r, "starting the session", err)
		return
	}
	rp.log.Info("signed in", zap.String("issuer", rp.issuer), zap.String("sub", id.Subject), zap.String("email", id.Email))
	// Vetted when the flow began and sealed since; vetted again, so an open
	// redirect needs both checks to be wrong.
	rd, _ := rp.safeReturnTo(f.ReturnTo)
	redirect(w, rd)
}

// refuse answers a callback that does not belong to a live flow of this
// browser: expired, replayed, forged, or from another browser.
func (rp *RP) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	rp.log.Info("outside sign-in refused", zap.String("reason", reason), zap.Error(err))
	rp.renderError(w, r, http.StatusBadRequest, "Sign-in expired",
		"This sign-in took too long, was already finished, or was started in another browser. Go back to the page you wanted and sign in again.")
}

// issuerError shows what the issuer answered instead of a code. Only the
// error code is shown, and only when it is a plain token: the description
// is the issuer's (or an attacker's) free text, so it goes to the log.
func (rp *RP) issuerError(w http.ResponseWriter, r *http.Request, code, description string) {
	rp.log.Info("outside sign-in refused by the issuer", zap.String("issuer", rp.issuer),
		zap.String("error", clip(code)), zap.String("error_description", clip(description)))
	if !plainToken(code) {
		code = "unknown_error"
	}
	switch code {
	case "access_denied":
		rp.renderError(w, r, http.StatusForbidden, "Sign-in refused",
			"The identity provider did not sign you in (access_denied). Go back to the page you wanted to try again.")
	case "login_required", "consent_required", "interaction_required", "account_selection_required":
		rp.renderError(w, r, http.StatusUnauthorized, "Sign-in not completed",
			"The identity provider needs you to complete the sign-in ("+code+"). Go back to the page you wanted to try again.")
	case "temporarily_unavailable", "server_error":
		rp.renderError(w, r, http.StatusServiceUnavailable, "Sign-in unavailable",
			"The identity provider could not sign you in right now ("+code+"). Please try again in a minute.")
	default:
		rp.renderError(w, r, http.StatusBadGateway, "Sign-in failed",
			"The identity provider refused the sign-in request ("+code+"). If this persists, tell the site's administrator.")
	}
}

// exchange redeems the code and turns the verified ID token into an
// identity.
func (rp *RP) exchange(ctx context.Context, f *flow, code string) (*middleware.Identity, error) {
	tok, err := rp.oc.Exchange(ctx, f.RedirectURI, code, f.Verifier)
	if err != nil {
		return nil, err
	}
	c, err := rp.verifyIDToken(ctx, tok)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("the token response holds no id_token")
	}
	if subtle.ConstantTimeCompare([]byte(c.nonce), []byte(f.Nonce)) != 1 {
		return nil, errors.New("the ID token's nonce does not match the flow's")
	}
	if err := rp.completeFromUserInfo(ctx, tok, c); err != nil {
		return nil, err
	}
	return rp.identity(c, tok), nil
}

// plainToken reports whether s looks like an OAuth error code: 1 to 64
// lower-case letters, digits and underscores.
func plainToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// clip bounds what a client or issuer sent before it goes into a log line.
func clip(s string) string { return oidcclient.Clip(s) }
