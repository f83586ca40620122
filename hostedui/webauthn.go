package hostedui

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Passkeys (WebAuthn) on the hosted pages: static/webauthn.js calls these
// JSON endpoints, begin then finish, for each of the three ceremonies.
//
//	POST /_gatehouse/webauthn/register/{begin,finish}  add a passkey (account page)
//	POST /_gatehouse/webauthn/enrol/{begin,finish}     a passkey as the first factor, at a
//	                                                   sign-in that must set one up
//	POST /_gatehouse/webauthn/login/{begin,finish}     second factor after the password
//	POST /_gatehouse/webauthn/passkey/{begin,finish}   passwordless sign-in
//	POST /_gatehouse/webauthn/confirm/{begin,finish}   confirm account changes
//	                                                   in place of the password (confirm.go)
//
// Each is CSRF-protected as the forms are, with the token in the
// X-CSRF-Token header: the request must come from this site (an Origin
// header naming it is required) and be application/json, which no
// cross-site form can send. begin answers {"publicKey": {...}} for
// navigator.credentials, and seals the ceremony in a cookie that only
// finish reads; finish takes {"credential": <PublicKeyCredential as
// JSON>, ...} and answers {"redirect": "/path"}. Errors are RenderError's
// JSON.
const (
	webauthnPath = PathPrefix + "webauthn/"
	// passkeyBeginPath is not throttled: the sign-in page calls it on
	// every view for the email field's passkey suggestions, it checks
	// nothing that could be guessed (a fresh challenge, no store read),
	// and its finish, where a passkey is checked, is throttled.
	passkeyBeginPath = webauthnPath + "passkey/begin"
	// webauthnCookie holds one ceremony between begin and finish, sealed
	// with the pages' codecs and bound to its purpose, user and site.
	webauthnCookie = "gatehouse_webauthn"
	csrfHeader     = "X-CSRF-Token"
	// maxWebAuthnBody bounds a finish request: an attestation with a
	// certificate chain fits many times over.
	maxWebAuthnBody = 64 << 10
)

// webauthnRequest is the body of every endpoint; each reads its fields.
type webauthnRequest struct {
	// Name and Password: register/begin (no password while a passkey
	// confirmation stands, confirm.go).
	Name     string `json:"name"`
	Password string `json:"password"`
	// Challenge is the second-factor page's sealed challenge (login/*),
	// or the set-up page's (enrol/*).
	Challenge string `json:"challenge"`
	// ReturnTo is where a sign-in goes on: login/finish, passkey/finish,
	// enrol/finish.
	ReturnTo string `json:"rd"`
	// Remember asks to skip the second factor on this browser, as the
	// code form's checkbox does: login/finish.
	Remember bool `json:"remember"`
	// Credential is the authenticator's answer: */finish.
	Credential json.RawMessage `json:"credential"`
}

type webauthnFinished struct {
	Redirect string `json:"redirect"`
	// RecoveryCodes come once, with a user's first factor.
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
}

// webauthn routes the endpoints under webauthnPath.
func (h *Handler) webauthn(w http.ResponseWriter, r *http.Request) {
	route := strings.TrimPrefix(r.URL.Path, webauthnPath)
	switch route {
	case "register/begin", "register/finish", "enrol/begin", "enrol/finish",
		"login/begin", "login/finish", "passkey/begin", "passkey/finish", "confirm/begin", "confirm/finish":
	default:
		h.notFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		h.methodNotAllowed(w, r, "POST")
		return
	}
	var req webauthnRequest
	if !h.readJSON(w, r, &req) {
		return
	}
	rp, err := h.relyingParty(r)
	if err != nil {
		h.RenderError(w, r, http.StatusBadRequest, "Passkeys not offered", h.lang(r).T("{{.Reason}} Sign in with your password or a code instead.", "Reason", sentence(err.Error())))
		return
	}
	switch route {
	case "register/begin":
		h.registerBegin(w, r, rp, req)
	case "register/finish":
		h.registerFinish(w, r, rp, req)
	case "enrol/begin":
		h.enrolBegin(w, r, rp, req)
	case "enrol/finish":
		h.enrolFinish(w, r, rp, req)
	case "login/begin":
		h.secondFactorBegin(w, r, rp, req)
	case "login/finish":
		h.secondFactorFinish(w, r, rp, req)
	case "passkey/begin":
		h.passkeyBegin(w, r, rp)
	case "passkey/finish":
		h.passkeyFinish(w, r, rp, req)
	case "confirm/begin":
		h.confirmBegin(w, r, rp)
	case "confirm/finish":
		h.confirmFinish(w, r, rp, req)
	}
}

