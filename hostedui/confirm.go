package hostedui

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Confirming with a passkey: the account page asks for the current
// password before each change that could hand the account to someone else
// or lock its owner out (email, password, factors, recovery codes,
// deletion). A user with a passkey for the site may instead confirm once
// with it, user-verified, at
//
//	POST /_gatehouse/webauthn/confirm/{begin,finish}
//
// after which, for confirmTTL, those forms ask for no password. The proof
// is a sealed cookie bound to the user and to the session that made it,
// so it ends with that session (sign-out, a password change) and is worth
// nothing to another.
const (
	confirmCookie = "gatehouse_confirmed"
	// confirmTTL is how long a passkey confirmation stands in for the
	// password: a few changes' worth, not a second session.
	confirmTTL = 5 * time.Minute
)

// passkeyConfirmation is the sealed content of confirmCookie.
type passkeyConfirmation struct {
	UserID    string `json:"u"`
	SessionID string `json:"s"`
	// Until is when it stops standing in for the password (Unix seconds).
	Until int64 `json:"t"`
}

// confirmedUntil returns until when u's passkey confirmation carried by r
// stands, at now: zero when there is none for u's current session.
func (h *Handler) confirmedUntil(r *http.Request, u *store.User, now time.Time) time.Time {
	s, ok := h.session(r)
	if !ok || s.UserID != u.ID {
		return time.Time{}
	}
	for _, ck := range h.cookiesNamed(r, confirmCookie) {
		var c passkeyConfirmation
		if !h.openJSON(confirmCookie, ck.Value, &c) || c.UserID != u.ID || c.SessionID != s.ID || s.ID == "" {
			continue
		}
		if until := time.Unix(c.Until, 0); now.Before(until) {
			return until
		}
	}
	return time.Time{}
}

// forgetConfirmation clears the confirmation cookie r carries, at
// sign-out: bound to the session it is void anyway, but the browser
// need not keep it.
func (h *Handler) forgetConfirmation(w http.ResponseWriter, r *http.Request) {
	if len(h.cookiesNamed(r, confirmCookie)) == 0 {
		return
	}
	h.setStrictCookie(w, r, confirmCookie, "", PathPrefix, -1)
}

// confirmation is what a form of the account page shows for u: the
// password it carries, and whether a passkey confirmation stands.
func (h *Handler) confirmation(r *http.Request, u *store.User, password string) pool.Confirmation {
	return pool.Confirmation{Password: password, Passkey: !h.confirmedUntil(r, u, time.Now()).IsZero()}
}

// msgNotConfirmed says why a change was refused for want of a
// confirmation: a wrong password, or none (a passkey's confirmation may
// have run out while the page was open).
func msgNotConfirmed(password string) string {
	if password == "" {
		return "Enter your current password, or confirm with a passkey."
	}
	return "Your current password is not right."
}

func (h *Handler) confirmBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty) {
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	opts, c, err := h.pool.BeginPasskeyConfirmation(r.Context(), u, rp)
	if err != nil {
		h.passkeyError(w, r, u.Email, "confirm", err)
		return
	}
	h.begun(w, r, opts, c)
}

// confirmFinish checks the passkey and, if it is the user's, sets the
// confirmation cookie and sends the script back to the account page.
func (h *Handler) confirmFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	c, ok := h.takeCeremony(w, r)
	u, signedIn := h.accountUser(w, r)
	if !signedIn {
		return
	}
	s, _ := h.session(r)
	if !ok {
		h.passkeyError(w, r, u.Email, "confirm", pool.ErrChallengeExpired)
		return
	}
	if err := h.pool.FinishPasskeyConfirmation(r.Context(), u, rp, c, req.Credential); err != nil {
		h.passkeyError(w, r, u.Email, "confirm", err)
		return
	}
	v, err := h.sealJSON(confirmCookie, passkeyConfirmation{UserID: u.ID, SessionID: s.ID, Until: time.Now().Add(confirmTTL).Unix()})
	if err != nil {
		h.internalError(w, r, "sealing a passkey confirmation", err)
		return
	}
	h.setStrictCookie(w, r, confirmCookie, v, PathPrefix, int(confirmTTL/time.Second))
	h.log.Info("confirmed with a passkey", zap.String("user_id", u.ID), zap.String("rp_id", rp.ID),
		zap.String("remote_ip", h.clientIP(r)))
	writeJSON(w, webauthnFinished{Redirect: AccountPath})
}
