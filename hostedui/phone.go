package hostedui

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// accountPhone sends a code that verifies the user's phone number, or
// checks it: only in a pool that texts. The session is the proof, as an
// access token is for Cognito's GetUserAttributeVerificationCode: a code
// to one's own number proves nothing to anyone else.
func (h *Handler) accountPhone(w http.ResponseWriter, r *http.Request, u *store.User, action string, log *zap.Logger) {
	if !h.pool.CanText() {
		h.RenderError(w, r, http.StatusForbidden, "Not offered", "This site sends no text messages.")
		return
	}
	ctx := r.Context()
	switch action {
	case "phone_send":
		_, err := h.pool.SendPhoneCode(ctx, u.ID)
		if tooSoon, ok := errors.AsType[*pool.TooSoonError](err); ok {
			h.renderAccount(w, r, http.StatusTooManyRequests, u, accountPage{PhoneCodeSent: true,
				PhoneError: h.lang(r).T("We sent a code moments ago. Wait {{.Wait}} before asking for another.", "Wait", humanWait(h.lang(r), tooSoon.Wait))}, nil, nil)
			return
		}
		switch {
		case err == nil:
			log.Info("phone verification code sent")
			seeOther(w, AccountPath+"?notice=phone_code_sent")
		case errors.Is(err, pool.ErrPhoneVerified):
			seeOther(w, AccountPath+"?notice=phone_verified")
		case errors.Is(err, pool.ErrNoPhone):
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{PhoneError: "Add a phone number to your profile first."}, nil, nil)
		case errors.Is(err, pool.ErrSMSNotSent):
			// The gateway failed or timed out: said plainly, and asking
			// again works at once (the cool-down was lifted).
			h.renderAccount(w, r, http.StatusServiceUnavailable, u, accountPage{
				PhoneError: "We could not send the text message just now. Ask for a new code in a moment."}, nil, nil)
		default:
			h.internalError(w, r, "sending a phone verification code", err)
		}
	case "phone_verify":
		code := clip(r.PostForm.Get("phone_code"))
		_, err := h.pool.VerifyPhone(ctx, u.ID, code)
		switch {
		case err == nil:
			log.Info("phone number verified")
			seeOther(w, AccountPath+"?notice=phone_verified")
		case errors.Is(err, pool.ErrWrongCode), errors.Is(err, pool.ErrCodeExpired):
			msg := "That code is not right. Check the text message and try again."
			if errors.Is(err, pool.ErrCodeExpired) {
				msg = "That code has expired or was used up. Ask for a new one."
			}
			f := codeField(code, msg)
			f.ID, f.Name, f.Hint = "f-phone-code", "phone_code", "The 6 digits from the text message."
			h.renderAccount(w, r, http.StatusUnprocessableEntity, u, accountPage{PhoneCodeSent: true, PhoneError: msg, PhoneCodeField: f}, nil, nil)
		case errors.Is(err, pool.ErrPhoneTaken):
			// Only whoever received the code gets here, and is not told
			// which account has the number.
			log.Info("phone number verified on another account")
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{PhoneError: msgPhoneTaken}, nil, nil)
		case errors.Is(err, pool.ErrNoPhone):
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{PhoneError: "Add a phone number to your profile first."}, nil, nil)
		default:
			h.internalError(w, r, "verifying a phone number", err)
		}
	}
}