// readJSON runs the checks every WebAuthn request gets, as readForm does
// for forms, and decodes the body into dst. On any failure it has answered
// and returns false.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, dst *webauthnRequest) bool {
	ip := h.clientIP(r)
	if _, present := r.Header["Origin"]; !present || !h.sameOrigin(r) {
		h.log.Warn("passkey request refused", zap.String("reason", "cross_origin"),
			zap.String("origin", clip(r.Header.Get("Origin"))), zap.String("remote_ip", ip))
		h.RenderError(w, r, http.StatusForbidden, "Request refused",
			"This request was not sent from this site. Reload the page and try again.")
		return false
	}
	cookieTok, ok := h.csrfToken(r)
	if !ok || !checkCSRFForm(cookieTok, r.Header.Get(csrfHeader)) {
		h.log.Info("passkey request refused", zap.String("reason", "csrf"), zap.String("remote_ip", ip))
		h.RenderError(w, r, http.StatusForbidden, "Page expired",
			"This page has expired or the request was not sent from this site. Reload the page and try again.")
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.RenderError(w, r, http.StatusUnsupportedMediaType, "Unsupported encoding",
			"Passkey requests must be sent as application/json.")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebAuthnBody))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			h.RenderError(w, r, http.StatusRequestEntityTooLarge, "Request too large",
				"The request sent was larger than a passkey's answer can be.")
			return false
		}
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "The request could not be read.")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil || dec.More() || !utf8.Valid(body) {
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "The request is not the JSON this endpoint takes.")
		return false
	}
	for _, s := range []string{dst.Name, dst.Password, dst.Challenge, dst.ReturnTo} {
		if len(s) > maxFieldBytes {
			h.RenderError(w, r, http.StatusRequestEntityTooLarge, "Field too long",
				"A field of the request is longer than any field can be.")
			return false
		}
	}
	return true
}

// relyingParty is the WebAuthn site of r: its origin as the browser sees
// it, so the one the authenticator signs.
func (h *Handler) relyingParty(r *http.Request) (pool.RelyingParty, error) {
	scheme := "http"
	if r.TLS != nil || h.secure(r) {
		scheme = "https"
	}
	return pool.NewRelyingParty(scheme + "://" + r.Host)
}

// passkeysOffered reports whether the pages show passkey buttons on r's
// site: the pool offers second factors, and browsers would offer WebAuthn
// on this origin.
func (h *Handler) passkeysOffered(r *http.Request) bool {
	if h.pool.MFA().Mode == pool.MFAOff {
		return false
	}
	_, err := h.relyingParty(r)
	return err == nil
}

// passkeyOffer says what the second-factor page offers u: a passkey
// button (u has a passkey for this site), and whether a passkey is all
// they have besides recovery codes.
func (h *Handler) passkeyOffer(r *http.Request, u *store.User) (offer, only bool) {
	rp, err := h.relyingParty(r)
	if err != nil || h.pool.MFA().Mode == pool.MFAOff {
		return false, false
	}
	fs, err := h.pool.Factors(r.Context(), u.ID)
	if err != nil {
		return false, false
	}
	has, err := h.pool.HasPasskey(r.Context(), u.ID, rp)
	if err != nil || !has {
		return false, false
	}
	only = true
	for _, f := range fs {
		only = only && f.Kind == store.FactorWebAuthn
	}
	return true, only
}

