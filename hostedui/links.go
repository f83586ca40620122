package hostedui

import (
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// Paths of the account pages.
const (
	SignUpPath  = PathPrefix + "signup"
	ConfirmPath = PathPrefix + "confirm"
	ForgotPath  = PathPrefix + "forgot"
	ResetPath   = PathPrefix + "reset"
	// NewPasswordPath takes the form that replaces a temporary password.
	NewPasswordPath = PathPrefix + "new-password"
	AccountPath     = PathPrefix + "account"
	// AccountConfirmPath is the account page's "confirm it's you" step
	// (reauth.go); its next parameter is the account page to go back to.
	AccountConfirmPath = AccountPath + "/confirm"
)

// CodeLink returns the link a mailed code of purpose carries: the page where
// that code is entered, filled in, under base (a site's origin such as
// "https://app.example.com"). The page asks for one click more, so a mail
// scanner that follows links confirms nothing. "" for a purpose with no page,
// or no base.
func CodeLink(base, purpose, email, code string) string {
	if base == "" {
		return ""
	}
	base = strings.TrimRight(base, "/")
	q := url.Values{"code": {code}}
	var path string
	switch purpose {
	case pool.PurposeVerifyEmail:
		path = ConfirmPath
		q.Set("email", email)
	case pool.PurposeResetPassword:
		path = ResetPath
		q.Set("email", email)
	case pool.PurposeChangeEmail:
		path = AccountPath
	default:
		return ""
	}
	return base + path + "?" + q.Encode()
}

// SignInURL is the sign-in page under base, or "" without one.
func SignInURL(base string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + SignInPath
}
