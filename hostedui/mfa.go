package hostedui

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

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

// The second step of a sign-in carries a signed challenge, as the
// new-password step does: whose password was just proved (and which
// password, so the step dies with it), until when, and, while enrolling,
// which factor is being set up. Nothing of it is kept on the server.
const (
	mfaChallengeName = "gatehouse_mfa"
	mfaChallengeTTL  = 5 * time.Minute
)

// Where an enrolment was started from, and so where it leads.
const (
	fromSignIn  = "signin"  // then a session starts
	fromAccount = "account" // the user is signed in already
	fromStepUp  = "stepup"  // signed in; a session with a second factor starts
)

type mfaChallenge struct {
	UserID      string `json:"u"`
	Fingerprint string `json:"f"`
	Expires     int64  `json:"e"`
	// Factor is the factor being enrolled; empty when asking for a code.
	Factor string `json:"k,omitempty"`
	From   string `json:"o"`
}

type mfaPage struct {
	DisplayName string
	CSRF        string
	ReturnTo    string
	Challenge   string
	Email       string
	Error       string
	StepUp      bool
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
}

type recoveryCodesPage struct {
	DisplayName string
	Codes       []string
	Replaced    bool
	ContinueTo  string
}

// afterPassword is every password sign-in's last step: a session for
// users who need nothing more, else the second factor or its enrolment.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, u *store.User, rd string) {
	hasFactor, enrol, err := h.pool.NeedsMFA(r.Context(), u)
	if err != nil {
		h.internalError(w, r, "reading the user's factors", err)
		return
	}
	switch {
	case hasFactor:
		h.renderMFA(w, r, http.StatusOK, u, rd, fromSignIn, "")
	case enrol:
		h.startEnrolment(w, r, u, rd, fromSignIn, "")
	default:
		if err := h.sessions.Start(w, r, u, []string{pool.AMRPassword}); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		h.log.Info("signed in", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
		seeOther(w, rd)
	}
}

func (h *Handler) sealChallenge(c mfaChallenge) (string, error) {
	return securecookie.EncodeMulti(mfaChallengeName, c, h.codecs...)
}

// openChallenge decodes a step's challenge and the user it names, or
// answers that the step must start again.
func (h *Handler) openChallenge(w http.ResponseWriter, r *http.Request) (mfaChallenge, *store.User, bool) {
	var c mfaChallenge
	err := securecookie.DecodeMulti(mfaChallengeName, r.PostForm.Get("challenge"), &c, h.codecs...)
	if err == nil && time.Now().Unix() > c.Expires {
		err = pool.ErrChallengeExpired
	}
	var u *store.User
	if err == nil {
		u, err = h.pool.User(r.Context(), c.UserID)
		if err == nil && (!u.Enabled || pool.PasswordFingerprint(u) != c.Fingerprint) {
			err = pool.ErrChallengeExpired
		}
	}
	if errors.Is(err, pool.ErrUserNotFound) || errors.Is(err, pool.ErrChallengeExpired) || errors.Is(err, securecookie.ErrMacInvalid) || (err != nil && isDecodeError(err)) {
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
		return c, nil, false
	}
	if err != nil {
		h.internalError(w, r, "reading the user", err)
		return c, nil, false
	}
	return c, u, true
}

func isDecodeError(err error) bool {
	var e securecookie.Error
	return errors.As(err, &e) && e.IsDecode()
}

func (h *Handler) renderMFA(w http.ResponseWriter, r *http.Request, status int, u *store.User, rd, from, msg string) {
	tok, err := h.issueCSRF(w, r)
	if err != nil {
		h.internalError(w, r, "issuing the CSRF cookie", err)
		return
	}
	c, err := h.sealChallenge(mfaChallenge{
		UserID: u.ID, Fingerprint: pool.PasswordFingerprint(u), Expires: time.Now().Add(mfaChallengeTTL).Unix(), From: from,
	})
	if err != nil {
		h.internalError(w, r, "signing the second step", err)
		return
	}
	h.render(w, status, h.pages.mfa, mfaPage{
		DisplayName: h.displayName, CSRF: tok, ReturnTo: rd, Challenge: c, Email: u.Email, Error: msg,
		StepUp: from == fromStepUp,
	})
}

