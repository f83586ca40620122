package hostedui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Messages of the account pages, in one place.
const (
	msgFixFields = "Please correct the fields marked below."
	// msgBadCode is the one answer to a code that is wrong, expired or used
	// up, and to an address without an account: telling them apart would
	// tell which addresses have accounts.
	msgBadCode = "That code is not right, or it has expired. Check the latest email we sent, or ask for a new code."
	// msgBadConfirmation is msgBadCode for the confirmation form, which
	// also takes the password chosen at sign-up.
	msgBadConfirmation = "That code or password is not right, or the code has expired. Use the latest email we sent and the password you signed up with, or ask for a new code."
	// msgWrongCode is for a signed-in user's own codes (the account page),
	// where there is no address to give away.
	msgWrongCode = "That code is not right. Check the latest email we sent and try again."
)

// signUpPage is what templates/signup.html shows.
type signUpPage struct {
	DisplayName   string
	CSRF          string
	ReturnTo      string
	Error         string
	EmailField    field
	PasswordError string
	// FocusPassword: the password is the first field in error.
	FocusPassword bool
	PasswordRules []string
	Fields        []field
	// Providers are the outside providers' buttons: signing up with one
	// is signing in with it.
	Providers []providerButton
}

// attributeFields makes the form fields of the pool's attributes, filled
// with values and marked with errs.
func (h *Handler) attributeFields(l *locale.Language, values map[string]string, errs pool.FieldErrors, forAccount bool) []field {
	specs := h.pool.Accounts().Attributes
	out := make([]field, 0, len(specs))
	for _, a := range specs {
		f := field{
			ID:        fieldID(a.Name),
			Name:      a.Name,
			Label:     a.Label(),
			Type:      "text",
			Value:     values[a.Name],
			Hint:      poolText(l, a.Hint()),
			Error:     poolText(l, errs[a.Name]),
			Required:  a.Required,
			ReadOnly:  forAccount && a.Immutable,
			MaxLength: a.MaxLength,
		}
		switch a.Format() {
		case "phone":
			f.Type, f.Autocomplete = "tel", "tel"
		case "url":
			f.Type = "url"
		case "date":
			f.Type = "date"
		case "number":
			f.InputMode = "numeric"
		}
		switch a.Name {
		case "name", "given_name", "family_name", "nickname":
			f.Autocomplete = strings.ReplaceAll(a.Name, "_", "-")
		case "middle_name":
			f.Autocomplete = "additional-name"
		case "birthdate":
			f.Autocomplete = "bday"
		case "locale":
			f.Autocomplete = "language"
		case "preferred_username":
			f.Autocomplete = "username"
		case "address":
			f.Autocomplete = "street-address"
		}
		if f.MaxLength == 0 && a.Format() != "number" && a.Format() != "boolean" {
			f.MaxLength = 256
		}
		out = append(out, f)
	}
	return out
}

func emailField(value, err string) field {
	return field{ID: "f-email", Name: "email", Label: "Email", Type: "email", Value: value,
		Autocomplete: "username", InputMode: "email", Error: err, Required: true, MaxLength: 254}
}

func codeField(value, err string) field {
	return field{ID: "f-code", Name: "code", Label: "Code", Type: "text", Value: value,
		Autocomplete: "one-time-code", InputMode: "numeric", Hint: "The 6 digits from the email.",
		Error: err, Required: true, MaxLength: 16}
}

