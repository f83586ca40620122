package hostedui

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The pages drive the pool's sign-in machine (pool/signin.go): each form
// starts a sign-in or answers a challenge, and next shows what the pool
// answered: the page of the next challenge, or, once the sign-in is done,
// completeSignIn. No page decides what comes next.

// Where an answer was given, for the messages of its errors (authError).
const (
	atSignIn           = "signin"
	atNewPassword      = "new_password"
	atSecondFactor     = "second_factor"
	atSetup            = "setup"
	atPasswordVerifier = "password_verifier"
	atStepUp           = "stepup"
	atAccount          = "account"
)

// client binds the pool's challenge sessions to this site: a step made
// for one site is not answered on another.
func (h *Handler) client(r *http.Request) string { return r.Host }

// next shows step, or the error the pool answered with; a step and an
// error both mean "ask again": the step, with what was wrong.
func (h *Handler) next(w http.ResponseWriter, r *http.Request, at, email, rd string, step *pool.AuthStep, err error) {
	if err != nil && step != nil && step.Challenge != nil {
		status, msg := retryMessage(h.lang(r), step.Challenge, err)
		if at == atPasswordVerifier && r.PostForm.Get("password") == "" {
			msg = "Enter your current password." // no passkey to offer: a user with one has a factor
		}
		if errors.Is(err, pool.ErrWrongCode) && at == atSecondFactor {
			h.signInFailed(r, "wrong_mfa_code", step.Challenge.User.Email)
		}
		h.showChallenge(w, r, status, step.Challenge, rd, msg)
		return
	}
	if err != nil {
		h.authError(w, r, at, email, rd, err)
		return
	}
	switch {
	case step.Auth != nil:
		h.completeSignIn(w, r, step.Auth, rd, false)
	case step.Enrolled:
		h.log.Info("second factor enrolled", zap.String("user_id", step.User.ID), zap.String("remote_ip", h.clientIP(r)))
		next := AccountPath + "?notice=mfa_added"
		if len(step.RecoveryCodes) == 0 {
			seeOther(w, next)
			return
		}
		h.render(w, r, http.StatusOK, h.pages.recoveryCodes, recoveryCodesPage{
			DisplayName: h.displayName, Codes: step.RecoveryCodes, ContinueTo: next,
		})
	default:
		if step.Challenge.Name == pool.ChallengeNewPasswordRequired && at == atSignIn {
			h.log.Info("sign-in needs a new password", zap.String("user_id", step.User.ID), zap.String("remote_ip", h.clientIP(r)))
		}
		h.showChallenge(w, r, http.StatusOK, step.Challenge, rd, "")
	}
}

// retryMessage is the status and message of an answer refused in a way
// that may be tried again.
func retryMessage(l *locale.Language, c *pool.Challenge, err error) (int, string) {
	if pe, ok := errors.AsType[*pool.PasswordPolicyError](err); ok {
		return http.StatusUnprocessableEntity, l.T("Password {{.Rule}}.", "Rule", l.T(pe.Rule))
	}
	switch c.Name {
	case pool.ChallengeMFASetup:
		if c.EmailSetup {
			return http.StatusUnprocessableEntity, "That code is not right. Enter the newest code we emailed you."
		}
		return http.StatusUnprocessableEntity, "That code is not right. Check the app's clock and enter the code it shows now."
	case pool.ChallengePasswordVerifier:
		return http.StatusUnauthorized, "Your current password is not right."
	}
	return http.StatusUnauthorized, "That code is not right, or was used already. Try the newest code."
}

