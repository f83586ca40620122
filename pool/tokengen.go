package pool

import (
	"context"
	"slices"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// TokenRequest is what a token is about to be minted for: package oidc
// asks PreTokenGeneration with it before it signs anything.
type TokenRequest struct {
	// Source is the trigger source: trigger.SourceTokenHostedAuth, ...
	Source   string
	ClientID string
	// User is nil for client credentials.
	User   *store.User
	Scopes []string
	Groups []string
}

// TokenChanges is what the pre token generation hook asked for: claims to
// add or override and to suppress in each token, the access token's
// scopes, and the groups. Protected claims are dropped from it already.
type TokenChanges struct {
	IDClaims         map[string]any
	IDSuppress       []string
	AccessClaims     map[string]any
	AccessSuppress   []string
	ScopesToAdd      []string
	ScopesToSuppress []string
	// Groups replaces the user's groups in both tokens when not nil.
	Groups []string
}

// protectedClaims are the claims no hook may add, override or suppress,
// as Cognito's (the token's identity, lifetime, audience and binding).
var protectedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"auth_time": true, "token_use": true, "nonce": true, "at_hash": true, "c_hash": true,
	"acr": true, "amr": true, "azp": true, "origin_jti": true, "event_id": true,
	"identities": true, "cognito:username": true, "username": true, "client_id": true,
	"scope": true, "version": true, "groups": true, "cognito:groups": true,
	"cognito:roles": true, "cognito:preferred_role": true,
}

// ProtectedClaim reports whether a hook may not touch claim.
func ProtectedClaim(claim string) bool { return protectedClaims[claim] }

// PreTokenGeneration calls the pre token generation hook for r, in its
// configured event version: "1" changes the ID token; "2" the ID and
// access tokens and the scopes; "3" as 2, and client credentials tokens
// too (for which versions 1 and 2 are not called, as Cognito's). nil
// changes: no hook, or none for r. A failure fails the token request, as
// Cognito's.
func (p *Pool) PreTokenGeneration(ctx context.Context, r TokenRequest) (*TokenChanges, error) {
	if !p.hasTrigger(trigger.PreTokenGeneration) {
		return nil, nil
	}
	version := trigger.EventVersion(p.triggers, trigger.PreTokenGeneration)
	if r.User == nil && version != "3" {
		return nil, nil
	}
	groups := r.Groups
	if groups == nil {
		groups = []string{}
	}
	req := trigger.PreTokenGenerationRequest{UserAttributes: map[string]string{},
		GroupConfiguration: trigger.GroupConfiguration{GroupsToOverride: groups, IAMRolesToOverride: []string{}},
		ClientMetadata:     triggerContextOf(ctx).ClientMetadata}
	userName, login := "", ""
	if r.User != nil {
		req.UserAttributes = TriggerAttributes(r.User)
		userName, login = r.User.ID, r.User.Email
	}
	if version != "1" {
		req.Scopes = r.Scopes
		if req.Scopes == nil {
			req.Scopes = []string{}
		}
	}
	ev := p.event(ctx, r.Source, userName, req, trigger.PreTokenGenerationResponse{})
	ev.Version = version
	ev.CallerContext.ClientID = r.ClientID
	var resp trigger.PreTokenGenerationResponse
	if err := p.callTrigger(ctx, trigger.PreTokenGeneration, ev, &resp, r.User, login); err != nil {
		return nil, err
	}
	out := &TokenChanges{}
	if version == "1" {
		if d := resp.ClaimsOverrideDetails; d != nil {
			out.IDClaims, out.IDSuppress = allowedClaims(d.ClaimsToAddOrOverride), allowedNames(d.ClaimsToSuppress)
			out.Groups = overrideGroups(d.GroupOverrideDetails)
		}
		return out, nil
	}
	if d := resp.ClaimsAndScopeOverrideDetails; d != nil {
		if t := d.IDTokenGeneration; t != nil && r.User != nil {
			out.IDClaims, out.IDSuppress = allowedClaims(t.ClaimsToAddOrOverride), allowedNames(t.ClaimsToSuppress)
		}
		if t := d.AccessTokenGeneration; t != nil {
			out.AccessClaims, out.AccessSuppress = allowedClaims(t.ClaimsToAddOrOverride), allowedNames(t.ClaimsToSuppress)
			out.ScopesToAdd, out.ScopesToSuppress = validScopes(t.ScopesToAdd), validScopes(t.ScopesToSuppress)
		}
		out.Groups = overrideGroups(d.GroupOverrideDetails)
	}
	return out, nil
}

func allowedClaims(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if k != "" && !protectedClaims[k] {
			out[k] = v
		}
	}
	return out
}

func allowedNames(in []string) []string {
	return slices.DeleteFunc(slices.Clone(in), func(s string) bool { return s == "" || protectedClaims[s] })
}

// validScopes keeps scope tokens (RFC 6749 §3.3: no spaces, quotes or
// backslashes), so that a hook cannot smuggle two scopes in one.
func validScopes(in []string) []string {
	return slices.DeleteFunc(slices.Clone(in), func(s string) bool {
		if s == "" {
			return true
		}
		for _, c := range s {
			if c <= ' ' || c == '"' || c == '\\' || c > '~' {
				return true
			}
		}
		return false
	})
}

func overrideGroups(g *trigger.GroupConfiguration) []string {
	if g == nil || g.GroupsToOverride == nil {
		return nil
	}
	return slices.Clone(g.GroupsToOverride)
}
