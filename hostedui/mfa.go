package hostedui

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Paths of the second-factor step.
const (
	// MFAPath asks for a code after the password, and is where the gateway
	// sends a password-only session that a `require mfa` route refused
	// (step-up).
	MFAPath      = PathPrefix + "mfa"
	mfaSetupPath = PathPrefix + "mfa/setup"
)

type mfaPage struct {
	DisplayName string
	CSRF        string
	ReturnTo    string
	Challenge   string
	Email       string
	Error       string
	Notice      string
	StepUp      bool
	// Action is where the code goes: MFAPath, or mfaSetupPath while
	// turning email codes on.
	Action string
	// EmailSentTo is the (masked) address a code was mailed to; CanEmail
	// offers to mail one (again).
	EmailSentTo string
	CanEmail    bool
	// TextSentTo is the (masked) number a code was texted to; CanText
	// offers to text one (again).
	TextSentTo string
	CanText    bool
	Enrolling  bool
	// RememberDays offers to skip the second factor on this browser for
	// that many days; 0 does not.
	RememberDays int
	// Passkey offers the user's passkey for this site (webauthn.go);
	// PasskeyOnly says it is their only factor but recovery codes.
	Passkey, PasskeyOnly bool
	// ConfirmPassword asks a step-up without a factor for the current
	// password before the set-up (freshProof), in place of a code.
	ConfirmPassword bool
}

type mfaSetupPage struct {
	DisplayName string
	CSRF        string
	ReturnTo    string
	Challenge   string
	Email       string
	Error       string
	Secret      string
	QRCode      template.URL
	Required    bool
	CanEmail    bool
	CanText     bool
	// Passkeys offers a passkey instead of an app (not on the account
	// page, which has its own "Add a passkey").
	Passkeys bool
}

type recoveryCodesPage struct {
	DisplayName string
	Codes       []string
	Replaced    bool
	ContinueTo  string
}

// mfa serves MFAPath: GET is the step-up of a signed-in session, POST
// answers the second-factor page (a code, "email me a code", or the
// step-up's password).
func (h *Handler) mfa(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.stepUp(w, r)
	case http.MethodPost:
		h.mfaPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// stepUp asks a signed-in user for a second factor (or to set one up), so
// that a route with `require mfa` lets them in.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request) {
	rd, _ := SafeReturnTo(r.URL.Query().Get("rd"))
	if h.pool.MFA().Mode == pool.MFAOff {
		h.authError(w, r, atStepUp, "", rd, pool.ErrMFAUnavailable)
		return
	}
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	step, err := h.pool.StartStepUp(r.Context(), h.client(r), u, h.proved(r, u))
	h.next(w, r, atStepUp, u.Email, rd, step, err)
}

// proved reports whether r carries fresh proof of u other than a password
// typed with it: a strong re-authentication of this session (confirm.go).
func (h *Handler) proved(r *http.Request, u *store.User) bool {
	return h.reauthOf(r, u).strong()
}

func (h *Handler) mfaPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "two-step verification") {
		return
	}
	f := r.PostForm
	rd, _ := SafeReturnTo(f.Get("rd"))
	a := h.answer(r, f.Get("challenge"))
	at := atSecondFactor
	switch f.Get("action") {
	case "password":
		at, a.Name, a.Password = atPasswordVerifier, pool.ChallengePasswordVerifier, f.Get("password")
		if u, err := h.pool.User(r.Context(), a.SessionUser); err == nil {
			a.Proved = h.proved(r, u)
		}
	case "email":
		a.Name, a.Select = pool.ChallengeSoftwareTokenMFA, pool.ChallengeEmailOTP
	case "sms":
		a.Name, a.Select = pool.ChallengeSoftwareTokenMFA, pool.ChallengeSMSMFA
	default:
		a.Name, a.Code, a.RememberDevice = pool.ChallengeSoftwareTokenMFA, f.Get("code"), f.Get("remember") == "on"
	}
	step, err := h.pool.RespondToAuthChallenge(r.Context(), a)
	h.next(w, r, at, "", rd, step, err)
}

// answer is an Answer to the challenge session of a request's form.
func (h *Handler) answer(r *http.Request, session string) pool.Answer {
	a := pool.Answer{Session: session, Client: h.client(r)}
	a.SessionUser, _ = h.signedIn(r)
	return a
}

// lockedOut answers a sign-in of a login with too many recent failures.
func (h *Handler) lockedOut(w http.ResponseWriter, r *http.Request, email string, le *pool.LockedOutError) {
	h.signInFailed(r, "locked_out", email)
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(le.RetryAfter), 10))
	h.RenderError(w, r, http.StatusTooManyRequests, "Too many attempts",
		h.lang(r).T("There were too many failed sign-ins for this account. Wait {{.Wait}} and try again, or reset your password.", "Wait", humanWait(h.lang(r), le.RetryAfter)))
}

// mfaSetup answers the set-up page: the first code of a new app or of
// email codes, or "use email codes instead".
func (h *Handler) mfaSetup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// A set-up starts from sign-in, step-up or the account page.
		h.methodNotAllowed(w, r, "POST")
		return
	}
	if !h.readForm(w, r, "authenticator setup") {
		return
	}
	f := r.PostForm
	rd, _ := SafeReturnTo(f.Get("rd"))
	a := h.answer(r, f.Get("challenge"))
	a.Name, a.Code = pool.ChallengeMFASetup, f.Get("code")
	switch f.Get("action") {
	case "email":
		a.Select = pool.ChallengeEmailOTP
	case "sms":
		a.Select = pool.ChallengeSMSMFA
	}
	step, err := h.pool.RespondToAuthChallenge(r.Context(), a)
	h.next(w, r, atSetup, "", rd, step, err)
}

// signedIn returns the user id of this site's session, if any.
func (h *Handler) signedIn(r *http.Request) (string, bool) {
	s, ok := h.session(r)
	if !ok {
		return "", false
	}
	return s.UserID, true
}

// stepUpURL is where a password-only session goes for its second factor.
func StepUpURL(returnTo string) string {
	return MFAPath + "?rd=" + url.QueryEscape(returnTo)
}
