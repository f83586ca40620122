package hostedui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Re-authentication ("confirm it's you"). A session alone never makes a
// sensitive change to its account (the email address, the password, a
// factor or passkey added or removed, recovery codes, sign-out of every
// device, deletion, a sign-in method linked or unlinked): a session cookie
// is all that a thief who copied it holds. The user proves presence once
// at AccountConfirmPath (reauth.go), or with a passkey at
//
//	POST /_gatehouse/webauthn/confirm/{begin,finish}
//
// and for the pool's reauth window (pool.AccountConfig.ReauthWindow,
// default 5 minutes) those changes ask for nothing more. The proof is a
// sealed cookie naming the user, the session that made it, when, and how:
// it is worth nothing to another session (sign-out, a password change and
// a new sign-in all make another), and cannot be made without the codecs.
//
// What the proof is matters: adding a way to sign in (a factor, a passkey,
// email or SMS codes, recovery codes, a linked provider) and changing the
// password need the password or a passkey (strong); the rest takes a
// second factor's code as well.
const confirmCookie = "gatehouse_confirmed"

// How a user re-authenticated, as recorded in the cookie and the audit
// trail (pool.AuditReauthenticated).
const (
	reauthPassword     = "password"
	reauthPasskey      = "passkey"
	reauthOTP          = "otp"           // an app's, a mailed or a texted code
	reauthRecoveryCode = "recovery_code" // one of the user's recovery codes
	// reauthSignIn: a user without a password here (EXTERNAL_PROVIDER)
	// whose session signed in within the window (signedInUntil).
	reauthSignIn = "sign_in"
)

// reauthRecord is the sealed content of confirmCookie.
type reauthRecord struct {
	UserID    string `json:"u"`
	SessionID string `json:"s"`
	// At is when the user proved it was them (Unix seconds, the handler's
	// clock); Method how (reauth* above).
	At     int64  `json:"a"`
	Method string `json:"m"`
}

// reauth is a re-authentication standing for a request: Method is ""
// when there is none.
type reauth struct {
	Method string
	Until  time.Time
}

func (a reauth) ok() bool { return a.Method != "" }

// strong reports whether a is proof enough to add a way to sign in or to
// change the password.
func (a reauth) strong() bool {
	switch a.Method {
	case reauthPassword, reauthPasskey, reauthSignIn:
		return true
	}
	return false
}

// reauthWindow is how long a re-authentication stands.
func (h *Handler) reauthWindow() time.Duration {
	if w := h.pool.Accounts().ReauthWindow; w > 0 {
		return w
	}
	return pool.DefaultReauthWindow
}

// reauthOf returns the strongest re-authentication of u that r carries
// for its session, at the handler's clock.
func (h *Handler) reauthOf(r *http.Request, u *store.User) reauth {
	now := h.now()
	var best reauth
	if until := h.signedInUntil(r, u, now); !until.IsZero() {
		best = reauth{Method: reauthSignIn, Until: until}
	}
	s, ok := h.session(r)
	if !ok || s.UserID != u.ID || s.ID == "" {
		return best
	}
	for _, ck := range h.cookiesNamed(r, confirmCookie) {
		var c reauthRecord
		if !h.openJSON(confirmCookie, ck.Value, &c) || c.UserID != u.ID || c.SessionID != s.ID {
			continue
		}
		a := reauth{Method: c.Method, Until: time.Unix(c.At, 0).Add(h.reauthWindow())}
		switch a.Method {
		case reauthPassword, reauthPasskey, reauthOTP, reauthRecoveryCode:
		default:
			continue // a record of an earlier format, or none
		}
		if !now.Before(a.Until) || time.Unix(c.At, 0).After(now.Add(time.Minute)) {
			continue
		}
		if !best.ok() || (a.strong() && !best.strong()) || (a.strong() == best.strong() && a.Until.After(best.Until)) {
			best = a
		}
	}
	return best
}