// mfa serves MFAPath: GET is the step-up of a signed-in session, POST
// checks the code.
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

// stepUp asks a signed-in user for a second factor (or to enrol one), so
// that a route with `require mfa` lets them in.
func (h *Handler) stepUp(w http.ResponseWriter, r *http.Request) {
	rd, _ := SafeReturnTo(r.URL.Query().Get("rd"))
	if h.pool.MFA().Mode == pool.MFAOff {
		h.RenderError(w, r, http.StatusForbidden, "Two-step verification is off",
			"This page needs two-step verification, which this site does not offer.")
		return
	}
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	hasFactor, _, err := h.pool.NeedsMFA(r.Context(), u)
	if err != nil {
		h.internalError(w, r, "reading the user's factors", err)
		return
	}
	if !hasFactor {
		h.startEnrolment(w, r, u, rd, fromStepUp, "")
		return
	}
	h.renderMFA(w, r, http.StatusOK, u, rd, fromStepUp, "")
}

func (h *Handler) mfaPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "two-step verification") {
		return
	}
	rd, _ := SafeReturnTo(r.PostForm.Get("rd"))
	c, u, ok := h.openChallenge(w, r)
	if !ok {
		return
	}
	if c.Factor != "" {
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
		return
	}
	amr, err := h.pool.VerifyMFA(r.Context(), u, r.PostForm.Get("code"))
	if le, ok := errors.AsType[*pool.LockedOutError](err); ok {
		h.lockedOut(w, r, u.Email, le)
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, pool.ErrWrongCode):
		h.signInFailed(r, "wrong_mfa_code", u.Email)
		h.renderMFA(w, r, http.StatusUnauthorized, u, rd, c.From, "That code is not right, or was used already. Try the next code your app shows.")
		return
	default:
		h.internalError(w, r, "checking the code", err)
		return
	}
	if err := h.sessions.Start(w, r, u, amr); err != nil {
		h.internalError(w, r, "starting the session", err)
		return
	}
	h.log.Info("signed in with a second factor", zap.String("user_id", u.ID), zap.Strings("amr", amr),
		zap.String("remote_ip", h.clientIP(r)))
	seeOther(w, rd)
}

// lockedOut answers a sign-in of a login with too many recent failures.
func (h *Handler) lockedOut(w http.ResponseWriter, r *http.Request, email string, le *pool.LockedOutError) {
	h.signInFailed(r, "locked_out", email)
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(le.RetryAfter), 10))
	h.RenderError(w, r, http.StatusTooManyRequests, "Too many attempts",
		"There were too many failed sign-ins for this account. Wait "+humanWait(le.RetryAfter)+" and try again, or reset your password.")
}

// startEnrolment makes a new authenticator-app factor for u and shows its
// QR code.
func (h *Handler) startEnrolment(w http.ResponseWriter, r *http.Request, u *store.User, rd, from, name string) {
	e, err := h.pool.StartTOTP(r.Context(), u, name)
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok {
		h.renderAccount(w, r, http.StatusUnprocessableEntity, u, accountPage{MFAError: "Name: " + fe["name"]}, nil, nil)
		return
	}
	if errors.Is(err, pool.ErrTooManyFactors) {
		h.RenderError(w, r, http.StatusConflict, "Too many authenticators", sentence(err.Error()))
		return
	}
	if err != nil {
		h.internalError(w, r, "starting an enrolment", err)
		return
	}
	h.renderSetup(w, r, http.StatusOK, u, e.FactorID, e.Secret, e.QRCodePNG, rd, from, "")
}

