package hostedui

import "github.com/gatehouse-auth/gatehouse/pool"

// How the pages ask for the login, per the pool's sign_in_with (Cognito's
// username attributes and aliases, pool/aliases.go): the sign-in,
// forgotten password and reset pages' field.

// Labels of the login field, by what the pool signs in with.
const (
	labelEmail                 = "Email"
	labelUsername              = "Username"
	labelPhone                 = "Phone number"
	labelEmailOrUsername       = "Email or username"
	labelEmailOrPhone          = "Email or phone number"
	labelUsernameOrPhone       = "Username or phone number"
	labelEmailUsernameOrPhone  = "Email, username or phone number"
	msgInvalidLogin            = "Incorrect login or password."
	msgEnterLogin              = "Enter what you sign in with: an email address, username or phone number, as this site allows."
	msgPhoneTaken              = "This number is verified on another account. Remove it there, or use another number."
	hintPhoneLogin             = "With the country code, such as +14155550123."
	msgInvalidEmailFieldFormat = "Enter a valid email address, such as name@example.com."
)

// loginInput says how the login field is drawn.
type loginInput struct {
	Email, Username, Phone bool
	// Type and InputMode of the input: an address alone is type=email,
	// a number alone type=tel, a mix plain text (no input mode: the
	// keyboard must offer letters and '@').
	Type, InputMode string
}

// EmailOnly reports whether the login is the email address alone, as in
// a pool without aliases.
func (l loginInput) EmailOnly() bool { return l.Email && !l.Username && !l.Phone }

func (h *Handler) loginInput() loginInput {
	l := loginInput{Email: h.pool.SignsInWith(pool.LoginEmail), Username: h.pool.SignsInWith(pool.LoginUsername),
		Phone: h.pool.SignsInWith(pool.LoginPhone), Type: "text"}
	switch {
	case l.EmailOnly():
		l.Type, l.InputMode = "email", "email"
	case l.Phone && !l.Email && !l.Username:
		l.Type, l.InputMode = "tel", "tel"
	}
	return l
}

// label is the field's label, a constant per choice so that catalogues
// translate it.
func (l loginInput) label() string {
	switch {
	case l.Email && l.Username && l.Phone:
		return labelEmailUsernameOrPhone
	case l.Email && l.Username:
		return labelEmailOrUsername
	case l.Email && l.Phone:
		return labelEmailOrPhone
	case l.Username && l.Phone:
		return labelUsernameOrPhone
	case l.Username:
		return labelUsername
	case l.Phone:
		return labelPhone
	}
	return labelEmail
}

// loginField is the login field of the forgotten password and reset
// pages: the email field as before for a pool of addresses alone.
func (h *Handler) loginField(value, err string) field {
	l := h.loginInput()
	if l.EmailOnly() {
		return emailField(value, err)
	}
	f := field{ID: "f-email", Name: "email", Label: l.label(), Type: l.Type, Value: value,
		Autocomplete: "username", InputMode: l.InputMode, Error: err, Required: true, MaxLength: 254}
	if l.Phone && !l.Email && !l.Username {
		f.Hint = hintPhoneLogin
	}
	return f
}

// invalidCredentials is the one answer to an unknown login and a wrong
// password.
func (h *Handler) invalidCredentials() string {
	if h.loginInput().EmailOnly() {
		return msgInvalidCredentials
	}
	return msgInvalidLogin
}

// loginKey is a typed login normalized, or "" when it is none the pool
// signs in with (by its shape alone: nothing is looked up).
func (h *Handler) loginKey(raw string) string {
	key, kind := h.pool.LoginKey(raw)
	if key == "" || !h.pool.SignsInWith(kind) {
		return ""
	}
	return key
}