func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	if h.pool.Accounts().SignUp != pool.SignUpOpen {
		h.notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		rd, _ := SafeReturnTo(r.URL.Query().Get("rd"))
		h.renderSignUp(w, r, http.StatusOK, rd, nil, nil)
	case http.MethodPost:
		h.signUpPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (h *Handler) renderSignUp(w http.ResponseWriter, r *http.Request, status int, rd string, values map[string]string, errs pool.FieldErrors) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	errs = poolErrors(h.lang(r), errs)
	p := signUpPage{
		DisplayName:   h.displayName,
		CSRF:          tok,
		ReturnTo:      rd,
		EmailField:    emailField(values["email"], errs["email"]),
		PasswordError: errs["password"],
		PasswordRules: passwordRules(h.lang(r), h.pool.PasswordPolicy()),
		Fields:        h.attributeFields(h.lang(r), h.withPageLocale(r, values), errs, false),
		Providers:     h.buttons(),
	}
	if h.pool.SignsInWith(pool.LoginUsername) {
		// The username field is the one password managers save.
		p.EmailField.Autocomplete = "email"
	}
	if len(errs) > 0 {
		p.Error = msgFixFields
	}
	password := field{Error: p.PasswordError}
	focusFirstError(append([]*field{&p.EmailField, &password}, fieldPtrs(p.Fields)...)...)
	p.FocusPassword = password.Autofocus
	if msg := errs[""]; msg != "" {
		p.Error = msg // a refusal of the whole form (the pre sign-up hook's)
	}
	h.render(w, r, status, h.pages.signUp, p)
}

func (h *Handler) signUpPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "sign-up") {
		return
	}
	f := r.PostForm
	rd, _ := SafeReturnTo(f.Get("rd"))
	req := pool.SignUpRequest{Email: f.Get("email"), Password: f.Get("password"), Attributes: map[string]string{}}
	values := map[string]string{"email": req.Email}
	for _, a := range h.pool.Accounts().Attributes {
		if vs, ok := f[a.Name]; ok {
			req.Attributes[a.Name] = vs[0]
			values[a.Name] = vs[0]
		}
	}
	if v, asked := req.Attributes["locale"]; asked && v == "" && h.collectsLocale() {
		req.Attributes["locale"] = h.lang(r).Tag
	}
	// The answer depends on the form alone: the work and the mail for the
	// address come after it (pool.Later), so that neither the page nor its
	// timing says whether the address has an account.
	ps, err := h.pool.PrepareSignUp(r.Context(), req)
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok {
		// The values typed are kept, the password never.
		h.renderSignUp(w, r, http.StatusUnprocessableEntity, rd, values, fe)
		return
	}
	if te, ok := errors.AsType[*trigger.Error](err); ok && te.Denied {
		// The pre sign-up hook refused, from the form alone (it is asked
		// before the address is looked at): its message, on the form.
		h.renderSignUp(w, r, http.StatusForbidden, rd, values, pool.FieldErrors{"": sentence(te.Reason)})
		return
	}
	if err != nil {
		h.internalError(w, r, "signing up", err)
		return
	}
	email := ps.Email()
	if err := h.pool.Later(r.Context(), "sign-up", func(ctx context.Context) error {
		return h.pool.CompleteSignUp(ctx, ps)
	}); err != nil {
		h.log.Warn("sign-up not completed", zap.String("email", clip(email)), zap.Error(err))
	}
	q := url.Values{"email": {email}}
	if rd != "/" {
		q.Set("rd", rd)
	}
	h.log.Info("sign-up", zap.String("email", clip(email)), zap.String("remote_ip", h.clientIP(r)))
	if ps.Confirmed() {
		// The pre sign-up hook confirmed it (from the form alone, so this
		// says nothing of the address either): no code to enter.
		q.Del("email")
		q.Set("notice", "signed_up")
		seeOther(w, SignInPath+"?"+q.Encode())
		return
	}
	seeOther(w, ConfirmPath+"?"+q.Encode())
}

