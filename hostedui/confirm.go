package hostedui

import (
	"errors"
	"net/http"
	"strconv"
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
		// Refused passkeys count in the login's lockout; a lock met
		// here signs the session out, as a password's does.
		if h.refusedProof(w, r, u, err) {
			return
		}
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

// freshProof is the one check before anything that adds or removes a way
// to sign in as u (an authenticator app, codes by email, a passkey) or
// makes recovery codes, wherever it starts: the account page, step-up, the
// passkey endpoints. A session alone is never proof, since a session
// cookie is all a thief who copied it holds. What passes is proof from
// this sign-in, made moments ago:
//
//   - a passkey confirmation standing for r's session (confirmTTL), or
//   - the current password, typed with this request and checked now; it
//     counts in the login's lockout as a sign-in's does, or
//   - for a user who has no password here (EXTERNAL_PROVIDER: created by
//     a sign-in at an outside provider), the sign-in of r's session, made
//     within fedProofTTL (federation_account.go).
//
// The third kind, the sign-in itself, needs no call: the enrolment that
// `mfa required` asks for right after the password (the pool's sign-in
// machine, pool/signin.go) is made in that request, and the steps that
// finish an enrolment carry a sealed challenge or ceremony that only a
// passed check (or the sign-in) hands out, for minutes.
//
// It returns nil, pool.ErrInvalidCredentials (no proof, or a wrong
// password), a *pool.LockedOutError (the caller signs out:
// lockedOutSignedOut) or the store's error.
func (h *Handler) freshProof(r *http.Request, u *store.User, password string) error {
	if !h.confirmedUntil(r, u, time.Now()).IsZero() || !h.signedInUntil(r, u, time.Now()).IsZero() {
		return nil
	}
	if password == "" {
		return pool.ErrInvalidCredentials
	}
	_, err := h.pool.VerifyPassword(r.Context(), u.ID, password)
	return err
}

// lockedOutSignedOut answers a password check of a signed-in page that the
// login's lockout refused, or whose failure started the lock: the password
// was being guessed through the session, so the session ends (revoked, so
// that copies of its cookie die too, and cleared here), and the page says
// why. The lock itself is the pool's, shared with sign-in, and audited
// there (locked_out).
func (h *Handler) lockedOutSignedOut(w http.ResponseWriter, r *http.Request, u *store.User, le *pool.LockedOutError) {
	if err := h.sessions.End(w, r); err != nil {
		h.log.Error("ending a locked-out session failed", zap.String("user_id", u.ID), zap.Error(err))
	}
	h.forgetConfirmation(w, r)
	h.log.Warn("signed out: too many wrong passwords", zap.String("user_id", u.ID),
		zap.String("remote_ip", h.clientIP(r)))
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(le.RetryAfter), 10))
	h.RenderError(w, r, http.StatusTooManyRequests, "Too many attempts",
		h.lang(r).T("There were too many wrong passwords for this account, so you were signed out. Wait {{.Wait}} and sign in again, or reset your password.",
			"Wait", humanWait(h.lang(r), le.RetryAfter)))
}

// refusedProof answers a confirmation that the pool refused with a lock
// (true), as lockedOutSignedOut; any other error is the caller's to show.
func (h *Handler) refusedProof(w http.ResponseWriter, r *http.Request, u *store.User, err error) bool {
	le, ok := errors.AsType[*pool.LockedOutError](err)
	if ok {
		h.lockedOutSignedOut(w, r, u, le)
	}
	return ok
}
