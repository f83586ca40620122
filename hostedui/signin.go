package hostedui

import (
	"errors"
	"net"
	"net/http"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// maxFormBytes bounds a sign-in POST: an email and a password fit many times
// over, and argon2id is never asked to hash megabytes.
const maxFormBytes = 64 << 10

// msgInvalidCredentials is the one answer to an unknown email and to a wrong
// password, so the page does not tell which emails have accounts.
const msgInvalidCredentials = "Incorrect email or password."

// The pool's refusals as a page says them (pool.ErrUserDisabled,
// pool.ErrTooManyFactors), constants so that the catalogues have them.
const (
	msgUserDisabled   = "This account is disabled."
	msgTooManyFactors = "You already have as many authenticators as allowed; remove one first."
)

// signInPage is what templates/signin.html shows.
type signInPage struct {
	DisplayName string
	CSRF        string
	ReturnTo    string
	Email       string
	Error       string
	Notice      string
	// SignUp is the pool's sign-up mode; CanReset whether "Forgot your
	// password?" is offered.
	SignUp   string
	CanReset bool
	// Passkeys offers "Sign in with a passkey" (webauthn.go).
	Passkeys bool
	// Providers are the outside providers' buttons; Routed: some take
	// email domains, so the password is not required by the browser (an
	// address of such a domain goes to its provider without it).
	Providers []providerButton
	Routed    bool
	// Login is how the login field is drawn (aliases.go).
	Login loginInput
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		rd, _ := SafeReturnTo(q.Get("rd"))
		// An OpenID client's login_hint fills in the login, if it is
		// one the pool signs in with.
		hint := h.loginKey(q.Get("login_hint"))
		h.renderSignIn(w, r, http.StatusOK, signInPage{ReturnTo: rd, Email: hint, Notice: notices[q.Get("notice")]})
	case http.MethodPost:
		h.signInPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (h *Handler) renderSignIn(w http.ResponseWriter, r *http.Request, status int, p signInPage) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	p.DisplayName = h.displayName
	p.CSRF = tok
	p.SignUp = h.pool.Accounts().SignUp
	p.CanReset = h.canReset()
	p.Passkeys = h.passkeysOffered(r)
	p.Providers, p.Routed = h.buttons(), h.routesDomains()
	p.Login = h.loginInput()
	h.render(w, r, status, h.pages.signIn, p)
}

func (h *Handler) signInPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "sign-in") {
		return
	}
	rd, _ := SafeReturnTo(r.PostForm.Get("rd"))
	email := r.PostForm.Get("email")
	// Email-domain routing: an address in a provider's domains signs in
	// there, and the password, if one was typed, is not used. The choice
	// rests on the domain alone, so it says nothing of who has an account.
	if norm, err := pool.NormalizeEmail(email); err == nil {
		if p, ok := h.providerForEmail(norm); ok {
			target, ok := h.beginFlow(w, r, p, &fedFlow{Purpose: purposeSignIn, ReturnTo: rd, LoginHint: norm})
			if ok {
				h.continueTo(w, r, h.lang(r).T("Continue at {{.Provider}}", "Provider", p.info.DisplayName), target)
			}
			return
		}
	}
	// The hooks (a migration, for an address the pool does not know) are
	// told the client the sign-in returns to, as Cognito's hosted UI's.
	ctx := pool.WithTriggerContext(r.Context(), pool.TriggerContext{ClientID: returnClient(rd)})
	step, err := h.pool.InitiatePasswordAuth(ctx, pool.PasswordAuth{
		Username: email, Password: r.PostForm.Get("password"), Client: h.client(r), Device: h.deviceClaim(r),
	})
	h.next(w, r, atSignIn, email, rd, step, err)
}

func (h *Handler) signInFailed(r *http.Request, reason, email string) {
	h.log.Info("sign-in failed", zap.String("reason", reason),
		zap.String("email", clip(email)), zap.String("remote_ip", h.clientIP(r)))
}

// internalError logs err and shows a page that says nothing about it.
//
// A store that could not answer in time (down, hung, locked) is not a fault
// of the page: it answers 503 with Retry-After and says to try again, the
// same for every account, so an outage reveals nothing about who exists.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, doing string, err error) {
	if te, ok := errors.AsType[*trigger.Error](err); ok {
		h.triggerError(w, r, doing, te)
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		h.log.Warn("hosted page: store unavailable", zap.String("while", doing), zap.Error(err),
			zap.String("path", r.URL.Path), zap.String("remote_ip", h.clientIP(r)))
		w.Header().Set("Retry-After", retryAfter)
		// OAuth's code for it (RFC 6749 §4.1.2.1), as the provider answers.
		h.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again in a moment",
			"The service is briefly unavailable. Please try again in a few seconds.")
		return
	}
	h.log.Error("hosted page failed", zap.String("while", doing), zap.Error(err),
		zap.String("path", r.URL.Path), zap.String("remote_ip", h.clientIP(r)))
	h.RenderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"The server could not complete your request. Please try again in a moment.")
}

// retryAfter is the Retry-After, in seconds, of a page answered while the
// store is unavailable: about a store timeout.
const retryAfter = "5"

// clip bounds what a client typed before it goes into a log line.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	for i := max; i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:max] + "…"
}

// sentence turns an error message ("this account is disabled") into one a
// page can show ("This account is disabled.").
func sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if c := s[len(s)-1]; c != '.' && c != '!' && c != '?' {
		s += "."
	}
	return s
}

// remoteIP is the address of the peer that sent r, for the logs.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// triggerError shows a hook's refusal or failure: a refusal's own message,
// as Cognito's hosted UI does; a failure says nothing of the hook (the log
// has its reason, never its secret).
func (h *Handler) triggerError(w http.ResponseWriter, r *http.Request, doing string, te *trigger.Error) {
	h.log.Warn("hosted page: trigger refused or failed", zap.String("while", doing), zap.String("trigger", string(te.Kind)),
		zap.Bool("denied", te.Denied), zap.String("reason", te.Reason), zap.String("remote_ip", h.clientIP(r)))
	if te.Denied {
		h.RenderError(w, r, http.StatusForbidden, "Not allowed", sentence(te.Reason))
		return
	}
	h.RenderError(w, r, http.StatusBadGateway, "Something went wrong",
		"The server could not complete your request. Please try again in a moment.")
}
