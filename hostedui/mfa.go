package hostedui

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	Notice      string
	StepUp      bool
	// Action is where the code goes: MFAPath, or mfaSetupPath while
	// turning email codes on.
	Action string
	// EmailSentTo is the (masked) address a code was mailed to; CanEmail
	// offers to mail one (again).
	EmailSentTo string
	CanEmail    bool
	Enrolling   bool
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

// emailFactor marks a challenge that turns email codes on, in place of
// the id of an app being set up.
const emailFactor = "email"

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

// afterPassword is every password sign-in's last step: a session for
// users who need nothing more, else the second factor or its enrolment.
func (h *Handler) afterPassword(w http.ResponseWriter, r *http.Request, u *store.User, rd string) {
	hasFactor, enrol, err := h.pool.NeedsMFA(r.Context(), u)
	if err != nil {
		h.internalError(w, r, "reading the user's factors", err)
		return
	}
	switch {
	case hasFactor && h.remembered(r, u):
		if err := h.sessions.Start(w, r, u, amrRemembered); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		h.pool.SignedIn(r.Context(), u, amrRemembered)
		h.log.Info("signed in on a remembered device", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
		h.continueTo(w, r, "Signed in", rd)
	case hasFactor:
		h.askSecondFactor(w, r, u, rd, fromSignIn)
	case enrol:
		h.startEnrolment(w, r, u, rd, fromSignIn, "")
	default:
		if err := h.sessions.Start(w, r, u, []string{pool.AMRPassword}); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		h.pool.SignedIn(r.Context(), u, []string{pool.AMRPassword})
		h.log.Info("signed in", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
		h.continueTo(w, r, "Signed in", rd)
	}
}

func (h *Handler) sealChallenge(c mfaChallenge) (string, error) {
	return securecookie.EncodeMulti(mfaChallengeName, c, h.codecs...)
}

// openChallenge decodes a step's challenge and the user it names, or
// answers that the step must start again.
func (h *Handler) openChallenge(w http.ResponseWriter, r *http.Request) (mfaChallenge, *store.User, bool) {
	c, u, err := h.decodeChallenge(r, r.PostForm.Get("challenge"))
	if errors.Is(err, pool.ErrChallengeExpired) {
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
		return c, nil, false
	}
	if err != nil {
		h.internalError(w, r, "reading the user", err)
		return c, nil, false
	}
	return c, u, true
}

// decodeChallenge opens a sealed mfaChallenge, the one check every step
// after the password shares: sealed by these pages, not expired, about a
// user who is still enabled and has the same password. A value that fails
// any of it is pool.ErrChallengeExpired; other errors are the store's.
func (h *Handler) decodeChallenge(r *http.Request, value string) (mfaChallenge, *store.User, error) {
	var c mfaChallenge
	err := securecookie.DecodeMulti(mfaChallengeName, value, &c, h.codecs...)
	if errors.Is(err, securecookie.ErrMacInvalid) || (err != nil && isDecodeError(err)) {
		return c, nil, pool.ErrChallengeExpired
	}
	if err != nil {
		return c, nil, err
	}
	if time.Now().Unix() > c.Expires {
		return c, nil, pool.ErrChallengeExpired
	}
	u, err := h.pool.User(r.Context(), c.UserID)
	if errors.Is(err, pool.ErrUserNotFound) {
		return c, nil, pool.ErrChallengeExpired
	}
	if err != nil {
		return c, nil, err
	}
	if !u.Enabled || pool.PasswordFingerprint(u) != c.Fingerprint {
		return c, nil, pool.ErrChallengeExpired
	}
	return c, u, nil
}

func isDecodeError(err error) bool {
	var e securecookie.Error
	return errors.As(err, &e) && e.IsDecode()
}

// askSecondFactor shows the code page of a user with a factor. A user
// whose only code factor is email gets a code mailed at once; one with an
// app may ask for a mailed code instead.
func (h *Handler) askSecondFactor(w http.ResponseWriter, r *http.Request, u *store.User, rd, from string) {
	p := mfaPage{}
	fs, err := h.pool.Factors(r.Context(), u.ID)
	if err != nil {
		h.internalError(w, r, "reading the user's factors", err)
		return
	}
	app, email := false, false
	for _, f := range fs {
		app = app || f.Kind == store.FactorTOTP
		email = email || f.Kind == store.FactorEmail
	}
	p.CanEmail = email && h.pool.CanEmailCodes()
	if p.CanEmail && !app {
		h.mailCode(r, u, &p)
	}
	h.renderMFA(w, r, http.StatusOK, u, rd, from, "", p)
}

// mailCode sends u a sign-in code and says so on p: sent, sent moments
// ago, or could not be sent.
func (h *Handler) mailCode(r *http.Request, u *store.User, p *mfaPage) {
	err := h.pool.SendMFACode(r.Context(), u)
	_, tooSoon := errors.AsType[*pool.TooSoonError](err)
	switch {
	case err == nil:
		p.EmailSentTo, p.Notice = maskEmail(u.Email), "We emailed you a code."
	case tooSoon:
		p.EmailSentTo = maskEmail(u.Email)
	default:
		if !errors.Is(err, pool.ErrMailNotSent) {
			h.log.Error("sending a sign-in code failed", zap.String("user_id", u.ID), zap.Error(err))
		}
		p.Error = "We could not send the email just now. Ask for a new code in a moment."
	}
}

// maskEmail shows enough of an address to recognize it: "a•••@example.com".
func maskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 {
		return email
	}
	r, _ := utf8.DecodeRuneInString(email)
	return string(r) + "•••" + email[at:]
}

// renderMFA shows the code page p for u, with a fresh challenge (one for
// turning email codes on when p.Enrolling); msg, when set, is the error.
func (h *Handler) renderMFA(w http.ResponseWriter, r *http.Request, status int, u *store.User, rd, from, msg string, p mfaPage) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	ch := mfaChallenge{
		UserID: u.ID, Fingerprint: pool.PasswordFingerprint(u), Expires: time.Now().Add(mfaChallengeTTL).Unix(), From: from,
	}
	p.Action = MFAPath
	if p.Enrolling {
		ch.Factor, p.Action = emailFactor, mfaSetupPath
	}
	c, err := h.sealChallenge(ch)
	if err != nil {
		h.internalError(w, r, "signing the second step", err)
		return
	}
	p.DisplayName, p.CSRF, p.ReturnTo, p.Challenge, p.Email = h.displayName, tok, rd, c, u.Email
	p.StepUp = from == fromStepUp
	if !p.Enrolling && !p.ConfirmPassword {
		p.RememberDays = h.rememberDays()
		p.Passkey, p.PasskeyOnly = h.passkeyOffer(r, u)
	}
	if msg != "" {
		p.Error = msg
	}
	h.render(w, status, h.pages.mfa, p)
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
		// Setting up the first factor needs fresh proof, not the session
		// alone: the page asks for the password first (stepUpPassword).
		if h.freshProof(r, u, "") != nil {
			h.renderMFA(w, r, http.StatusOK, u, rd, fromStepUp, "", mfaPage{ConfirmPassword: true})
			return
		}
		h.startEnrolment(w, r, u, rd, fromStepUp, "")
		return
	}
	h.askSecondFactor(w, r, u, rd, fromStepUp)
}

