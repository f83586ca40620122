package hostedui

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// sessionReader is what the account page needs of Sessions besides Start
// and End: who is signed in on this site. The gateway has it; Sessions
// that do not (a test double) get no account page.
type sessionReader interface {
	Authenticated(r *http.Request) (*middleware.Session, bool)
}

// session returns the session of this site that r carries, if any.
func (h *Handler) session(r *http.Request) (*middleware.Session, bool) {
	sr, ok := h.sessions.(sessionReader)
	if !ok {
		return nil, false
	}
	return sr.Authenticated(r)
}

// accountPage is what templates/account.html shows.
type accountPage struct {
	DisplayName   string
	CSRF          string
	Email         string
	EmailVerified bool
	Status        string
	Notice        string

	Fields         []field
	CanEditProfile bool
	ProfileError   string

	// Phone is the user's number (masked) in a pool that texts;
	// PhoneVerified says whether it is proved, PhoneCodeSent that a code
	// is on its way, PhoneCodeField asks for it.
	Phone          string
	PhoneVerified  bool
	PhoneCodeSent  bool
	PhoneError     string
	PhoneCodeField field

	CanChangeEmail bool
	PendingEmail   string
	EmailError     string
	EmailCodeField field
	NewEmailField  field

	PasswordError string
	PasswordRules []string

	CanDelete   bool
	DeleteError string

	// MFA is whether the pool offers second factors; Factors the user's.
	MFA          bool
	MFARequired  bool
	CanAddEmail  bool
	CanAddSMS    bool
	Factors      []factorView
	RecoveryLeft int
	MFAError     string

	// CanAddPasskey offers "Add a passkey" (webauthn.go).
	CanAddPasskey bool

	// The "confirm it's you" step (confirm.go): Confirmed while a
	// re-authentication stands (until ConfirmedUntil; ConfirmedBy how),
	// Strong when it was the password or a passkey (or, SignedIn, the
	// recent sign-in of a user without a password), enough to add a way
	// to sign in. ConfirmURL and StrongConfirmURL lead to the step, back
	// here; Window is how long a confirmation lasts.
	Confirmed        bool
	Strong           bool
	SignedIn         bool
	ConfirmedUntil   string
	ConfirmedBy      string
	ConfirmURL       string
	StrongConfirmURL string
	Window           string

	// SignedInAt is when this browser's session signed in (Devices).
	SignedInAt string

	// Identities is the "Linked accounts" part (federation_account.go);
	// nil when the pool has no outside providers.
	Identities    *identitySection
	IdentityError string
}

// factorView is one factor as the account page lists it.
type factorView struct {
	ID       string
	Name     string
	Passkey  bool
	Added    string
	LastUsed string
}

func passwordField(id, name, label, autocomplete, err string) field {
	return field{ID: id, Name: name, Label: label, Type: "password", Autocomplete: autocomplete, Error: err, Required: true}
}