func (h *Handler) renderSetup(w http.ResponseWriter, r *http.Request, status int, u *store.User, factorID, secret string, qr []byte, rd, from, msg string) {
	tok, err := h.issueCSRF(w, r)
	if err != nil {
		h.internalError(w, r, "issuing the CSRF cookie", err)
		return
	}
	c, err := h.sealChallenge(mfaChallenge{
		UserID: u.ID, Fingerprint: pool.PasswordFingerprint(u), Expires: time.Now().Add(mfaChallengeTTL * 2).Unix(),
		Factor: factorID, From: from,
	})
	if err != nil {
		h.internalError(w, r, "signing the enrolment", err)
		return
	}
	h.render(w, status, h.pages.mfaSetup, mfaSetupPage{
		DisplayName: h.displayName, CSRF: tok, ReturnTo: rd, Challenge: c, Email: u.Email, Error: msg,
		Secret: secret, QRCode: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(qr)),
		Required: from == fromSignIn,
	})
}

// mfaSetup checks the first code of an enrolment.
func (h *Handler) mfaSetup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// An enrolment starts from sign-in, step-up or the account page.
		h.methodNotAllowed(w, r, "POST")
		return
	}
	if !h.readForm(w, r, "authenticator setup") {
		return
	}
	rd, _ := SafeReturnTo(r.PostForm.Get("rd"))
	c, u, ok := h.openChallenge(w, r)
	if !ok {
		return
	}
	if c.Factor == "" {
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
		return
	}
	if c.From != fromSignIn {
		// Only the signed-in user may finish an enrolment made for them.
		s, ok := h.signedIn(r)
		if !ok || s != u.ID {
			h.RenderError(w, r, http.StatusUnauthorized, "Sign-in required", "Sign in again to set up an authenticator app.")
			return
		}
	}
	codes, err := h.pool.ConfirmTOTP(r.Context(), u.ID, c.Factor, r.PostForm.Get("code"))
	switch {
	case err == nil:
	case errors.Is(err, pool.ErrWrongCode):
		e, ferr := h.enrolmentFor(r, u, c.Factor)
		if ferr != nil {
			h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
			return
		}
		h.renderSetup(w, r, http.StatusUnprocessableEntity, u, c.Factor, e.Secret, e.QRCodePNG, rd, c.From,
			"That code is not right. Check the app's clock and enter the code it shows now.")
		return
	case errors.Is(err, pool.ErrChallengeExpired):
		h.RenderError(w, r, http.StatusBadRequest, "Start again", "This setup has expired or was finished already. Start again.")
		return
	default:
		h.internalError(w, r, "confirming the authenticator", err)
		return
	}
	h.log.Info("authenticator app enrolled", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
	next := AccountPath + "?notice=mfa_added"
	if c.From != fromAccount {
		// The code just typed proved the factor: this sign-in has two.
		if err := h.sessions.Start(w, r, u, []string{pool.AMRPassword, pool.AMROTP, pool.AMRMFA}); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		next = rd
	}
	if len(codes) == 0 {
		seeOther(w, next)
		return
	}
	h.render(w, http.StatusOK, h.pages.recoveryCodes, recoveryCodesPage{
		DisplayName: h.displayName, Codes: codes, ContinueTo: next,
	})
}

// enrolmentFor shows an unfinished enrolment again after a wrong code.
func (h *Handler) enrolmentFor(r *http.Request, u *store.User, factorID string) (*pool.TOTPEnrolment, error) {
	return h.pool.PendingTOTP(r.Context(), u, factorID)
}

// signedIn returns the user id of this site's session, if any.
func (h *Handler) signedIn(r *http.Request) (string, bool) {
	sr, ok := h.sessions.(sessionReader)
	if !ok {
		return "", false
	}
	s, ok := sr.Authenticated(r)
	if !ok {
		return "", false
	}
	return s.UserID, true
}

// stepUpURL is where a password-only session goes for its second factor.
func StepUpURL(returnTo string) string {
	return MFAPath + "?rd=" + url.QueryEscape(returnTo)
}
