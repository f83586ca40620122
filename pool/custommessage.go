package pool

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The custom message hook writes the subject and body of each mail that
// carries a code (or an invitation's temporary password), per trigger
// source as Cognito's. It is sent the placeholder {####}, never the code,
// and its message must keep it: the pool puts the code in. A failure, a
// refusal or a message without {####} sends the pool's own message: the
// mails go after the page has answered, so there is nobody to tell, and a
// user without their code could not go on.

type messageSourceKey struct{}

// withMessageSource says which operation a code mail belongs to, where
// the mail's kind does not (a resent confirmation code).
func withMessageSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, messageSourceKey{}, source)
}

// messageSource is the custom message trigger source of a mail of kind;
// "" for a mail the hook does not write.
func messageSource(ctx context.Context, kind string) string {
	if s, ok := ctx.Value(messageSourceKey{}).(string); ok {
		return s
	}
	switch kind {
	case mail.KindVerifyEmail:
		return trigger.SourceMessageSignUp
	case mail.KindResetPassword:
		return trigger.SourceMessageForgotPassword
	case mail.KindVerifyNewEmail:
		return trigger.SourceMessageUpdateUserAttribute
	case mail.KindInvitation:
		return trigger.SourceMessageAdminCreateUser
	case mail.KindMFACode:
		return trigger.SourceMessageAuthentication
	}
	return ""
}

// customMessage lets the hook rewrite msg, a mail of kind with data d.
func (p *Pool) customMessage(ctx context.Context, kind string, d mail.Data, msg *mail.Message) {
	source := messageSource(ctx, kind)
	if source == "" || !p.hasTrigger(trigger.CustomMessage) {
		return
	}
	secret := d.Code
	if kind == mail.KindInvitation {
		secret = d.TemporaryPassword
	}
	if secret == "" {
		return
	}
	u, err := p.store.UserByEmail(ctx, d.Email)
	attrs := map[string]string{"email": d.Email}
	userName := d.Email
	var user *store.User
	if err == nil {
		user, attrs, userName = u, TriggerAttributes(u), u.ID
	}
	req := trigger.CustomMessageRequest{UserAttributes: attrs, CodeParameter: trigger.CodePlaceholder,
		ClientMetadata: triggerContextOf(ctx).ClientMetadata}
	if kind == mail.KindInvitation {
		req.UsernameParameter = ptrTo(trigger.UsernamePlaceholder)
	}
	var resp trigger.CustomMessageResponse
	if err := p.callTrigger(ctx, trigger.CustomMessage, p.event(ctx, source, userName, req, trigger.CustomMessageResponse{}), &resp, user, d.Email); err != nil {
		return
	}
	if resp.EmailMessage != nil && *resp.EmailMessage != "" {
		body := *resp.EmailMessage
		if !strings.Contains(body, trigger.CodePlaceholder) {
			p.acct.Mail.Logger.Warn("custom message without {####}: the pool's own message is sent",
				zap.String("trigger_source", source))
			return
		}
		body = strings.ReplaceAll(body, trigger.UsernamePlaceholder, d.Email)
		body = strings.ReplaceAll(body, trigger.CodePlaceholder, secret)
		msg.Text, msg.HTML = body, ""
		if strings.Contains(body, "<") {
			msg.HTML = body // Cognito's emailMessage may be HTML
		}
	}
	if resp.EmailSubject != nil && strings.TrimSpace(*resp.EmailSubject) != "" {
		msg.Subject = *resp.EmailSubject
	}
}