// accountUser returns the signed-in user of this site, or answers: a
// browser without a session goes to sign in and comes back here.
func (h *Handler) accountUser(w http.ResponseWriter, r *http.Request) (*store.User, bool) {
	sr, ok := h.sessions.(sessionReader)
	if !ok {
		h.notFound(w, r)
		return nil, false
	}
	s, ok := sr.Authenticated(r)
	if !ok {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.RenderError(w, r, http.StatusUnauthorized, "Sign-in required", "You need to sign in to change your account.")
			return nil, false
		}
		rd, _ := SafeReturnTo(r.URL.RequestURI())
		seeOther(w, SignInPath+"?rd="+url.QueryEscape(rd))
		return nil, false
	}
	u, err := h.pool.User(r.Context(), s.UserID)
	if errors.Is(err, pool.ErrUserNotFound) {
		// Signed in at an outside provider, or deleted a moment ago.
		h.RenderError(w, r, http.StatusNotFound, "No account here",
			"Your account is not kept here, so there is nothing to show or change.")
		return nil, false
	}
	if err != nil {
		h.internalError(w, r, "reading the signed-in user", err)
		return nil, false
	}
	return u, true
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		u, ok := h.accountUser(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		p := accountPage{Notice: notices[q.Get("notice")]}
		p.EmailCodeField = codeField(clip(q.Get("code")), "")
		p.PhoneCodeSent = q.Get("notice") == "phone_code_sent"
		h.renderAccount(w, r, http.StatusOK, u, p, nil, nil)
	case http.MethodPost:
		h.accountPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

// renderAccount fills in what p does not already say from u; values and
// errs are the profile form as sent, when it is shown again with errors.
func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, status int, u *store.User, p accountPage, values map[string]string, errs pool.FieldErrors) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	acct := h.pool.Accounts()
	p.DisplayName, p.CSRF = h.displayName, tok
	p.Email, p.EmailVerified, p.Status = u.Email, u.EmailVerified, pool.DisplayStatus(u)
	current := map[string]string{"name": u.Name}
	for k, v := range u.Attributes {
		current[k] = v
	}
	for k, v := range values {
		current[k] = v
	}
	p.Fields = h.attributeFields(h.lang(r), current, errs, true)
	for _, a := range acct.Attributes {
		if !a.Immutable {
			p.CanEditProfile = true
		}
	}
	if number, verified := pool.Phone(u); h.pool.CanText() && number != "" {
		p.Phone, p.PhoneVerified = sms.Mask(number), verified
		if p.PhoneCodeField.ID == "" {
			p.PhoneCodeField = codeField("", "")
			p.PhoneCodeField.ID, p.PhoneCodeField.Name = "f-phone-code", "phone_code"
			p.PhoneCodeField.Hint = "The 6 digits from the text message."
		}
	}
	p.CanChangeEmail = h.pool.CanMail()
	if p.CanChangeEmail {
		target, _, err := h.pool.PendingEmailChange(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading a pending email change", err)
			return
		}
		p.PendingEmail = target
	}
	if p.EmailCodeField.ID == "" {
		p.EmailCodeField = codeField("", "")
	}
	if p.NewEmailField.ID == "" {
		p.NewEmailField = field{ID: "f-new-email", Name: "new_email", Label: "New email address", Type: "email",
			Autocomplete: "email", InputMode: "email", Required: true, MaxLength: 254}
	}
	p.PasswordRules = passwordRules(h.lang(r), h.pool.PasswordPolicy())
	if mode := h.pool.MFA().Mode; mode != pool.MFAOff {
		p.MFA, p.MFARequired = true, mode == pool.MFARequired
		fs, err := h.pool.Factors(r.Context(), u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		p.CanAddEmail = h.pool.CanEmailCodes()
		_, verified := pool.Phone(u)
		p.CanAddSMS = h.pool.CanTextCodes() && verified
		p.CanAddPasskey = h.passkeysOffered(r)
		for _, f := range fs {
			p.CanAddEmail = p.CanAddEmail && f.Kind != store.FactorEmail
			p.CanAddSMS = p.CanAddSMS && f.Kind != store.FactorSMS
			v := factorView{ID: f.ID, Name: f.Name, Passkey: f.Kind == store.FactorWebAuthn, Added: f.CreatedAt.UTC().Format(h.lang(r).T(layoutDate))}
			if !f.LastUsedAt.IsZero() {
				v.LastUsed = f.LastUsedAt.UTC().Format(h.lang(r).T(layoutDateTime))
			}
			p.Factors = append(p.Factors, v)
		}
		if len(fs) > 0 {
			if p.RecoveryLeft, err = h.pool.RecoveryCodesLeft(r.Context(), u.ID); err != nil {
				h.internalError(w, r, "counting recovery codes", err)
				return
			}
		}
	}
	if a := h.reauthOf(r, u); a.ok() {
		p.Confirmed, p.Strong, p.SignedIn = true, a.strong(), a.Method == reauthSignIn
		p.ConfirmedUntil, p.ConfirmedBy = a.Until.UTC().Format(h.lang(r).T(layoutTime)), a.Method
	}
	p.ConfirmURL = confirmURL(AccountPath, needAny, false)
	p.StrongConfirmURL = confirmURL(AccountPath+"#security", needStrong, false)
	p.Window = humanWait(h.lang(r), h.reauthWindow())
	sec, err := h.identitySectionFor(r, u)
	if err != nil {
		h.internalError(w, r, "reading the user's linked identities", err)
		return
	}
	if sec != nil {
		sec.Error = p.IdentityError
	}
	p.Identities = sec
	p.CanDelete = acct.AllowDelete
	if s, ok := h.session(r); ok && s.AuthTime > 0 {
		p.SignedInAt = time.Unix(0, s.AuthTime).UTC().Format(h.lang(r).T(layoutDateTime))
	}
	h.render(w, r, status, h.pages.account, p)
}