// sealJSON is v, as JSON, sealed with the pages' codecs as a value of
// cookie name.
func (h *Handler) sealJSON(name string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return securecookie.EncodeMulti(name, raw, h.codecs...)
}

// openJSON opens value, a cookie name's value sealed by sealJSON, into v;
// false if it does not open or decode.
func (h *Handler) openJSON(name, value string, v any) bool {
	var raw []byte
	return securecookie.DecodeMulti(name, value, &raw, h.codecs...) == nil && json.Unmarshal(raw, v) == nil
}

// setStrictCookie sets one of the passkey pages' own cookies, HttpOnly
// and SameSite=Strict, for maxAge seconds; "" and -1 clear it.
func (h *Handler) setStrictCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	h.setCookie(w, r, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// setCeremony seals c into the ceremony cookie.
func (h *Handler) setCeremony(w http.ResponseWriter, r *http.Request, c *pool.WebAuthnCeremony) error {
	v, err := h.sealJSON(webauthnCookie, c)
	if err != nil {
		return err
	}
	h.setStrictCookie(w, r, webauthnCookie, v, webauthnPath, int(pool.CeremonyTTL/time.Second))
	return nil
}

// takeCeremony opens the ceremony cookie and clears it: a ceremony is
// finished once, whatever the outcome.
func (h *Handler) takeCeremony(w http.ResponseWriter, r *http.Request) (*pool.WebAuthnCeremony, bool) {
	cookies := h.cookiesNamed(r, webauthnCookie)
	if len(cookies) == 0 {
		return nil, false
	}
	h.setStrictCookie(w, r, webauthnCookie, "", webauthnPath, -1)
	for _, ck := range cookies {
		var c pool.WebAuthnCeremony
		if h.openJSON(webauthnCookie, ck.Value, &c) {
			return &c, true
		}
	}
	return nil, false
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	hdr := w.Header()
	setPageHeaders(hdr)
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// begun sets the ceremony cookie and answers with the browser's options.
func (h *Handler) begun(w http.ResponseWriter, r *http.Request, opts any, c *pool.WebAuthnCeremony) {
	if err := h.setCeremony(w, r, c); err != nil {
		h.internalError(w, r, "sealing a passkey ceremony", err)
		return
	}
	writeJSON(w, opts)
}

func (h *Handler) registerBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	if err := h.freshProof(r, u, req.Password); err != nil {
		if h.refusedProof(w, r, u, err) {
			return
		}
		if errors.Is(err, pool.ErrInvalidCredentials) {
			if req.Password == "" {
				// No password or passkey confirmation stands (or it ran
				// out while the page was open): the page's link leads to
				// the confirm step.
				h.RenderError(w, r, http.StatusUnauthorized, "Confirm it's you",
					"Confirm it's you with your password or a passkey, then add the passkey.")
				return
			}
			h.RenderError(w, r, http.StatusUnauthorized, "Wrong password", msgNotConfirmed(req.Password))
			return
		}
		h.internalError(w, r, "checking the password", err)
		return
	}
	opts, c, err := h.pool.BeginPasskeyRegistration(r.Context(), u, rp, req.Name)
	if err != nil {
		h.passkeyError(w, r, u.Email, "register", err)
		return
	}
	h.begun(w, r, opts, c)
}

func (h *Handler) registerFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	c, ok := h.takeCeremony(w, r)
	u, signedIn := h.accountUser(w, r)
	if !signedIn {
		return
	}
	if !ok {
		h.passkeyError(w, r, u.Email, "register", pool.ErrChallengeExpired)
		return
	}
	codes, err := h.pool.FinishPasskeyRegistration(r.Context(), u, rp, c, req.Credential)
	if err != nil {
		h.passkeyError(w, r, u.Email, "register", err)
		return
	}
	h.log.Info("passkey added", zap.String("user_id", u.ID), zap.String("rp_id", rp.ID), zap.String("remote_ip", h.clientIP(r)))
	writeJSON(w, webauthnFinished{Redirect: AccountPath + "?notice=passkey_added", RecoveryCodes: codes})
}

