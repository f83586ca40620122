package sigv4

import (
	"fmt"
	"net/http"
	"time"
)

// Error is a refusal of a signed request, named as AWS names it, so that the
// API answers it as Cognito's endpoint does: HTTP Status, a JSON body
// {"__type": Type, "message": Message} and the x-amzn-ErrorType header.
type Error struct {
	// Type is AWS's error name: MissingAuthenticationTokenException,
	// IncompleteSignatureException, InvalidSignatureException,
	// UnrecognizedClientException or TooManyRequestsException.
	Type    string
	Message string
	// Status is the HTTP status AWS answers it with.
	Status int
	// Reason is the audit reason (pool.AuditAdminAuthFailed).
	Reason string
	// RetryAfter is set for TooManyRequestsException.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return "sigv4: " + e.Type + ": " + e.Message }

// AWS's error names.
const (
	TypeMissingToken     = "MissingAuthenticationTokenException"
	TypeIncomplete       = "IncompleteSignatureException"
	TypeInvalidSignature = "InvalidSignatureException"
	TypeUnrecognized     = "UnrecognizedClientException"
	TypeTooManyRequests  = "TooManyRequestsException"
)

// Audit reasons.
const (
	ReasonMissing          = "missing"
	ReasonIncomplete       = "incomplete"
	ReasonInvalidSignature = "invalid_signature"
	ReasonScope            = "wrong_scope"
	ReasonUnsignedHeader   = "unsigned_header"
	ReasonPayloadHash      = "payload_hash"
	ReasonUnknownKey       = "unknown_key"
	ReasonExpired          = "expired"
	ReasonReplayed         = "replayed"
	ReasonSecurityToken    = "security_token"
	ReasonThrottled        = "throttled"
)

// Messages AWS gives, where it gives one.
const (
	msgMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnrecognized = "The security token included in the request is invalid."
)

func missing() *Error {
	return &Error{Type: TypeMissingToken, Message: "Missing Authentication Token", Status: http.StatusBadRequest, Reason: ReasonMissing}
}

func incomplete(format string, args ...any) *Error {
	return &Error{Type: TypeIncomplete, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest, Reason: ReasonIncomplete}
}

func invalid(reason, format string, args ...any) *Error {
	return &Error{Type: TypeInvalidSignature, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest, Reason: reason}
}

func unrecognized(reason string) *Error {
	return &Error{Type: TypeUnrecognized, Message: msgUnrecognized, Status: http.StatusBadRequest, Reason: reason}
}

func throttled(wait time.Duration) *Error {
	return &Error{Type: TypeTooManyRequests, Message: "Rate exceeded", Status: http.StatusTooManyRequests, Reason: ReasonThrottled, RetryAfter: wait}
}

// TypeAccessDenied is AWS's name for a call its credentials may not make.
const TypeAccessDenied = "AccessDeniedException"

// AccessDenied is the refusal of action to p (a read-only key asking for a
// change), as IAM refuses an action a policy does not allow.
func AccessDenied(p *Principal, action string) *Error {
	return &Error{Type: TypeAccessDenied, Status: http.StatusBadRequest, Reason: "read_only",
		Message: fmt.Sprintf("Access key %s is read-only: it is not authorized to perform: %s:%s", p.AccessKeyID, Service, action)}
}