func (h *Handler) accountPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "account") {
		return
	}
	u, ok := h.accountUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	f := r.PostForm
	ip := h.clientIP(r)
	log := h.log.With(zap.String("user_id", u.ID), zap.String("remote_ip", ip))
	var p accountPage
	switch action := f.Get("action"); action {
	case "profile":
		values := map[string]string{}
		for _, a := range h.pool.Accounts().Attributes {
			if vs, ok := f[a.Name]; ok && !a.Immutable {
				values[a.Name] = vs[0]
			}
		}
		_, err := h.pool.UpdateProfile(ctx, u.ID, values)
		if fe, ok := errors.AsType[pool.FieldErrors](err); ok {
			p.ProfileError = msgFixFields
			h.renderAccount(w, r, http.StatusUnprocessableEntity, u, p, values, fe)
			return
		}
		if err != nil {
			h.internalError(w, r, "saving a profile", err)
			return
		}
		log.Info("profile saved")
		seeOther(w, AccountPath+"?notice=profile_saved")

	case "password":
		// A new password needs the old one, or a passkey, within the
		// window: a second factor alone does not hand over the password.
		confirm, err := h.proof(r, u, f.Get("current_password"), needStrong)
		if errors.Is(err, errReauthNeeded) {
			h.toConfirm(w, r, u, needStrong, "password-heading")
			return
		}
		nu, err := h.pool.ChangePassword(ctx, u.ID, confirm, f.Get("new_password"))
		if h.refusedProof(w, r, u, err) {
			return
		}
		if pe, ok := errors.AsType[*pool.PasswordPolicyError](err); ok {
			p.PasswordError = h.lang(r).T("New password {{.Rule}}.", "Rule", h.lang(r).T(pe.Rule))
			h.renderAccount(w, r, http.StatusUnprocessableEntity, u, p, nil, nil)
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, pool.ErrInvalidCredentials):
			p.PasswordError = msgNotConfirmed(confirm.Password)
			h.renderAccount(w, r, http.StatusUnauthorized, u, p, nil, nil)
			return
		default:
			h.internalError(w, r, "changing a password", err)
			return
		}
		// Every session was ended; this browser gets a new one, as
		// strong as the one it had.
		if err := h.sessions.Start(w, r, nu, h.currentAMR(r)); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		log.Info("password changed")
		seeOther(w, AccountPath+"?notice=password_changed")

	case "email":
		newEmail := f.Get("new_email")
		confirm, err := h.proof(r, u, f.Get("password"), needAny)
		if errors.Is(err, errReauthNeeded) {
			h.toConfirm(w, r, u, needAny, "email-heading")
			return
		}
		_, err = h.pool.RequestEmailChange(ctx, u.ID, confirm, newEmail)
		if h.refusedProof(w, r, u, err) {
			return
		}
		p.NewEmailField = field{ID: "f-new-email", Name: "new_email", Label: "New email address", Type: "email",
			Autocomplete: "email", InputMode: "email", Required: true, MaxLength: 254, Value: newEmail}
		if tooSoon, ok := errors.AsType[*pool.TooSoonError](err); ok {
			p.EmailError = h.lang(r).T("We sent a code moments ago. Wait {{.Wait}} before asking for another.", "Wait", humanWait(h.lang(r), tooSoon.Wait))
			h.renderAccount(w, r, http.StatusTooManyRequests, u, p, nil, nil)
			return
		}
		status := http.StatusUnprocessableEntity
		switch {
		case err == nil:
			log.Info("email change asked")
			seeOther(w, AccountPath+"?notice=email_code_sent")
			return
		case errors.Is(err, pool.ErrMailNotSent):
			p.EmailError, status = "We could not send the email just now. Cancel the change and ask again in a moment.", http.StatusServiceUnavailable
		case errors.Is(err, pool.ErrInvalidCredentials):
			p.EmailError, status = msgNotConfirmed(f.Get("password")), http.StatusUnauthorized
		case errors.Is(err, pool.ErrInvalidEmail):
			p.NewEmailField.Error = "Enter a valid email address, such as name@example.com."
			p.EmailError = msgFixFields
		case errors.Is(err, pool.ErrSameEmail):
			p.NewEmailField.Error = "This is already your address."
			p.EmailError = msgFixFields
		default:
			h.internalError(w, r, "starting an email change", err)
			return
		}
		h.renderAccount(w, r, status, u, p, nil, nil)

	case "email_confirm":
		code := f.Get("code")
		nu, err := h.pool.ConfirmEmailChange(ctx, u.ID, code)
		switch {
		case err == nil:
		case errors.Is(err, pool.ErrWrongCode), errors.Is(err, pool.ErrCodeExpired), errors.Is(err, pool.ErrEmailTaken):
			msg := msgWrongCode
			if errors.Is(err, pool.ErrCodeExpired) {
				msg = "That code has expired or was used up. Cancel the change and ask again."
			} else if errors.Is(err, pool.ErrEmailTaken) {
				msg = "That address is already used by another account."
			}
			p.EmailError = msg
			p.EmailCodeField = codeField(code, msg)
			h.renderAccount(w, r, http.StatusBadRequest, u, p, nil, nil)
			return
		default:
			h.internalError(w, r, "confirming an email change", err)
			return
		}
		if err := h.sessions.Start(w, r, nu, h.currentAMR(r)); err != nil {
			h.internalError(w, r, "starting the session", err)
			return
		}
		log.Info("email changed", zap.String("email", nu.Email))
		seeOther(w, AccountPath+"?notice=email_changed")

	case "email_cancel":
		if err := h.pool.CancelEmailChange(ctx, u.ID); err != nil {
			h.internalError(w, r, "cancelling an email change", err)
			return
		}
		seeOther(w, AccountPath+"?notice=email_cancelled")

	case "signout_all":
		confirm, err := h.proof(r, u, f.Get("password"), needAny)
		if errors.Is(err, errReauthNeeded) {
			h.toConfirm(w, r, u, needAny, "devices")
			return
		}
		if err := h.verifyTyped(r, u, confirm); err != nil {
			if h.refusedProof(w, r, u, err) {
				return
			}
			if errors.Is(err, pool.ErrInvalidCredentials) {
				h.RenderError(w, r, http.StatusUnauthorized, "Not confirmed", msgNotConfirmed(f.Get("password")))
				return
			}
			h.internalError(w, r, "checking the password", err)
			return
		}
		if err := h.pool.SignOutEverywhere(ctx, u.ID); err != nil {
			h.internalError(w, r, "signing out everywhere", err)
			return
		}
		if err := h.sessions.End(w, r); err != nil {
			h.internalError(w, r, "ending the session", err)
			return
		}
		log.Info("signed out everywhere")
		seeOther(w, SignInPath+"?notice=signed_out_all")

	case "delete":
		confirm, err := h.proof(r, u, f.Get("password"), needAny)
		if errors.Is(err, errReauthNeeded) {
			h.toConfirm(w, r, u, needAny, "delete-heading")
			return
		}
		err = h.pool.DeleteOwnAccount(ctx, u.ID, confirm)
		if h.refusedProof(w, r, u, err) {
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, pool.ErrDeleteNotAllowed):
			h.RenderError(w, r, http.StatusForbidden, "Not allowed", "Accounts cannot be deleted here. Ask your administrator.")
			return
		case errors.Is(err, pool.ErrInvalidCredentials):
			p.DeleteError = msgNotConfirmed(f.Get("password"))
			h.renderAccount(w, r, http.StatusUnauthorized, u, p, nil, nil)
			return
		default:
			h.internalError(w, r, "deleting an account", err)
			return
		}
		if err := h.sessions.End(w, r); err != nil {
			h.log.Warn("ending the session of a deleted account failed", zap.Error(err))
		}
		log.Info("account deleted by its user", zap.String("email", u.Email))
		seeOther(w, SignInPath+"?notice=deleted")

	case "idp_link", "idp_unlink":
		h.accountIdentity(w, r, u, action, log)

	case "mfa_add", "mfa_email", "mfa_sms", "mfa_remove", "mfa_codes":
		h.accountMFA(w, r, u, action, log)

	case "phone_send", "phone_verify":
		h.accountPhone(w, r, u, action, log)

	default:
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "The form sent asks for nothing this page does.")
	}
}