// The passkey steps of a sign-in answer the pool's challenges: the
// second-factor page's (login/*) and the set-up page's (enrol/*), whose
// session the script sends as "challenge". begin asks the pool for the
// ceremony its challenge takes (PasskeyOptions, which spends nothing);
// finish answers the challenge with it.

// passkeyAnswer is the answer of a finish request to its page's challenge.
func (h *Handler) passkeyAnswer(r *http.Request, name string, rp pool.RelyingParty, c *pool.WebAuthnCeremony, req webauthnRequest) pool.Answer {
	a := h.answer(r, req.Challenge)
	a.Name, a.RememberDevice = name, req.Remember
	a.Passkey = &pool.PasskeyAnswer{RelyingParty: rp, Ceremony: c, Credential: req.Credential}
	return a
}

func (h *Handler) challengeBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest, name, ceremony string) {
	a := h.answer(r, req.Challenge)
	a.Name = name
	opts, c, err := h.pool.PasskeyOptions(r.Context(), a, rp)
	if errors.Is(err, pool.ErrNotSignedIn) {
		err = pool.ErrChallengeExpired
	}
	if err != nil {
		h.passkeyError(w, r, "", ceremony, err)
		return
	}
	h.begun(w, r, opts, c)
}

func (h *Handler) challengeFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest, name, ceremony string) {
	c, ok := h.takeCeremony(w, r)
	if !ok {
		h.passkeyError(w, r, "", ceremony, pool.ErrChallengeExpired)
		return
	}
	rd, _ := SafeReturnTo(req.ReturnTo)
	step, err := h.pool.RespondToAuthChallenge(r.Context(), h.passkeyAnswer(r, name, rp, c, req))
	h.passkeyNext(w, r, ceremony, "", rd, step, err)
}

// enrolBegin and enrolFinish set up a passkey as the first factor, at a
// sign-in that must set one up (or a step-up): the session it starts has
// password and passkey.
func (h *Handler) enrolBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	h.challengeBegin(w, r, rp, req, pool.ChallengeMFASetup, "enrol")
}

func (h *Handler) enrolFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	h.challengeFinish(w, r, rp, req, pool.ChallengeMFASetup, "enrol")
}

func (h *Handler) secondFactorBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	h.challengeBegin(w, r, rp, req, pool.ChallengeWebAuthn, "second_factor")
}

func (h *Handler) secondFactorFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	h.challengeFinish(w, r, rp, req, pool.ChallengeWebAuthn, "second_factor")
}

func (h *Handler) passkeyBegin(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty) {
	opts, c, err := h.pool.BeginPasskeySignIn(r.Context(), rp)
	if err != nil {
		h.passkeyError(w, r, "", "passkey", err)
		return
	}
	h.begun(w, r, opts, c)
}

func (h *Handler) passkeyFinish(w http.ResponseWriter, r *http.Request, rp pool.RelyingParty, req webauthnRequest) {
	c, ok := h.takeCeremony(w, r)
	if !ok {
		h.passkeyError(w, r, "", "passkey", pool.ErrChallengeExpired)
		return
	}
	rd, _ := SafeReturnTo(req.ReturnTo)
	step, err := h.pool.InitiatePasskeyAuth(r.Context(), pool.PasskeyAnswer{RelyingParty: rp, Ceremony: c, Credential: req.Credential})
	email := ""
	if npr, ok := errors.AsType[*pool.NewPasswordRequiredError](err); ok {
		email = npr.User.Email
	}
	h.passkeyNext(w, r, "passkey", email, rd, step, err)
}

