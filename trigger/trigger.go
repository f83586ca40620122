// Package trigger calls a user pool's lifecycle hooks: Cognito's Lambda
// triggers, made webhooks. Each call POSTs exactly Cognito's Lambda event
// as JSON, signed in the Standard Webhooks format, and reads back the
// event with its "response" filled in, so that a function written for
// Cognito ports with a few lines of HTTP glue.
//
// The pool decides where a trigger runs and what its answer changes; this
// package only carries the call: signing, a bounded timeout, a pool of
// kept-alive connections, and the strict reading of the answer.
package trigger

import (
	"context"
	"fmt"
)

// Kind names a trigger, as the Caddyfile spells it.
type Kind string

// The triggers a pool may call; Cognito's names are Kind.CognitoName.
const (
	PreSignUp                   Kind = "pre_sign_up"
	PostConfirmation            Kind = "post_confirmation"
	PreAuthentication           Kind = "pre_authentication"
	PostAuthentication          Kind = "post_authentication"
	PreTokenGeneration          Kind = "pre_token_generation"
	UserMigration               Kind = "user_migration"
	CustomMessage               Kind = "custom_message"
	CustomEmailSender           Kind = "custom_email_sender"
	CustomSMSSender             Kind = "custom_sms_sender"
	DefineAuthChallenge         Kind = "define_auth_challenge"
	CreateAuthChallenge         Kind = "create_auth_challenge"
	VerifyAuthChallengeResponse Kind = "verify_auth_challenge_response"
)

// Kinds lists every trigger, in Cognito's console order.
var Kinds = []Kind{
	PreSignUp, PostConfirmation, PreAuthentication, PostAuthentication, PreTokenGeneration,
	UserMigration, CustomMessage, CustomEmailSender, CustomSMSSender,
	DefineAuthChallenge, CreateAuthChallenge, VerifyAuthChallengeResponse,
}

var cognitoNames = map[Kind]string{
	PreSignUp:                   "PreSignUp",
	PostConfirmation:            "PostConfirmation",
	PreAuthentication:           "PreAuthentication",
	PostAuthentication:          "PostAuthentication",
	PreTokenGeneration:          "PreTokenGeneration",
	UserMigration:               "UserMigration",
	CustomMessage:               "CustomMessage",
	CustomEmailSender:           "CustomEmailSender",
	CustomSMSSender:             "CustomSMSSender",
	DefineAuthChallenge:         "DefineAuthChallenge",
	CreateAuthChallenge:         "CreateAuthChallenge",
	VerifyAuthChallengeResponse: "VerifyAuthChallengeResponse",
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	_, ok := cognitoNames[k]
	return ok
}

// CognitoName is the trigger's name in Cognito's messages ("PreSignUp").
func (k Kind) CognitoName() string {
	if n, ok := cognitoNames[k]; ok {
		return n
	}
	return string(k)
}

// Event is exactly Cognito's Lambda event. Request and Response are the
// trigger's own shapes (structs with Cognito's JSON names, defined by the
// package using them or here).
type Event struct {
	Version       string        `json:"version"`
	TriggerSource string        `json:"triggerSource"`
	Region        string        `json:"region"`
	UserPoolID    string        `json:"userPoolId"`
	UserName      string        `json:"userName"`
	CallerContext CallerContext `json:"callerContext"`
	Request       any           `json:"request"`
	Response      any           `json:"response"`
}

// CallerContext says who asked: the app client, and for the Cognito API
// the SDK's version.
type CallerContext struct {
	AWSSDKVersion string `json:"awsSdkVersion"`
	ClientID      string `json:"clientId"`
}

// Invoker calls a pool's configured hooks. Safe for concurrent use. A nil
// Invoker, or Configured(k)==false, means "no trigger": callers skip the
// call.
type Invoker interface {
	Configured(k Kind) bool
	// Invoke POSTs ev (signed, Standard Webhooks headers) and decodes the
	// returned event's "response" object into resp (a pointer). A deny,
	// failure, timeout or bad JSON is a *Error.
	Invoke(ctx context.Context, k Kind, ev *Event, resp any) error
}

// Versioned is an Invoker whose hooks take events of a version of their
// own (Webhooks): pre token generation's "1", "2" or "3".
type Versioned interface {
	EventVersion(k Kind) string
}

// EventVersion is the event version inv's hook for k takes: "1" unless
// inv says otherwise.
func EventVersion(inv Invoker, k Kind) string {
	if v, ok := inv.(Versioned); ok {
		if s := v.EventVersion(k); s != "" {
			return s
		}
	}
	return "1"
}

// Configured reports whether inv calls k: false for a nil Invoker.
func Configured(inv Invoker, k Kind) bool {
	return inv != nil && inv.Configured(k)
}

// Error is a trigger that did not give a usable answer: the receiver
// refused (Denied, with its message), or the call failed (timeout, status,
// connection), or the answer could not be read (Invalid).
type Error struct {
	Kind Kind
	// Denied: the receiver refused the operation; Reason is its message,
	// meant for the user.
	Denied bool
	// Reason is the receiver's message when Denied; otherwise why the
	// call failed, in Gatehouse's words (never a URL, secret or body).
	Reason string
	// Invalid: the receiver answered 2xx with something that is not the
	// event (bad JSON, wrong types): Cognito's "Unrecognizable lambda
	// output".
	Invalid bool
	// Timeout: no answer within the hook's timeout.
	Timeout bool
}

func (e *Error) Error() string {
	switch {
	case e.Denied:
		return fmt.Sprintf("trigger %s denied: %s", e.Kind, e.Reason)
	case e.Invalid:
		return fmt.Sprintf("trigger %s: invalid response: %s", e.Kind, e.Reason)
	default:
		return fmt.Sprintf("trigger %s failed: %s", e.Kind, e.Reason)
	}
}

// Message is what Cognito would show for this error: "PreSignUp failed
// with error <msg>." for a deny, and its wording for a failure.
func (e *Error) Message() string {
	name := e.Kind.CognitoName()
	switch {
	case e.Denied:
		return fmt.Sprintf("%s failed with error %s.", name, e.Reason)
	case e.Invalid:
		return fmt.Sprintf("Unrecognizable lambda output: %s", name)
	case e.Timeout:
		return fmt.Sprintf("%s invocation failed due to error Socket timeout while invoking Lambda function.", name)
	default:
		return fmt.Sprintf("%s invocation failed due to error %s.", name, e.Reason)
	}
}

// CognitoType is the error type the Cognito API answers with:
// UserLambdaValidationException for a deny, InvalidLambdaResponseException
// for an answer it cannot read, UnexpectedLambdaException otherwise.
func (e *Error) CognitoType() string {
	switch {
	case e.Denied:
		return "UserLambdaValidationException"
	case e.Invalid:
		return "InvalidLambdaResponseException"
	default:
		return "UnexpectedLambdaException"
	}
}
