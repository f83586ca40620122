package hostedui

import (
	"errors"
	"net/http"
	"slices"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The "confirm it's you" step, AccountConfirmPath?next=<account page>:
// one page where a signed-in user proves presence with what they have:
// the password, a passkey (static/webauthn.js, ceremony "confirm"), or a
// second factor's code (an app's, one mailed on request, a texted one, a
// recovery code). Success records a re-authentication bound to the
// session (confirm.go) and goes back to next, an account page only
// (safeNext). strict=1 (a change that adds a way to sign in, or the
// password's) offers the password and passkeys only. Every answer counts
// in the login's lockout as at sign-in; a lock signs the session out.

// confirmStepPage is what templates/reauth.html shows.
type confirmStepPage struct {
	DisplayName string
	CSRF        string
	Email       string
	Next        string
	// Strict: only the password or a passkey will do; Retry: a change was
	// refused for want of this step and was not made.
	Strict bool
	Retry  bool
	Error  string
	Notice string
	// What the user can confirm with.
	Password      bool
	PasswordField field
	Passkey       bool
	Code          bool
	CodeField     field
	CanEmail      bool
	CodeSent      bool
	// SignInAgain are the providers a user without a password signs in
	// again with (their sign-in stands as proof for the window).
	SignInAgain []providerButton
	// Already: a re-authentication stands, as strong as this asks.
	Already bool
	Window  string
}

func (h *Handler) accountConfirm(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		u, ok := h.accountUser(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		p := confirmStepPage{Strict: q.Get("strict") == "1", Retry: q.Get("retry") == "1", Next: safeNext(q.Get("next"))}
		if q.Get("notice") == "code_sent" {
			p.CodeSent, p.Notice = true, "We emailed you a code. Enter it below."
		}
		h.renderConfirmStep(w, r, http.StatusOK, u, p)
	case http.MethodPost:
		h.accountConfirmPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// renderConfirmStep fills in what u can confirm with.
// emailsConfirmCodes reports whether the step may email u a code: the pool
// mails codes and u has turned emailed codes on.
func (h *Handler) emailsConfirmCodes(r *http.Request, u *store.User) (bool, error) {
	if h.pool.MFA().Mode == pool.MFAOff || !h.pool.CanEmailCodes() {
		return false, nil
	}
	fs, err := h.pool.Factors(r.Context(), u.ID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(fs, func(f store.MFAFactor) bool { return f.Kind == store.FactorEmail }), nil
}

func (h *Handler) renderConfirmStep(w http.ResponseWriter, r *http.Request, status int, u *store.User, p confirmStepPage) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	p.DisplayName, p.CSRF, p.Email, p.Window = h.displayName, tok, u.Email, humanWait(h.lang(r), h.reauthWindow())
	if a := h.reauthOf(r, u); a.ok() && (!p.Strict || a.strong()) {
		p.Already = true
	}
	p.Password = u.Status != store.StatusExternalProvider
	if p.PasswordField.ID == "" {
		p.PasswordField = passwordField("f-confirm-password", "password", "Current password", "current-password", "")
	}
	if h.pool.MFA().Mode != pool.MFAOff {
		fs, err := h.pool.Factors(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		for _, f := range fs {
			switch f.Kind {
			case store.FactorWebAuthn:
			case store.FactorEmail:
				p.Code = true
				p.CanEmail = p.CanEmail || h.pool.CanEmailCodes()
			default:
				p.Code = true
			}
		}
		if rp, err := h.relyingParty(r); err == nil {
			if p.Passkey, err = h.pool.HasPasskey(r.Context(), u.ID, rp); err != nil {
				h.internalError(w, r, "reading the user's passkeys", err)
				return
			}
		}
	}
	if p.Strict {
		p.Code, p.CanEmail = false, false
	}
	if p.CodeField.ID == "" {
		p.CodeField = codeField("", "")
		p.CodeField.ID, p.CodeField.Hint = "f-confirm-code", "From your authenticator app, the email we sent, or one of your recovery codes."
	}
	if u.Status == store.StatusExternalProvider {
		ids, err := h.pool.Identities(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's linked identities", err)
			return
		}
		for _, b := range h.buttons() {
			if slices.ContainsFunc(ids, func(id store.Identity) bool { return id.Provider == b.Name }) {
				p.SignInAgain = append(p.SignInAgain, b)
			}
		}
	}
	focusFirstError(&p.PasswordField, &p.CodeField)
	h.render(w, r, status, h.pages.reauth, p)
}

func (h *Handler) accountConfirmPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "confirmation") {
		return
	}
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	p := confirmStepPage{Strict: f.Get("strict") == "1", Retry: f.Get("retry") == "1", Next: safeNext(f.Get("next"))}
	ctx := r.Context()
	var method string
	switch f.Get("action") {
	case "password":
		if u.Status == store.StatusExternalProvider {
			h.renderConfirmStep(w, r, http.StatusConflict, u, p)
			return
		}
		_, err := h.pool.VerifyPassword(ctx, u.ID, f.Get("password"))
		if h.refusedProof(w, r, u, err) {
			return
		}
		if errors.Is(err, pool.ErrInvalidCredentials) {
			msg := "Enter your current password."
			if f.Get("password") != "" {
				msg = "Your current password is not right."
			}
			p.Error = msg
			p.PasswordField = passwordField("f-confirm-password", "password", "Current password", "current-password", msg)
			h.renderConfirmStep(w, r, http.StatusUnauthorized, u, p)
			return
		}
		if err != nil {
			h.internalError(w, r, "checking the password", err)
			return
		}
		method = reauthPassword

	case "code":
		if h.pool.MFA().Mode == pool.MFAOff {
			h.renderConfirmStep(w, r, http.StatusConflict, u, p)
			return
		}
		code := clip(f.Get("code"))
		amr, err := h.pool.VerifyMFA(ctx, u, code)
		if h.refusedProof(w, r, u, err) {
			return
		}
		if errors.Is(err, pool.ErrWrongCode) || errors.Is(err, pool.ErrCodeExpired) {
			p.Error = msgWrongCode
			p.CodeField = codeField("", msgWrongCode)
			p.CodeField.ID, p.CodeField.Hint = "f-confirm-code", "From your authenticator app, the email we sent, or one of your recovery codes."
			h.renderConfirmStep(w, r, http.StatusUnauthorized, u, p)
			return
		}
		if err != nil {
			h.internalError(w, r, "checking a code", err)
			return
		}
		method = reauthRecoveryCode
		if slices.Contains(amr, pool.AMROTP) {
			method = reauthOTP
		}

	case "email_code":
		// Only where the step offers it: not on a strict step (a code
		// does not do there) nor to a user without emailed codes.
		canEmail, err := h.emailsConfirmCodes(r, u)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		if p.Strict || !canEmail {
			h.renderConfirmStep(w, r, http.StatusBadRequest, u, p)
			return
		}
		err = h.pool.SendMFACode(ctx, u)
		if tooSoon, ok := errors.AsType[*pool.TooSoonError](err); ok {
			p.Error = h.lang(r).T("We sent a code moments ago. Wait {{.Wait}} before asking for another.", "Wait", humanWait(h.lang(r), tooSoon.Wait))
			p.CodeSent = true
			h.renderConfirmStep(w, r, http.StatusTooManyRequests, u, p)
			return
		}
		if errors.Is(err, pool.ErrMailNotSent) {
			p.Error = "We could not send the email just now. Try again in a moment."
			h.renderConfirmStep(w, r, http.StatusServiceUnavailable, u, p)
			return
		}
		if err != nil {
			h.internalError(w, r, "mailing a code", err)
			return
		}
		h.log.Info("confirmation code mailed", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
		q := confirmURL(p.Next, needAny, p.Retry) + "&notice=code_sent"
		seeOther(w, q)
		return

	default:
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "The form sent asks for nothing this page does.")
		return
	}
	if err := h.setReauth(w, r, u, method); err != nil {
		h.internalError(w, r, "sealing a confirmation", err)
		return
	}
	seeOther(w, p.Next)
}