// accountMFA adds or removes a factor, or replaces the recovery codes,
// each only on fresh proof (confirm.go): adding a factor or making
// recovery codes takes the password or a passkey; removing one, any
// re-authentication.
func (h *Handler) accountMFA(w http.ResponseWriter, r *http.Request, u *store.User, action string, log *zap.Logger) {
	ctx := r.Context()
	f := r.PostForm
	if h.pool.MFA().Mode == pool.MFAOff {
		h.RenderError(w, r, http.StatusForbidden, "Not offered", "This site does not offer two-step verification.")
		return
	}
	n := needStrong
	if action == "mfa_remove" {
		n = needAny
	}
	confirm, err := h.proof(r, u, f.Get("password"), n)
	if errors.Is(err, errReauthNeeded) {
		h.toConfirm(w, r, u, n, "mfa-heading")
		return
	}
	if err := h.verifyTyped(r, u, confirm); err != nil {
		if h.refusedProof(w, r, u, err) {
			return
		}
		if errors.Is(err, pool.ErrInvalidCredentials) {
			h.renderAccount(w, r, http.StatusUnauthorized, u, accountPage{MFAError: msgNotConfirmed(f.Get("password"))}, nil, nil)
			return
		}
		h.internalError(w, r, "checking the password", err)
		return
	}
	switch action {
	case "mfa_add", "mfa_email":
		step, err := h.pool.StartEnrolment(ctx, h.client(r), u, f.Get("name"), action == "mfa_email")
		h.next(w, r, atAccount, u.Email, AccountPath, step, err)
	case "mfa_sms":
		step, err := h.pool.StartSMSEnrolment(ctx, h.client(r), u)
		if errors.Is(err, pool.ErrPhoneNotVerified) {
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{MFAError: "Verify your phone number first."}, nil, nil)
			return
		}
		h.next(w, r, atAccount, u.Email, AccountPath, step, err)
	case "mfa_remove":
		err := h.pool.RemoveFactor(ctx, u.ID, f.Get("factor"))
		if errors.Is(err, pool.ErrNoSuchFactor) {
			h.renderAccount(w, r, http.StatusNotFound, u, accountPage{MFAError: "That authenticator was removed already."}, nil, nil)
			return
		}
		if err != nil {
			h.internalError(w, r, "removing a factor", err)
			return
		}
		log.Info("authenticator removed")
		seeOther(w, AccountPath+"?notice=mfa_removed")
	case "mfa_codes":
		fs, err := h.pool.Factors(ctx, u.ID)
		if err != nil {
			h.internalError(w, r, "reading the user's factors", err)
			return
		}
		if len(fs) == 0 {
			h.renderAccount(w, r, http.StatusConflict, u, accountPage{MFAError: "Set up an authenticator app first."}, nil, nil)
			return
		}
		codes, err := h.pool.RegenerateRecoveryCodes(ctx, u.ID)
		if err != nil {
			h.internalError(w, r, "making recovery codes", err)
			return
		}
		log.Info("recovery codes replaced")
		h.render(w, r, http.StatusOK, h.pages.recoveryCodes, recoveryCodesPage{
			DisplayName: h.displayName, Codes: codes, Replaced: true, ContinueTo: AccountPath,
		})
	}
}

// currentAMR is how this site's session signed in, for a session that
// replaces it; a password when there is none.
func (h *Handler) currentAMR(r *http.Request) []string {
	if s, ok := h.session(r); ok && len(s.AMR) > 0 {
		return s.AMR
	}
	return []string{pool.AMRPassword}
}