// confirmPage is what templates/confirm.html shows.
type confirmPage struct {
	DisplayName string
	CSRF        string
	ReturnTo    string
	Email       string
	Notice      string
	Error       string
	EmailField  field
	CodeField   field
	// PasswordField asks for the password chosen at sign-up: confirming
	// activates only a password its confirmer knows (pool.ConfirmSignUp).
	PasswordField field
	codeError     string
	code          string
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if !h.pool.CanMail() {
		h.notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		rd, _ := SafeReturnTo(q.Get("rd"))
		p := confirmPage{Email: clip(q.Get("email")), ReturnTo: rd, code: clip(q.Get("code")), Notice: notices[q.Get("notice")]}
		h.renderConfirm(w, r, http.StatusOK, p)
	case http.MethodPost:
		h.confirmPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (h *Handler) renderConfirm(w http.ResponseWriter, r *http.Request, status int, p confirmPage) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	p.DisplayName, p.CSRF = h.displayName, tok
	p.EmailField = h.loginField(p.Email, "")
	p.CodeField = codeField(p.code, p.codeError)
	p.PasswordField = field{ID: "f-password", Name: "password", Label: "Password", Type: "password",
		Autocomplete: "current-password", Hint: "The password you chose when you signed up.", Required: true}
	focusFirstError(&p.EmailField, &p.CodeField, &p.PasswordField)
	h.render(w, r, status, h.pages.confirm, p)
}

func (h *Handler) confirmPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "confirmation") {
		return
	}
	f := r.PostForm
	rd, _ := SafeReturnTo(f.Get("rd"))
	email := f.Get("email")
	p := confirmPage{Email: email, ReturnTo: rd}
	if f.Get("action") == "resend" {
		// The same answer for every address, at once: whether it waits
		// for confirmation, whether the cool-down allows another code, and
		// whether the mail goes out are decided after it.
		if e, err := pool.NormalizeEmail(email); err == nil {
			email = e
			if err := h.pool.Later(r.Context(), "re-sending a confirmation code", func(ctx context.Context) error {
				err := h.pool.ResendConfirmation(ctx, e)
				if _, ok := errors.AsType[*pool.TooSoonError](err); ok {
					return nil
				}
				return err
			}); err != nil {
				h.log.Warn("confirmation code not re-sent", zap.String("email", clip(e)), zap.Error(err))
			}
		}
		q := url.Values{"email": {email}, "notice": {"code_sent"}}
		if rd != "/" {
			q.Set("rd", rd)
		}
		seeOther(w, ConfirmPath+"?"+q.Encode())
		return
	}
	u, err := h.pool.ConfirmSignUp(r.Context(), email, f.Get("code"), f.Get("password"))
	switch {
	case err == nil:
	case errors.Is(err, pool.ErrWrongCode), errors.Is(err, pool.ErrCodeExpired):
		p.codeError, p.Error = msgBadConfirmation, msgBadConfirmation
		h.renderConfirm(w, r, http.StatusBadRequest, p)
		return
	default:
		h.internalError(w, r, "confirming an address", err)
		return
	}
	h.log.Info("address confirmed", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
	q := url.Values{"notice": {"confirmed"}, "login_hint": {u.Email}}
	if rd != "/" {
		q.Set("rd", rd)
	}
	seeOther(w, SignInPath+"?"+q.Encode())
}

// formReturnTo is the safe rd of r's form, or of its query for a GET.
func formReturnTo(r *http.Request) string {
	rd := r.URL.Query().Get("rd")
	if r.PostForm != nil && r.Method == http.MethodPost {
		rd = r.PostForm.Get("rd")
	}
	rd, _ = SafeReturnTo(rd)
	return rd
}

func humanWait(l *locale.Language, d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s <= 1 {
		return l.T("a second")
	}
	if s < 90 {
		return l.T("{{.Count}} seconds", "Count", s)
	}
	return l.T("{{.Count}} minutes", "Count", (s+59)/60)
}

// passwordRules describes the policy for a form in l, one rule per line.
func passwordRules(l *locale.Language, p pool.PasswordPolicy) []string {
	lo, hi := p.Lengths()
	rules := []string{l.T("{{.Min}} to {{.Max}} characters", "Min", lo, "Max", hi)}
	var classes []string
	if p.RequireLowercase {
		classes = append(classes, l.T("a lowercase letter"))
	}
	if p.RequireUppercase {
		classes = append(classes, l.T("an uppercase letter"))
	}
	if p.RequireDigit {
		classes = append(classes, l.T("a digit"))
	}
	if p.RequireSymbol {
		classes = append(classes, l.T("a symbol"))
	}
	if len(classes) > 0 {
		rules = append(rules, l.T("at least {{.Classes}}", "Classes", strings.Join(classes, l.T(", "))))
	}
	if !p.AllowCommon {
		rules = append(rules, l.T("not a commonly used password"))
	}
	if !p.AllowEmail {
		rules = append(rules, l.T("not containing your email address"))
	}
	return rules
}

