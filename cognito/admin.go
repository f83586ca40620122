package cognito

import (
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// Admin actions (AdminCreateUser, ListUsers, ...) are signed with AWS
// Signature Version 4 (service cognito-idp). This package declares the
// seam; the verifier (package cognito/sigv4) and the actions (cog-admin)
// plug in:
//
//	cognito.RegisterAdmin("AdminGetUser", cognito.AdminAction{ReadOnly: true, Run: ...})
//	cognito.Config{AdminVerifier: sigv4Verifier}
//
// An admin action runs only after AdminVerifier accepted the request's
// signature; with no verifier every admin action is refused.

// AdminCaller is who signed an admin call.
type AdminCaller struct {
	// AccessKeyID names the key that signed.
	AccessKeyID string
	// ReadOnly keys may run only ReadOnly actions.
	ReadOnly bool
}

// AdminVerifier checks a SigV4-signed request: r as received (headers,
// method, path, query) and its body, already read. It returns the caller,
// or an error to answer with (an *APIError names the Cognito error;
// anything else is NotAuthorizedException).
type AdminVerifier interface {
	VerifyAdmin(r *http.Request, body []byte) (AdminCaller, error)
}

// AdminRequest is an admin action's input.
type AdminRequest struct {
	HTTP   *http.Request
	Body   []byte
	Caller AdminCaller
	// Decode reads Body into v as every action does (SerializationException
	// for malformed JSON).
	Decode func(v any) error
	// target receives the id of the user the call is about, for the audit.
	target *string
}

// about names the user the call is about, for its audit event.
func (r AdminRequest) about(userID string) {
	if r.target != nil {
		*r.target = userID
	}
}

// AdminAction is one admin action.
type AdminAction struct {
	// ReadOnly actions may be run by read-only keys.
	ReadOnly bool
	Run      func(h *Handler, req AdminRequest) (any, error)
}

// APIError is an error answered in Cognito's shape, for admin actions:
// NewError("UserNotFoundException", "User does not exist.").
type APIError = apiError

// NewError makes an error answered as Cognito's error named typ.
func NewError(typ, message string) error { return errf(typ, message) }

// admin are the registered admin actions, by name. Registered in init
// functions only: the map is read without locks.
var admin = map[string]AdminAction{}

// RegisterAdmin adds an admin action; call it from an init function.
func RegisterAdmin(name string, a AdminAction) {
	if _, dup := admin[name]; dup || actions[name] != nil || a.Run == nil {
		panic(fmt.Sprintf("cognito: admin action %q registered twice or without Run", name))
	}
	admin[name] = a
}

// runAdmin checks the signature, then the key's rights, then runs a; each
// call that got past the signature is audited with its access key id.
func (h *Handler) runAdmin(c *call, a AdminAction) (any, error) {
	if h.cfg.AdminVerifier == nil {
		return nil, errf("NotAuthorizedException", "Admin actions are not enabled for this user pool")
	}
	caller, err := h.cfg.AdminVerifier.VerifyAdmin(c.r, c.body)
	if err != nil {
		if ae, ok := errors.AsType[*apiError](err); ok {
			if ae.cause != nil {
				h.log.Error("verifying an admin call failed", zap.String("action", c.action), zap.Error(ae.cause))
			}
			return nil, ae
		}
		return nil, errf("NotAuthorizedException", "The request signature could not be verified")
	}
	ctx := pool.WithClientIP(c.ctx(), h.cfg.ClientIP(c.r))
	c.r = c.r.WithContext(ctx)
	target := new(string)
	if caller.ReadOnly && !a.ReadOnly {
		e := sigv4.AccessDenied(&sigv4.Principal{AccessKeyID: caller.AccessKeyID, ReadOnly: true}, c.action)
		h.cfg.Pool.AdminCalled(ctx, caller.AccessKeyID, c.action, "", e.Type)
		return nil, errf(e.Type, e.Message)
	}
	out, err := a.Run(h, AdminRequest{HTTP: c.r, Body: c.body, Caller: caller, Decode: c.decode, target: target})
	outcome := "ok"
	if err != nil {
		ae, ok := errors.AsType[*apiError](err)
		if !ok {
			ae = h.mapError(c, err)
		}
		err, outcome = ae, ae.Type
	}
	h.cfg.Pool.AdminCalled(ctx, caller.AccessKeyID, c.action, *target, outcome)
	return out, err
}

// Config returns what the handler was made from: the pool and provider
// admin actions work on.
func (h *Handler) Config() Config { return h.cfg }

// The checks every admin action makes of its request.

// notNull is the validation error AWS answers a missing required member
// with (field is the member's name as AWS spells it, lower camel case).
func notNull(field string) error {
	return errf("InvalidParameterException",
		"1 validation error detected: Value null at '"+field+"' failed to satisfy constraint: Member must not be null")
}

// checkPool checks a request's UserPoolId: required, and the configured
// pool's, else the pool "does not exist" (no other pool is served here).
func (h *Handler) checkPool(id string) error {
	if id == "" {
		return notNull("userPoolId")
	}
	if id != h.cfg.PoolID {
		return errf("ResourceNotFoundException", "User pool "+clip(id)+" does not exist.")
	}
	return nil
}

// pageLimit checks Limit as AWS's validation does (0 to 60; 0 is the
// pool's full page).
func pageLimit(limit int) error {
	if limit < 0 {
		return errf("InvalidParameterException", fmt.Sprintf(
			"1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 0", limit))
	}
	if limit > pool.MaxPageSize {
		return errf("InvalidParameterException", fmt.Sprintf(
			"1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", limit, pool.MaxPageSize))
	}
	return nil
}

// poolRef is the UserPoolId member of a request; requests that embed it
// (or userRef) are read by decodeInPool.
type poolRef struct {
	UserPoolID string `json:"UserPoolId"`
}

func (r poolRef) poolID() string { return r.UserPoolID }

// decodeInPool reads the request into in, as Decode does, and checks the
// pool id it names: how every admin action begins.
func (h *Handler) decodeInPool(req AdminRequest, in interface{ poolID() string }) error {
	if err := req.Decode(in); err != nil {
		return err
	}
	return h.checkPool(in.poolID())
}
