// Package customsender delivers a pool's messages through Cognito's
// custom sender triggers: custom_sms_sender carries every text message
// (it is the only SMS delivery Gatehouse has), custom_email_sender
// replaces SMTP for the pool's mail. Each message is one trigger call of
// exactly Cognito's event (triggerSource CustomSMSSender_* or
// CustomEmailSender_*, request.type customSMSSenderRequestV1 or
// customEmailSenderRequestV1, request.code, request.userAttributes), so a
// receiver written for Cognito ports with the HTTP glue and one change:
//
// request.code is in clear. Cognito encrypts it with a KMS key because a
// Lambda's event passes through AWS's logs and tooling; here the event
// goes straight to the operator's endpoint, over HTTPS (plain HTTP only
// on loopback), signed with the hook's secret, and whoever can decrypt
// would hold a key beside that secret in the same place. Encrypting to
// an operator's key would add a key to manage and protect nothing the
// signature and TLS do not. The receiver must keep bodies out of its logs.
//
// Gatehouse adds request.message: its own wording (the text of an SMS;
// subject, text and HTML of a mail), for receivers that only relay.
package customsender

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Trigger sources of the custom senders, as Cognito names them.
const (
	SourceSMSSignUp              = "CustomSMSSender_SignUp"
	SourceSMSResendCode          = "CustomSMSSender_ResendCode"
	SourceSMSForgotPassword      = "CustomSMSSender_ForgotPassword"
	SourceSMSUpdateUserAttribute = "CustomSMSSender_UpdateUserAttribute"
	SourceSMSVerifyUserAttribute = "CustomSMSSender_VerifyUserAttribute"
	SourceSMSAdminCreateUser     = "CustomSMSSender_AdminCreateUser"
	SourceSMSAuthentication      = "CustomSMSSender_Authentication"

	SourceEmailSignUp              = "CustomEmailSender_SignUp"
	SourceEmailResendCode          = "CustomEmailSender_ResendCode"
	SourceEmailForgotPassword      = "CustomEmailSender_ForgotPassword"
	SourceEmailUpdateUserAttribute = "CustomEmailSender_UpdateUserAttribute"
	SourceEmailVerifyUserAttribute = "CustomEmailSender_VerifyUserAttribute"
	SourceEmailAdminCreateUser     = "CustomEmailSender_AdminCreateUser"
	SourceEmailAuthentication      = "CustomEmailSender_Authentication"
	// SourceEmailAccountExists is Gatehouse's own: the notice a sign-up
	// for a taken address sends its owner, which carries no code (Cognito
	// has no such mail).
	SourceEmailAccountExists = "CustomEmailSender_AccountExists"
)

// Request types, as Cognito's request.type.
const (
	typeSMS   = "customSMSSenderRequestV1"
	typeEmail = "customEmailSenderRequestV1"
)

// Request is the custom senders' request.
type Request struct {
	Type           string            `json:"type"`
	Code           string            `json:"code"`
	ClientMetadata map[string]string `json:"clientMetadata,omitempty"`
	UserAttributes map[string]string `json:"userAttributes"`
	// Message is Gatehouse's addition: its wording of the message.
	Message Message `json:"message"`
}

// Message is Gatehouse's wording of what it would have sent.
type Message struct {
	Text    string `json:"text"`
	Subject string `json:"subject,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// smsSources maps an SMS kind to its trigger source. A code for a number
// is VerifyUserAttribute, whether asked for or sent because the number
// changed (the pool does not tell the two apart).
var smsSources = map[string]string{
	sms.KindVerifyPhone:   SourceSMSVerifyUserAttribute,
	sms.KindMFACode:       SourceSMSAuthentication,
	sms.KindResetPassword: SourceSMSForgotPassword,
	sms.KindInvitation:    SourceSMSAdminCreateUser,
}

// emailSources maps a mail kind to its trigger source; a resent
// confirmation code is SignUp, as the first.
var emailSources = map[string]string{
	mail.KindVerifyEmail:    SourceEmailSignUp,
	mail.KindResetPassword:  SourceEmailForgotPassword,
	mail.KindInvitation:     SourceEmailAdminCreateUser,
	mail.KindVerifyNewEmail: SourceEmailUpdateUserAttribute,
	mail.KindMFACode:        SourceEmailAuthentication,
	mail.KindAccountExists:  SourceEmailAccountExists,
}

// SMS is an sms.Sender that calls the custom_sms_sender trigger.
type SMS struct{ Triggers trigger.Invoker }

// Send calls the hook with the message; a hook that fails, refuses or
// times out is an error (the pool words it as "not sent").
func (s SMS) Send(ctx context.Context, m *sms.Message) error {
	src, ok := smsSources[m.Kind]
	if !ok {
		return fmt.Errorf("custom sms sender: unknown kind %q", m.Kind)
	}
	attrs := map[string]string{"phone_number": m.To}
	if m.UserID != "" {
		attrs["sub"] = m.UserID
	}
	if m.Login != "" {
		attrs["email"] = m.Login
	}
	return invoke(ctx, s.Triggers, trigger.CustomSMSSender, src, m.Login, &Request{
		Type: typeSMS, Code: m.Code, UserAttributes: attrs, Message: Message{Text: m.Text},
	})
}

// Email is a mail.Mailer that calls the custom_email_sender trigger.
type Email struct{ Triggers trigger.Invoker }

// Send calls the hook with the message.
func (e Email) Send(ctx context.Context, m *mail.Message) error {
	if m == nil {
		return errors.New("custom email sender: nil message")
	}
	src, ok := emailSources[m.Kind]
	if !ok {
		return fmt.Errorf("custom email sender: unknown kind %q", m.Kind)
	}
	return invoke(ctx, e.Triggers, trigger.CustomEmailSender, src, m.To, &Request{
		Type: typeEmail, Code: m.Code, UserAttributes: map[string]string{"email": m.To},
		Message: Message{Subject: m.Subject, Text: m.Text, HTML: m.HTML},
	})
}

func invoke(ctx context.Context, inv trigger.Invoker, k trigger.Kind, source, userName string, req *Request) error {
	if !trigger.Configured(inv, k) {
		return fmt.Errorf("%s: no such trigger configured", k)
	}
	ev := &trigger.Event{TriggerSource: source, UserName: userName, Request: req, Response: trigger.EmptyResponse{}}
	var resp trigger.EmptyResponse
	return inv.Invoke(ctx, k, ev, &resp)
}

var (
	_ sms.Sender  = SMS{}
	_ mail.Mailer = Email{}
)