// showChallenge renders the page of challenge c with status; msg, when
// set, is the error.
func (h *Handler) showChallenge(w http.ResponseWriter, r *http.Request, status int, c *pool.Challenge, rd, msg string) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	u := c.User
	switch {
	case c.Name == pool.ChallengeNewPasswordRequired:
		h.render(w, r, status, h.pages.newPassword, newPasswordPage{
			DisplayName: h.displayName, CSRF: tok, ReturnTo: rd, Challenge: c.Session, Email: u.Email, Error: msg,
			PasswordRules: passwordRules(h.lang(r), h.pool.PasswordPolicy()),
		})
		return
	case c.Name == pool.ChallengeMFASetup && c.Enrolment != nil:
		e := c.Enrolment
		h.render(w, r, status, h.pages.mfaSetup, mfaSetupPage{
			DisplayName: h.displayName, CSRF: tok, ReturnTo: rd, Challenge: c.Session, Email: u.Email, Error: msg,
			Secret: e.Secret, QRCode: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCodePNG)),
			Required: c.Flow == pool.FlowSignIn, CanEmail: h.pool.CanEmailCodes() && c.Flow != pool.FlowAccount,
			CanText:  h.pool.CanTextCodes() && c.Flow != pool.FlowAccount && phoneVerified(u),
			Passkeys: c.Flow != pool.FlowAccount && h.passkeysOffered(r),
		})
		return
	}
	p := mfaPage{
		DisplayName: h.displayName, CSRF: tok, ReturnTo: rd, Challenge: c.Session, Email: u.Email,
		Action: MFAPath, StepUp: c.Flow == pool.FlowStepUp, CanEmail: c.CanEmail, CanText: c.CanText && !c.EmailSetup,
		Enrolling: c.Name == pool.ChallengeMFASetup, ConfirmPassword: c.Name == pool.ChallengePasswordVerifier,
	}
	if p.Enrolling {
		p.Action = mfaSetupPath
	}
	if d := c.Delivery; d != nil && d.Medium == "SMS" {
		// A code by text message: said as such, with "send a new code".
		p.CanText = true
		_, tooSoon := errors.AsType[*pool.TooSoonError](d.Err)
		switch {
		case d.Err == nil:
			p.TextSentTo, p.Notice = d.Destination, "We sent you a code by text message."
		case tooSoon:
			p.TextSentTo = d.Destination
		default:
			if !errors.Is(d.Err, pool.ErrSMSNotSent) {
				h.log.Error("sending a sign-in code failed", zap.String("user_id", u.ID), zap.Error(d.Err))
			}
			p.TextSentTo = d.Destination
			p.Error = "We could not send the text message just now. Ask for a new code in a moment."
		}
	} else if d != nil {
		_, tooSoon := errors.AsType[*pool.TooSoonError](d.Err)
		switch {
		case d.Err == nil:
			p.EmailSentTo, p.Notice = d.Destination, "We emailed you a code."
		case tooSoon:
			p.EmailSentTo = d.Destination
		default:
			if !errors.Is(d.Err, pool.ErrMailNotSent) {
				h.log.Error("sending a sign-in code failed", zap.String("user_id", u.ID), zap.Error(d.Err))
			}
			p.Error = "We could not send the email just now. Ask for a new code in a moment."
		}
	}
	if !p.Enrolling && !p.ConfirmPassword {
		p.RememberDays = h.rememberDays()
		p.Passkey, p.PasskeyOnly = h.passkeyOffer(r, u)
	}
	if msg != "" {
		p.Error = msg
	}
	h.render(w, r, status, h.pages.mfa, p)
}

// passkeyNext is next for the passkey endpoints' JSON: errors are
// passkeyError's (ceremony names the endpoint), and a sign-in done is
// completeSignIn's answer for the script.
func (h *Handler) passkeyNext(w http.ResponseWriter, r *http.Request, ceremony, email, rd string, step *pool.AuthStep, err error) {
	if err != nil {
		if errors.Is(err, pool.ErrNotSignedIn) {
			err = pool.ErrChallengeExpired // as a forged step would be
		}
		h.passkeyError(w, r, email, ceremony, err)
		return
	}
	if step.Auth == nil {
		h.passkeyError(w, r, email, ceremony, pool.ErrChallengeExpired)
		return
	}
	h.completeSignIn(w, r, step.Auth, rd, true)
}

