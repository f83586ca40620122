package pool

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The pool calls its lifecycle hooks (package trigger) where it makes the
// decision each one changes: pre sign-up before the sign-up page answers,
// post confirmation once an address is proved, pre authentication before
// the password is checked, post authentication once a sign-in has ended,
// and pre token generation (PreTokenGeneration, for package oidc) before
// any token is signed. What a failure does is Cognito's, per trigger:
// README "Triggers".

// AuditTrigger: the pool called a hook (Detail "trigger", "source",
// "outcome": ok, denied, invalid, timeout or failed, "status", "ms").
const AuditTrigger = "trigger"

// callTrigger calls k's hook and records the call as an audit event of u
// (nil for a user not yet made; login names them then). Its errors are
// *trigger.Error.
func (p *Pool) callTrigger(ctx context.Context, k trigger.Kind, ev *trigger.Event, resp any, u *store.User, login string) error {
	start := time.Now()
	err := p.triggers.Invoke(ctx, k, ev, resp)
	outcome := "ok"
	var te *trigger.Error
	if errors.As(err, &te) {
		switch {
		case te.Denied:
			outcome = "denied"
		case te.Invalid:
			outcome = "invalid"
		case te.Timeout:
			outcome = "timeout"
		default:
			outcome = "failed"
		}
	} else if err != nil {
		outcome = "failed"
	}
	e := store.AuditEvent{Type: AuditTrigger, Login: login, Detail: map[string]string{
		"trigger": string(k), "source": ev.TriggerSource, "outcome": outcome,
		"ms": strconv.FormatInt(time.Since(start).Milliseconds(), 10)}}
	if outcome != "ok" {
		e.Reason = outcome
	}
	if u != nil {
		e.UserID = u.ID
		if e.Login == "" {
			e.Login = u.Email
		}
	}
	p.audit(ctx, e)
	return err
}

// hasTrigger reports whether the pool calls k.
func (p *Pool) hasTrigger(k trigger.Kind) bool { return trigger.Configured(p.triggers, k) }

// TriggerAttributes are u's attributes as Cognito puts them in a trigger's
// userAttributes: strings, sub and the status included.
func TriggerAttributes(u *store.User) map[string]string {
	out := map[string]string{
		"sub":                 u.ID,
		"email":               u.Email,
		"email_verified":      strconv.FormatBool(u.EmailVerified),
		"cognito:user_status": string(u.Status),
	}
	if u.Name != "" {
		out["name"] = u.Name
	}
	for k, v := range u.Attributes {
		out[k] = v
	}
	return out
}

// TriggerContext is who asks for an operation: the app client, and what
// the app passed along (Cognito's ValidationData and ClientMetadata).
type TriggerContext struct {
	ClientID       string
	ValidationData map[string]string
	ClientMetadata map[string]string
}

type triggerContextKey struct{}

// WithTriggerContext returns ctx carrying tc, which the pool's hooks are
// given: the hosted pages set the client, the Cognito API the client and
// the app's data.
func WithTriggerContext(ctx context.Context, tc TriggerContext) context.Context {
	return context.WithValue(ctx, triggerContextKey{}, tc)
}

func triggerContextOf(ctx context.Context) TriggerContext {
	tc, _ := ctx.Value(triggerContextKey{}).(TriggerContext)
	return tc
}

func (p *Pool) event(ctx context.Context, source, userName string, req, resp any) *trigger.Event {
	return &trigger.Event{TriggerSource: source, UserName: userName,
		CallerContext: trigger.CallerContext{ClientID: triggerContextOf(ctx).ClientID},
		Request:       req, Response: resp}
}

// preSignUp asks the hook whether a sign-up of email (as user id) may go
// on. It sees only what was typed, never whether the address has an
// account, so its answer says nothing of that either.
func (p *Pool) preSignUp(ctx context.Context, source, id, email, name string, attrs map[string]string) (trigger.PreSignUpResponse, error) {
	var resp trigger.PreSignUpResponse
	if !p.hasTrigger(trigger.PreSignUp) {
		return resp, nil
	}
	tc := triggerContextOf(ctx)
	ua := map[string]string{"email": email}
	if name != "" {
		ua["name"] = name
	}
	for k, v := range attrs {
		ua[k] = v
	}
	vd := tc.ValidationData
	if vd == nil {
		vd = map[string]string{}
	}
	req := trigger.PreSignUpRequest{UserAttributes: ua, ValidationData: vd, ClientMetadata: tc.ClientMetadata}
	err := p.callTrigger(ctx, trigger.PreSignUp, p.event(ctx, source, id, req, trigger.PreSignUpResponse{}), &resp, nil, email)
	return resp, err
}

// postConfirmation tells the hook u proved their address. As Cognito, a
// failure fails the call that confirmed, though the confirmation stands.
func (p *Pool) postConfirmation(ctx context.Context, source string, u *store.User) error {
	if !p.hasTrigger(trigger.PostConfirmation) {
		return nil
	}
	req := trigger.UserRequest{UserAttributes: TriggerAttributes(u), ClientMetadata: triggerContextOf(ctx).ClientMetadata}
	return p.callTrigger(ctx, trigger.PostConfirmation, p.event(ctx, source, u.ID, req, nil), nil, u, "")
}

// preAuthRequest is pre authentication's request: userNotFound is sent
// for a login with no account, as Cognito does with prevent-user-existence
// errors on (always, here).
type preAuthRequest struct {
	UserAttributes map[string]string `json:"userAttributes"`
	ValidationData map[string]string `json:"validationData"`
	UserNotFound   bool              `json:"userNotFound,omitempty"`
}

// preAuthentication asks the hook whether login (u, nil when it has no
// account) may try to sign in, before the password is checked.
func (p *Pool) preAuthentication(ctx context.Context, u *store.User, login string) error {
	if !p.hasTrigger(trigger.PreAuthentication) {
		return nil
	}
	vd := triggerContextOf(ctx).ValidationData
	if vd == nil {
		vd = triggerContextOf(ctx).ClientMetadata
	}
	if vd == nil {
		vd = map[string]string{}
	}
	req := preAuthRequest{UserAttributes: map[string]string{}, ValidationData: vd, UserNotFound: u == nil}
	userName := login
	if u != nil {
		req.UserAttributes = TriggerAttributes(u)
		userName = u.ID
	}
	return p.callTrigger(ctx, trigger.PreAuthentication, p.event(ctx, trigger.SourcePreAuthentication, userName, req, nil), nil, u, login)
}

// postAuthentication tells the hook u signed in. As Cognito, a failure
// fails the sign-in: no session or tokens are given.
func (p *Pool) postAuthentication(ctx context.Context, u *store.User, newDevice bool) error {
	if !p.hasTrigger(trigger.PostAuthentication) {
		return nil
	}
	req := trigger.UserRequest{UserAttributes: TriggerAttributes(u), NewDeviceUsed: &newDevice,
		ClientMetadata: triggerContextOf(ctx).ClientMetadata}
	return p.callTrigger(ctx, trigger.PostAuthentication, p.event(ctx, trigger.SourcePostAuthentication, u.ID, req, nil), nil, u, "")
}
