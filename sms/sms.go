// Package sms is the seam through which a user pool sends text messages:
// the code that verifies a phone number, a sign-in's second-factor code, a
// password reset code, an invitation's temporary password. It has one
// small interface, Sender; a pool without one offers nothing by SMS.
//
// Gatehouse reaches no telecom gateway itself. Its one Sender in
// production is the custom SMS sender trigger (module wires it), which
// hands each message to the operator's own HTTPS endpoint, as Cognito
// hands it to SNS or to a CustomSMSSender Lambda.
//
//	err := sender.Send(ctx, &sms.Message{
//		To: "+15555550100", Kind: sms.KindVerifyPhone, Code: "123456",
//		Text: sms.Text(sms.KindVerifyPhone, "Example", "123456", ""),
//	})
package sms

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Kinds of text message.
const (
	// KindVerifyPhone carries the code that verifies a phone number.
	KindVerifyPhone = "verify_phone"
	// KindMFACode carries a sign-in's second-factor code.
	KindMFACode = "mfa_code"
	// KindResetPassword carries the code that sets a forgotten password.
	KindResetPassword = "reset_password"
	// KindInvitation carries an administrator-created user's temporary
	// password.
	KindInvitation = "invitation"
)

// Message is one text message to one phone number.
type Message struct {
	// To is the number in E.164 form ("+15555550100").
	To string
	// Kind is one of the Kind constants: a sender that writes its own
	// wording (the custom SMS sender) goes by it.
	Kind string
	// Code is the one-time code or temporary password the message carries.
	Code string
	// Text is the message as Gatehouse words it (Text).
	Text string
	// UserID and Login name the recipient, for senders that pass them on.
	UserID, Login string
}

// Sender delivers text messages. Send returns once the message was handed
// over or failed; it gives up when ctx is done. Implementations are safe
// for concurrent use and never log the code or the whole number.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// Text is what Gatehouse says in a message of kind: short, one segment
// where it can be, the code first so a phone can offer to fill it in.
func Text(kind, poolName, code, expires string) string {
	from := ""
	if poolName != "" {
		from = " for " + poolName
	}
	switch kind {
	case KindVerifyPhone:
		return fmt.Sprintf("%s is your code to verify this phone number%s.", code, from)
	case KindMFACode:
		return fmt.Sprintf("%s is your sign-in code%s. Do not share it.", code, from)
	case KindResetPassword:
		return fmt.Sprintf("%s is your code to reset your password%s.", code, from)
	case KindInvitation:
		s := fmt.Sprintf("Your temporary password%s is %s", from, code)
		if expires != "" {
			s += " (good for " + expires + ")"
		}
		return s + ". You will choose your own at first sign-in."
	}
	return code
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Valid reports whether number is in E.164 form, as the phone_number
// attribute is kept.
func Valid(number string) bool { return e164.MatchString(number) }

// Mask hides all but the last four digits of a number, as Cognito's
// CODE_DELIVERY_DESTINATION does: "+*******0100". Logs and pages show
// only this.
func Mask(number string) string {
	digits := strings.TrimPrefix(number, "+")
	if len(digits) <= 4 {
		return "+" + strings.Repeat("*", len(digits))
	}
	return "+" + strings.Repeat("*", len(digits)-4) + digits[len(digits)-4:]
}