// stepUpPassword checks the password that a step-up without a factor asks
// for (c is its page's challenge) and shows the set-up it unlocks.
func (h *Handler) stepUpPassword(w http.ResponseWriter, r *http.Request, c mfaChallenge, u *store.User, rd string) {
	if id, ok := h.signedIn(r); c.From != fromStepUp || !ok || id != u.ID {
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
		return
	}
	password := r.PostForm.Get("password")
	err := h.freshProof(r, u, password)
	if h.refusedProof(w, r, u, err) {
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, pool.ErrInvalidCredentials):
		msg := "Your current password is not right."
		if password == "" {
			msg = "Enter your current password." // no passkey to offer: a user with one has a factor
		}
		h.renderMFA(w, r, http.StatusUnauthorized, u, rd, fromStepUp, msg, mfaPage{ConfirmPassword: true})
		return
	default:
		h.internalError(w, r, "checking the password", err)
		return
	}
	hasFactor, _, err := h.pool.NeedsMFA(r.Context(), u)
	if err != nil {
		h.internalError(w, r, "reading the user's factors", err)
		return
	}
	if hasFactor {
		// Set up meanwhile (another tab): ask for it instead.
		h.askSecondFactor(w, r, u, rd, fromStepUp)
		return
	}
	h.startEnrolment(w, r, u, rd, fromStepUp, "")
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
	if r.PostForm.Get("action") == "password" {
		h.stepUpPassword(w, r, c, u, rd)
		return
	}
	if r.PostForm.Get("action") == "email" {
		// "Email me a code": only for a user who has email codes on.
		on, err := h.pool.EmailCodesOn(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		if !on {
			h.RenderError(w, r, http.StatusBadRequest, "Bad request", "Codes by email are not on for this account.")
			return
		}
		p := mfaPage{CanEmail: true}
		h.mailCode(r, u, &p)
		h.renderMFA(w, r, http.StatusOK, u, rd, c.From, "", p)
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
		// Read only now: a right code needs no second look at the factors.
		on, err := h.pool.EmailCodesOn(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		h.renderMFA(w, r, http.StatusUnauthorized, u, rd, c.From, "That code is not right, or was used already. Try the newest code.",
			mfaPage{CanEmail: on})
		return
	default:
		h.internalError(w, r, "checking the code", err)
		return
	}
	if err := h.sessions.Start(w, r, u, amr); err != nil {
		h.internalError(w, r, "starting the session", err)
		return
	}
	h.pool.SignedIn(r.Context(), u, amr)
	if r.PostForm.Get("remember") == "on" && h.rememberDays() > 0 {
		h.remember(w, r, u)
	}
	h.log.Info("signed in with a second factor", zap.String("user_id", u.ID), zap.Strings("amr", amr),
		zap.String("remote_ip", h.clientIP(r)))
	h.continueTo(w, r, "Signed in", rd)
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
	tok, ok := h.issueCSRF(w, r)
	if !ok {
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
		Required: from == fromSignIn, CanEmail: h.pool.CanEmailCodes() && from != fromAccount,
		Passkeys: from != fromAccount && h.passkeysOffered(r),
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
	if r.PostForm.Get("action") == "email" {
		h.startEmailCodes(w, r, u, rd, c.From)
		return
	}
	var codes []string
	var err error
	if c.Factor == emailFactor {
		codes, err = h.pool.EnableEmailCodes(r.Context(), u.ID, r.PostForm.Get("code"))
		if errors.Is(err, pool.ErrWrongCode) {
			h.renderMFA(w, r, http.StatusUnprocessableEntity, u, rd, c.From, "That code is not right. Enter the newest code we emailed you.",
				mfaPage{Enrolling: true, CanEmail: true, EmailSentTo: maskEmail(u.Email)})
			return
		}
	} else {
		codes, err = h.pool.ConfirmTOTP(r.Context(), u.ID, c.Factor, r.PostForm.Get("code"))
	}
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
	case errors.Is(err, pool.ErrTooManyFactors):
		h.RenderError(w, r, http.StatusConflict, "Too many factors", sentence(err.Error()))
		return
	default:
		h.internalError(w, r, "confirming the second factor", err)
		return
	}
	h.log.Info("second factor enrolled", zap.String("user_id", u.ID), zap.Bool("email", c.Factor == emailFactor),
		zap.String("remote_ip", h.clientIP(r)))
	next := AccountPath + "?notice=mfa_added"
	if c.From != fromAccount {
		// The code just typed proved the factor: this sign-in has two.
		if err := h.sessions.Start(w, r, u, []string{pool.AMRPassword, pool.AMROTP, pool.AMRMFA}); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		h.pool.SignedIn(r.Context(), u, []string{pool.AMRPassword, pool.AMROTP, pool.AMRMFA})
		next = rd
	}
	if len(codes) == 0 {
		if c.From == fromAccount {
			seeOther(w, next)
		} else {
			h.continueTo(w, r, "Signed in", next)
		}
		return
	}
	h.render(w, http.StatusOK, h.pages.recoveryCodes, recoveryCodesPage{
		DisplayName: h.displayName, Codes: codes, ContinueTo: next,
	})
}

// startEmailCodes mails u a code whose entry turns email codes on, in
// place of an app.
func (h *Handler) startEmailCodes(w http.ResponseWriter, r *http.Request, u *store.User, rd, from string) {
	if !h.pool.CanEmailCodes() {
		h.RenderError(w, r, http.StatusBadRequest, "Not offered", "Codes by email are not offered here.")
		return
	}
	p := mfaPage{Enrolling: true, CanEmail: true}
	h.mailCode(r, u, &p)
	h.renderMFA(w, r, http.StatusOK, u, rd, from, "", p)
}

// enrolmentFor shows an unfinished enrolment again after a wrong code.
func (h *Handler) enrolmentFor(r *http.Request, u *store.User, factorID string) (*pool.TOTPEnrolment, error) {
	return h.pool.PendingTOTP(r.Context(), u, factorID)
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
