package hostedui

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
)

// maxFieldBytes bounds any one field of any form: no email, name, code or
// password needs more, and a longer one is refused whole, never cut.
const maxFieldBytes = 4096

// readForm runs the checks every form POST gets, in the order that spends
// least on a request that cannot succeed: same origin, the CSRF cookie, the
// content type, the size, the parse, the CSRF field, and then valid UTF-8
// of bounded length in every field. what names the form in logs and
// messages ("sign-in"). On any failure it has answered and returns false.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request, what string) bool {
	ip := h.clientIP(r)
	if !h.sameOrigin(r) {
		h.log.Warn(what+" refused", zap.String("reason", "cross_origin"),
			zap.String("origin", clip(r.Header.Get("Origin"))), zap.String("remote_ip", ip))
		h.RenderError(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Open the page again and try again.")
		return false
	}
	// The cookie is checked before the body is read: a request without one
	// cannot succeed, so it gets no password hashed and no body parsed.
	cookieTok, ok := h.csrfToken(r)
	if !ok {
		h.log.Info(what+" refused", zap.String("reason", "csrf_cookie"), zap.String("remote_ip", ip))
		h.formExpired(w, r, what)
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		h.RenderError(w, r, http.StatusUnsupportedMediaType, "Unsupported form encoding",
			"The form must be sent as application/x-www-form-urlencoded.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			h.RenderError(w, r, http.StatusRequestEntityTooLarge, "Form too large",
				"The form sent was larger than this form can be.")
			return false
		}
		h.RenderError(w, r, http.StatusBadRequest, "Bad request", "The form sent could not be read.")
		return false
	}
	if !checkCSRFForm(cookieTok, r.PostForm.Get(csrfField)) {
		h.log.Info(what+" refused", zap.String("reason", "csrf_token"), zap.String("remote_ip", ip))
		h.formExpired(w, r, what)
		return false
	}
	for name, values := range r.PostForm {
		for _, v := range values {
			if !utf8.ValidString(v) || !utf8.ValidString(name) {
				h.RenderError(w, r, http.StatusBadRequest, "Bad request",
					"The form sent holds text that is not valid UTF-8. Type it again and resend.")
				return false
			}
			if len(v) > maxFieldBytes {
				h.RenderError(w, r, http.StatusRequestEntityTooLarge, "Field too long",
					"A field of the form sent is longer than any field can be.")
				return false
			}
		}
	}
	return true
}

func (h *Handler) formExpired(w http.ResponseWriter, r *http.Request, what string) {
	h.RenderError(w, r, http.StatusForbidden, "Form expired",
		"This form has expired or was not sent from this site. Open the page again and try again.")
}

// field is one input of a form, as templates/partials.html draws it.
type field struct {
	ID           string
	Name         string
	Label        string
	Type         string
	Value        string
	Autocomplete string
	InputMode    string
	Hint         string
	Error        string
	Required     bool
	ReadOnly     bool
	MaxLength    int
	// Autofocus puts focus on the field when the page loads: the first
	// field in error after a refused form (focusFirstError).
	Autofocus bool
}

// focusFirstError sets Autofocus on the first of fields that has an error
// and reports whether one had: after a refused form, focus (and with it a
// screen reader) lands on what to fix, with no script. A form with a field
// the template draws itself (a new password with its rules) passes a field
// standing for it, whose Autofocus the template reads.
func focusFirstError(fields ...*field) bool {
	for _, f := range fields {
		if f.Error != "" {
			f.Autofocus = true
			return true
		}
	}
	return false
}

// fieldPtrs are pointers to fields, for focusFirstError.
func fieldPtrs(fields []field) []*field {
	out := make([]*field, len(fields))
	for i := range fields {
		out[i] = &fields[i]
	}
	return out
}

// fieldID makes an element id of a form field name ("custom:tenant" ->
// "f-custom-tenant").
func fieldID(name string) string {
	return "f-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, name)
}

// notices are the fixed messages a redirect may ask a page to show
// (?notice=<key>): only these, so a link cannot make a page say anything.
var notices = map[string]string{
	"confirmed":        "Your email address is confirmed. Sign in to continue.",
	"signed_up":        "Your account is ready. Sign in to continue.",
	"reset":            "Your password was changed. Sign in with your new password.",
	"signed_out_all":   "You were signed out on all devices.",
	"deleted":          "Your account was deleted.",
	"mfa_added":        "Two-step verification is on: sign-ins now ask for a code from your app.",
	"mfa_removed":      "The authenticator app was removed.",
	"passkey_added":    "Your passkey was added: sign-ins can use it now.",
	"profile_saved":    "Your profile was saved.",
	"password_changed": "Your password was changed. You were signed out everywhere else.",
	"email_code_sent":  "We emailed a code to your new address. Enter it below to start using it.",
	"email_changed":    "Your email address was changed.",
	"email_cancelled":  "The change of email address was cancelled.",
	"idp_linked":       "The sign-in method was linked: you can sign in with it now.",
	"phone_code_sent":  "We sent a code by text message to your phone. Enter it below.",
	"phone_verified":   "Your phone number is verified.",
	"idp_unlinked":     "The sign-in method was unlinked.",
	"code_sent":        "If that address is waiting to be confirmed, a new code is on its way (one at most every minute or so). Use the latest email we sent.",
}