// completeSignIn ends every sign-in that the pool authenticated, whatever
// its way: it starts the session, keeps the device the user asked to
// remember, logs, and continues to rd (a form's POST) or tells the script
// where to go (a passkey's JSON).
func (h *Handler) completeSignIn(w http.ResponseWriter, r *http.Request, a *pool.Authentication, rd string, asJSON bool) {
	u := a.User
	if err := h.sessions.Start(w, r, u, a.AMR); err != nil {
		h.internalError(w, r, "starting the session", err)
		return
	}
	if a.RememberDevice != "" {
		h.remember(w, r, u, a.RememberDevice)
	}
	if a.Method == "enrolment" {
		h.log.Info("second factor enrolled", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
	}
	h.log.Info("signed in", zap.String("user_id", u.ID), zap.String("method", a.Method), zap.Strings("amr", a.AMR),
		zap.String("remote_ip", h.clientIP(r)))
	if asJSON {
		writeJSON(w, webauthnFinished{Redirect: rd, RecoveryCodes: a.RecoveryCodes})
		return
	}
	if len(a.RecoveryCodes) > 0 {
		h.render(w, r, http.StatusOK, h.pages.recoveryCodes, recoveryCodesPage{
			DisplayName: h.displayName, Codes: a.RecoveryCodes, ContinueTo: rd,
		})
		return
	}
	h.continueTo(w, r, "Signed in", rd)
}

// authError answers an error of the sign-in machine, given at at: the one
// place where the pool's refusals become pages. email, when known, names
// the login in the sign-in log.
func (h *Handler) authError(w http.ResponseWriter, r *http.Request, at, email, rd string, err error) {
	if le, ok := errors.AsType[*pool.LockedOutError](err); ok {
		if at == atPasswordVerifier {
			// The password was being guessed through a session: it ends.
			if u, uerr := h.pool.User(r.Context(), h.sessionUser(r)); uerr == nil {
				h.lockedOutSignedOut(w, r, u, le)
				return
			}
		}
		h.lockedOut(w, r, email, le)
		return
	}
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok && at == atAccount {
		if u, uerr := h.pool.User(r.Context(), h.sessionUser(r)); uerr == nil {
			h.renderAccount(w, r, http.StatusUnprocessableEntity, u, accountPage{MFAError: h.lang(r).T("Name: {{.Error}}", "Error", h.lang(r).T(fe["name"]))}, nil, nil)
			return
		}
	}
	if te, ok := errors.AsType[*trigger.Error](err); ok && te.Denied && at == atSignIn {
		// The pre (or post) authentication hook refused: its message,
		// on the form (it saw userNotFound alike, so it may say the same
		// for every login).
		h.signInFailed(r, string(te.Kind), email)
		h.renderSignIn(w, r, http.StatusForbidden, signInPage{ReturnTo: rd, Email: email, Error: sentence(te.Reason)})
		return
	}
	switch {
	case errors.Is(err, pool.ErrInvalidCredentials):
		h.signInFailed(r, "invalid_credentials", email)
		h.renderSignIn(w, r, http.StatusUnauthorized, signInPage{ReturnTo: rd, Email: email, Error: h.invalidCredentials()})
	case errors.Is(err, pool.ErrUserDisabled):
		h.signInFailed(r, "user_disabled", email)
		h.RenderError(w, r, http.StatusForbidden, "Cannot sign in", msgUserDisabled)
	case errors.Is(err, pool.ErrUserNotConfirmed):
		h.signInFailed(r, "user_not_confirmed", email)
		if h.pool.CanMail() {
			h.renderConfirm(w, r, http.StatusForbidden, confirmPage{Email: email, ReturnTo: rd,
				Error: "This account is not confirmed yet. Enter the code we emailed you, or send a new one."})
			return
		}
		h.RenderError(w, r, http.StatusForbidden, "Cannot sign in", "This account is not confirmed yet.")
	case errors.Is(err, pool.ErrTemporaryPasswordExpired):
		h.signInFailed(r, "temporary_password_expired", email)
		h.RenderError(w, r, http.StatusForbidden, "Temporary password expired",
			"Your temporary password has expired. Ask your administrator for a new one.")
	case errors.Is(err, pool.ErrPasswordResetRequired):
		h.signInFailed(r, "reset_required", email)
		if h.pool.CanMail() {
			// Straight to the reset, the address filled in: what an
			// imported user (Cognito's CSV) must do first.
			seeOther(w, ForgotPath+"?"+url.Values{"email": {email}, "reset_required": {"1"}}.Encode())
			return
		}
		h.RenderError(w, r, http.StatusForbidden, "Password reset required",
			"Your password must be reset before you can sign in. Ask your administrator for help.")
	case errors.Is(err, pool.ErrChallengeExpired) && at == atNewPassword:
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again",
			"This step has expired. Sign in again with your temporary password.")
	case errors.Is(err, pool.ErrChallengeExpired):
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
	case errors.Is(err, pool.ErrNotSignedIn) && at == atSetup:
		h.RenderError(w, r, http.StatusUnauthorized, "Sign-in required", "Sign in again to set up an authenticator app.")
	case errors.Is(err, pool.ErrNotSignedIn):
		h.RenderError(w, r, http.StatusBadRequest, "Sign in again", "This step has expired. Sign in again.")
	case errors.Is(err, pool.ErrMFAUnavailable) && at == atStepUp:
		h.RenderError(w, r, http.StatusForbidden, "Two-step verification is off",
			"This page needs two-step verification, which this site does not offer.")
	case errors.Is(err, pool.ErrMFAUnavailable) && at == atSecondFactor:
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "Codes by email are not on for this account.")
	case errors.Is(err, pool.ErrMFAUnavailable):
		h.RenderError(w, r, http.StatusBadRequest, "Not offered", "Codes by email are not offered here.")
	case errors.Is(err, pool.ErrTooManyFactors):
		h.RenderError(w, r, http.StatusConflict, "Too many authenticators", msgTooManyFactors)
	default:
		h.internalError(w, r, "signing in ("+at+")", err)
	}
}

// sessionUser is the user id of r's session, "" without one.
func (h *Handler) sessionUser(r *http.Request) string {
	id, _ := h.signedIn(r)
	return id
}

// deviceClaim is what the browser's remembered-device cookie claims, for
// the pool to check; nil without one.
func (h *Handler) deviceClaim(r *http.Request) *pool.RememberedDevice {
	tok, ok := h.deviceToken(r)
	if !ok {
		return nil
	}
	return &pool.RememberedDevice{UserID: tok.UserID, Fingerprint: tok.Fingerprint}
}

// phoneVerified reports whether u's phone number is verified.
func phoneVerified(u *store.User) bool {
	_, verified := pool.Phone(u)
	return verified
}