// forgotPage and resetPage are what templates/forgot.html and reset.html
// show.
type forgotPage struct {
	DisplayName string
	CSRF        string
	// ReturnTo is the page the sign-in after the reset goes back to:
	// kept through the reset so an app's sign-in resumes (and keeps its
	// client's branding).
	ReturnTo   string
	Error      string
	EmailField field
	// ResetRequired: sign-in sent the user here (reset_required=1), their
	// account needing a new password first (an imported one).
	ResetRequired bool
	// Texts: the code may go by text message (to a verified number of
	// an account whose address is not verified). The page says so for
	// every address alike.
	Texts bool
	// Login is what the pool signs in with (aliases.go).
	Login loginInput
}

type resetPage struct {
	DisplayName   string
	CSRF          string
	ReturnTo      string
	Email         string
	Sent          bool
	Error         string
	EmailField    field
	CodeField     field
	PasswordError string
	// FocusPassword: the password is the first field in error.
	FocusPassword bool
	PasswordRules []string
	Texts         bool
}

// canReset reports whether a forgotten password can be reset here: the
// pool mails codes, or texts them (to users whose number is verified and
// address is not).
func (h *Handler) canReset() bool { return h.pool.CanMail() || h.pool.CanText() }

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	if !h.canReset() {
		h.notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.renderForgot(w, r, http.StatusOK, clip(r.URL.Query().Get("email")), "")
	case http.MethodPost:
		h.forgotPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (h *Handler) renderForgot(w http.ResponseWriter, r *http.Request, status int, email, emailErr string) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	p := forgotPage{DisplayName: h.displayName, CSRF: tok, EmailField: h.loginField(email, emailErr), Texts: h.pool.CanText(),
		Login:         h.loginInput(),
		ResetRequired: r.URL.Query().Get("reset_required") == "1", ReturnTo: formReturnTo(r)}
	if emailErr != "" {
		p.Error = msgFixFields
	}
	focusFirstError(&p.EmailField)
	h.render(w, r, status, h.pages.forgot, p)
}

// forgotPost answers at once and the same way for every address: whether
// it has an account, and whether the mail could be sent, happen after the
// answer, so neither the page nor its timing tells them apart. A failed
// send is logged; the page says the mail may take a minute and offers to
// ask again.
func (h *Handler) forgotPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "password reset") {
		return
	}
	raw := r.PostForm.Get("email")
	// Any login the pool signs in with (aliases.go), told apart by its
	// shape alone: whether it has an account is found after the answer.
	email := h.loginKey(raw)
	if email == "" {
		msg := msgInvalidEmailFieldFormat
		if !h.loginInput().EmailOnly() {
			msg = msgEnterLogin
		}
		h.renderForgot(w, r, http.StatusUnprocessableEntity, raw, msg)
		return
	}
	ip := h.clientIP(r)
	if err := h.pool.Later(r.Context(), "sending a password reset code", func(ctx context.Context) error {
		return h.pool.ForgotPassword(ctx, email)
	}); err != nil {
		h.log.Warn("password reset code not sent", zap.String("email", clip(email)), zap.Error(err), zap.String("remote_ip", ip))
	}
	h.log.Info("password reset asked", zap.String("email", clip(email)), zap.String("remote_ip", ip))
	q := url.Values{"email": {email}, "sent": {"1"}}
	if rd := formReturnTo(r); rd != "/" {
		q.Set("rd", rd)
	}
	seeOther(w, ResetPath+"?"+q.Encode())
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	if !h.canReset() {
		h.notFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		h.renderReset(w, r, http.StatusOK, resetPage{Email: clip(q.Get("email")), Sent: q.Get("sent") == "1",
			CodeField: codeField(clip(q.Get("code")), "")})
	case http.MethodPost:
		h.resetPost(w, r)
	default:
		h.methodNotAllowed(w, r, "GET, HEAD, POST")
	}
}