// setReauth records that u, signed in with r's session, proved it was
// them by method just now: the cookie, the audit trail and the log.
func (h *Handler) setReauth(w http.ResponseWriter, r *http.Request, u *store.User, method string) error {
	s, ok := h.session(r)
	if !ok || s.UserID != u.ID || s.ID == "" {
		return errors.New("no session to bind the re-authentication to")
	}
	v, err := h.sealJSON(confirmCookie, reauthRecord{UserID: u.ID, SessionID: s.ID, At: h.now().Unix(), Method: method})
	if err != nil {
		return err
	}
	h.setStrictCookie(w, r, confirmCookie, v, PathPrefix, int(h.reauthWindow()/time.Second))
	h.pool.RecordReauthentication(r.Context(), u, method)
	h.log.Info("confirmed it's them", zap.String("user_id", u.ID), zap.String("method", method),
		zap.String("remote_ip", h.clientIP(r)))
	return nil
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

// need is what proof a change asks for.
type need int

const (
	needAny    need = iota + 1 // any re-authentication, a second factor's included
	needStrong                 // the password or a passkey
)

// errReauthNeeded: no proof stands for the change; the caller sends the
// browser to the confirm step (toConfirm).
var errReauthNeeded = errors.New("hostedui: confirm it's you first")

// proof returns what a sensitive change of u asked with r stands on: a
// password typed with the form (older clients post one; the caller has
// it checked, by the pool or verifyTyped, counting in the lockout), or
// the re-authentication standing if it is enough for n. Otherwise
// errReauthNeeded.
func (h *Handler) proof(r *http.Request, u *store.User, password string, n need) (pool.Confirmation, error) {
	if password != "" {
		return pool.Confirmation{Password: password}, nil
	}
	if a := h.reauthOf(r, u); a.ok() && (n == needAny || a.strong()) {
		return pool.Confirmation{Reauth: a.Method}, nil
	}
	return pool.Confirmation{}, errReauthNeeded
}

// verifyTyped checks the password c carries, if any: nil, or the pool's
// ErrInvalidCredentials or *LockedOutError.
func (h *Handler) verifyTyped(r *http.Request, u *store.User, c pool.Confirmation) error {
	if c.Password == "" {
		return nil
	}
	_, err := h.pool.VerifyPassword(r.Context(), u.ID, c.Password)
	return err
}

// freshProof is the one check before anything that adds a way to sign in
// as u outside the account page's forms: a passkey's registration, and
// the step-up's set-up. It returns nil when a strong re-authentication
// stands or the password typed with the request is right, else
// pool.ErrInvalidCredentials, a *pool.LockedOutError (the caller signs
// out: refusedProof) or the store's error.
//
// The sign-in itself needs no call: the enrolment that `mfa required`
// asks for right after the password (pool/signin.go) is made in that
// request, and the steps that finish an enrolment carry a sealed challenge
// or ceremony that only a passed check (or the sign-in) hands out.
func (h *Handler) freshProof(r *http.Request, u *store.User, password string) error {
	c, err := h.proof(r, u, password, needStrong)
	if err != nil {
		return pool.ErrInvalidCredentials
	}
	return h.verifyTyped(r, u, c)
}

// safeNext returns raw when it is an account page of this site to come
// back to after the confirm step, else AccountPath: the step sends nobody
// anywhere else, so it is no open redirect, not even within the site.
func safeNext(raw string) string {
	s, ok := SafeReturnTo(raw)
	if !ok || len(s) < len(AccountPath) || s[:len(AccountPath)] != AccountPath {
		return AccountPath
	}
	if rest := s[len(AccountPath):]; rest != "" && rest[0] != '?' && rest[0] != '#' {
		return AccountPath
	}
	return s
}

// confirmURL is the confirm step's address, coming back to next; strict
// says the change needs the password or a passkey, retry that a change
// was refused for want of proof.
func confirmURL(next string, n need, retry bool) string {
	q := url.Values{"next": {safeNext(next)}}
	if n == needStrong {
		q.Set("strict", "1")
	}
	if retry {
		q.Set("retry", "1")
	}
	return AccountConfirmPath + "?" + q.Encode()
}

// toConfirm answers a sensitive change asked without the proof it needs:
// to the confirm step, and back to the account page's section after it.
// Nothing was changed; the page shows its form again.
func (h *Handler) toConfirm(w http.ResponseWriter, r *http.Request, u *store.User, n need, section string) {
	h.log.Info("account change refused: confirm it's you first", zap.String("user_id", u.ID),
		zap.Bool("strict", n == needStrong), zap.String("remote_ip", h.clientIP(r)))
	next := AccountPath
	if section != "" {
		next += "#" + section
	}
	seeOther(w, confirmURL(next, n, true))
}

// msgNotConfirmed says why a change was refused for a password typed
// with it.
func msgNotConfirmed(password string) string {
	if password == "" {
		return "Confirm it's you first."
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

// confirmFinish checks the passkey and, if it is the user's, records a
// re-authentication by passkey and sends the script back to the account
// page it came for (rd, an account page only: safeNext).
func (h *Handler) confirmFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	c, ok := h.takeCeremony(w, r)
	u, signedIn := h.accountUser(w, r)
	if !signedIn {
		return
	}
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
	if err := h.setReauth(w, r, u, reauthPasskey); err != nil {
		h.internalError(w, r, "sealing a passkey confirmation", err)
		return
	}
	writeJSON(w, webauthnFinished{Redirect: safeNext(req.ReturnTo)})
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