// passkeyError answers a refused or failed ceremony. email, when known,
// names the login in the sign-in log; ceremony names the endpoint.
func (h *Handler) passkeyError(w http.ResponseWriter, r *http.Request, email, ceremony string, err error) {
	if le, ok := errors.AsType[*pool.LockedOutError](err); ok {
		h.lockedOut(w, r, email, le)
		return
	}
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok {
		h.RenderError(w, r, http.StatusUnprocessableEntity, "Check the name", h.lang(r).T("Name: {{.Error}}", "Error", h.lang(r).T(fe["name"])))
		return
	}
	refuse := func(status int, reason, title, msg string) {
		h.log.Info("passkey refused", zap.String("ceremony", ceremony), zap.String("reason", reason),
			zap.String("email", clip(email)), zap.String("detail", clip(err.Error())), zap.String("remote_ip", h.clientIP(r)))
		h.RenderError(w, r, status, title, msg)
	}
	// On the account page's confirmation the way on without a passkey is
	// the current password, not a code or a sign-in.
	notVerified, noPasskey := "This passkey did not verify you with a PIN or biometrics; sign in with your password.", "You have no passkey for this site. Enter a code instead."
	if ceremony == "confirm" {
		notVerified = "This passkey did not verify you with a PIN or biometrics. Enter your current password instead."
		noPasskey = "You have no passkey for this site. Enter your current password instead."
	}
	switch {
	case errors.Is(err, pool.ErrChallengeExpired):
		refuse(http.StatusBadRequest, "expired", "Start again", "This step has expired. Reload the page and try again.")
	case errors.Is(err, pool.ErrPasskeyRefused):
		refuse(http.StatusUnauthorized, "refused", "Passkey not accepted",
			"The passkey was not accepted. Try again, or use another way to sign in.")
	case errors.Is(err, pool.ErrPasskeyUnknown):
		refuse(http.StatusUnauthorized, "unknown", "Passkey not recognized",
			"This passkey is not registered for this site. Use another passkey, or sign in with your password.")
	case errors.Is(err, pool.ErrPasskeyNotVerified):
		refuse(http.StatusUnauthorized, "not_verified", "Passkey not verified", notVerified)
	case errors.Is(err, pool.ErrPasskeyExists):
		refuse(http.StatusConflict, "exists", "Already added", "This passkey is registered already.")
	case errors.Is(err, pool.ErrTooManyFactors):
		refuse(http.StatusConflict, "too_many", "Too many authenticators", msgTooManyFactors)
	case errors.Is(err, pool.ErrNoSuchFactor):
		refuse(http.StatusConflict, "no_passkey", "No passkey", noPasskey)
	case errors.Is(err, pool.ErrMFAUnavailable):
		refuse(http.StatusForbidden, "mfa_off", "Not offered", "This site does not offer passkeys.")
	case errors.Is(err, pool.ErrUserDisabled):
		refuse(http.StatusForbidden, "user_disabled", "Cannot sign in", msgUserDisabled)
	case errors.Is(err, pool.ErrUserNotConfirmed):
		refuse(http.StatusForbidden, "user_not_confirmed", "Cannot sign in",
			"This account is not confirmed yet. Sign in with your email and password to confirm it.")
	case errors.Is(err, pool.ErrNewPasswordRequired):
		refuse(http.StatusForbidden, "new_password_required", "Choose a password first",
			"Your account has a temporary password. Sign in with it to choose your own before using a passkey.")
	case errors.Is(err, pool.ErrTemporaryPasswordExpired):
		refuse(http.StatusForbidden, "temporary_password_expired", "Temporary password expired",
			"Your temporary password has expired. Ask your administrator for a new one.")
	case errors.Is(err, pool.ErrPasswordResetRequired):
		refuse(http.StatusForbidden, "reset_required", "Password reset required",
			"Your password must be reset before you can sign in.")
	default:
		h.internalError(w, r, "a passkey ceremony", err)
	}
}