func (h *Handler) renderReset(w http.ResponseWriter, r *http.Request, status int, p resetPage) {
	tok, ok := h.issueCSRF(w, r)
	if !ok {
		return
	}
	p.DisplayName, p.CSRF, p.Texts, p.ReturnTo = h.displayName, tok, h.pool.CanText(), formReturnTo(r)
	p.EmailField = h.loginField(p.Email, "")
	if p.CodeField.ID == "" {
		p.CodeField = codeField("", "")
	}
	p.PasswordRules = passwordRules(h.lang(r), h.pool.PasswordPolicy())
	password := field{Error: p.PasswordError}
	focusFirstError(&p.EmailField, &p.CodeField, &password)
	p.FocusPassword = password.Autofocus
	h.render(w, r, status, h.pages.reset, p)
}

func (h *Handler) resetPost(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r, "password reset") {
		return
	}
	f := r.PostForm
	email, code := f.Get("email"), f.Get("code")
	p := resetPage{Email: email, CodeField: codeField(code, "")}
	u, err := h.pool.ResetPassword(r.Context(), email, code, f.Get("password"))
	if pe, ok := errors.AsType[*pool.PasswordPolicyError](err); ok {
		p.PasswordError = h.lang(r).T("Password {{.Rule}}.", "Rule", h.lang(r).T(pe.Rule))
		p.Error = msgFixFields
		h.renderReset(w, r, http.StatusUnprocessableEntity, p)
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, pool.ErrWrongCode), errors.Is(err, pool.ErrCodeExpired):
		p.CodeField.Error, p.Error = msgBadCode, msgBadCode
		h.renderReset(w, r, http.StatusBadRequest, p)
		return
	default:
		h.internalError(w, r, "resetting a password", err)
		return
	}
	h.log.Info("password reset", zap.String("user_id", u.ID), zap.String("remote_ip", h.clientIP(r)))
	// The login it was reset by, as the user signs in with it.
	hint := u.Email
	if k := h.loginKey(email); k != "" {
		hint = k
	}
	q := url.Values{"notice": {"reset"}, "login_hint": {hint}}
	if rd := formReturnTo(r); rd != "/" {
		q.Set("rd", rd)
	}
	seeOther(w, SignInPath+"?"+q.Encode())
}

// The "choose a new password" step after a temporary password: the form
// carries the pool's NEW_PASSWORD_REQUIRED challenge, which proves the
// temporary password was typed without keeping it.
type newPasswordPage struct {
	DisplayName   string
	CSRF          string
	ReturnTo      string
	Challenge     string
	Email         string
	Error         string
	PasswordRules []string
}

func (h *Handler) newPassword(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// The step starts from the sign-in form, never from a link.
		h.methodNotAllowed(w, r, "POST")
		return
	}
	if !h.readForm(w, r, "new password") {
		return
	}
	f := r.PostForm
	rd, _ := SafeReturnTo(f.Get("rd"))
	a := h.answer(r, f.Get("challenge"))
	a.Name, a.NewPassword = pool.ChallengeNewPasswordRequired, f.Get("password")
	step, err := h.pool.RespondToAuthChallenge(r.Context(), a)
	if err == nil {
		h.log.Info("new password chosen", zap.String("user_id", step.User.ID), zap.String("remote_ip", h.clientIP(r)))
	}
	h.next(w, r, atNewPassword, "", rd, step, err)
}

// collectsLocale reports whether the pool asks for the locale attribute
// at sign-up.
func (h *Handler) collectsLocale() bool {
	for _, a := range h.pool.Accounts().Attributes {
		if a.Name == "locale" {
			return true
		}
	}
	return false
}

// withPageLocale fills an empty locale field with the page's language: a
// pool that collects the attribute then keeps the language the user signed
// up in (and can change it in the form), and its mails follow it. A pool
// that does not collect it stores none: its mails follow the language of
// the page that caused them.
func (h *Handler) withPageLocale(r *http.Request, values map[string]string) map[string]string {
	if values["locale"] != "" || !h.collectsLocale() {
		return values
	}
	out := make(map[string]string, len(values)+1)
	for k, v := range values {
		out[k] = v
	}
	out["locale"] = h.lang(r).Tag
	return out
}
