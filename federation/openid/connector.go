// Package openid holds a pool's OpenID Connect identity providers, as Caddy
// modules in the gatehouse.idp namespace:
//
//	gatehouse.idp.oidc       any OpenID provider (OIDC)
//	gatehouse.idp.google     Google, optionally one Workspace domain (Google)
//	gatehouse.idp.microsoft  Microsoft Entra ID and personal accounts (OIDC)
//	gatehouse.idp.apple      Sign in with Apple (SignInWithApple)
//
// All four are one connector: the authorization code flow with state,
// nonce and PKCE (S256), the RFC 9207 iss parameter checked when present,
// the code exchanged and the ID token verified by federation/oidcclient (the
// same client the gateway's oidcrp uses), userinfo read when the ID token
// lacks the address. The presets differ in their issuer, defaults and the
// rule that says whether an address is verified.
package openid

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
)

// completeTimeout bounds a callback's token and userinfo requests together.
const completeTimeout = 15 * time.Second

// connector is one configured OpenID provider of a pool.
type connector struct {
	info   federation.Info
	client *oidcclient.Client
	// mapping turns claims into pool attributes.
	mapping federation.Mapping
	// responseMode is sent as response_mode unless empty (query).
	responseMode string
	// authParams are added to every authorization URL (Google's hd).
	authParams []oauth2.AuthCodeOption
	// verified says whether the provider asserts that the user controls
	// the address.
	verified func(claims map[string]any, email string) bool
	// check refuses a verified token the preset does not accept (another
	// Workspace domain, a tenant not allowed); nil accepts all.
	check func(claims map[string]any) error
	// appleUser reads the names from Apple's first form_post `user` field.
	appleUser bool
}

func (c *connector) Info() federation.Info { return c.info }

// Begin returns the provider's authorization URL for req. Only discovery
// (once, cached) can make it fail, with ErrUnavailable.
func (c *connector) Begin(ctx context.Context, req federation.Request) (federation.Start, error) {
	if req.State == "" || req.Nonce == "" || req.Verifier == "" || req.RedirectURI == "" {
		return federation.Start{}, errors.New("openid: Begin needs a state, a nonce, a verifier and a redirect URI")
	}
	opts := slices.Clone(c.authParams)
	if c.responseMode != "" {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", c.responseMode))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	u, err := c.client.AuthCodeURL(ctx, req.RedirectURI, req.State, req.Nonce, req.Verifier, opts...)
	if err != nil {
		return federation.Start{}, fmt.Errorf("%w: %v", federation.ErrUnavailable, err)
	}
	return federation.Start{URL: u}, nil
}

// Complete checks the provider's answer and returns who signed in.
func (c *connector) Complete(ctx context.Context, cb federation.Callback) (*federation.Identity, error) {
	p, req := cb.Params, cb.Request
	if req.State == "" || subtle.ConstantTimeCompare([]byte(p.Get("state")), []byte(req.State)) != 1 {
		return nil, federation.Invalid("the state does not match the sign-in's")
	}
	// RFC 9207: a provider that names itself must be the one this sign-in
	// went to, or another provider's answer is being played here (mix-up).
	if iss := p.Get("iss"); iss != "" && !c.client.IssuerMatches(iss) {
		return nil, federation.Invalid("the answer names issuer %q, not %q", oidcclient.Clip(iss), c.client.Issuer())
	}
	if code := p.Get("error"); code != "" {
		return nil, providerError(code, p.Get("error_description"))
	}
	code := p.Get("code")
	if code == "" {
		return nil, federation.Invalid("the answer holds neither a code nor an error")
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	tok, err := c.client.Exchange(ctx, req.RedirectURI, code, req.Verifier)
	if err != nil {
		return nil, wrap(err)
	}
	idt, err := c.client.VerifyIDToken(ctx, tok)
	if err != nil {
		return nil, wrap(err)
	}
	if idt == nil {
		return nil, federation.Invalid("the token response holds no ID token")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(req.Nonce)) != 1 {
		return nil, federation.Invalid("the ID token's nonce is not the sign-in's")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, federation.Invalid("reading the ID token's claims: %v", err)
	}
	if email, _ := claims["email"].(string); email == "" {
		if err := c.addUserInfo(ctx, tok, idt.Subject, claims); err != nil {
			return nil, err
		}
	}
	if c.appleUser {
		addAppleNames(claims, p.Get("user"))
	}
	if c.check != nil {
		if err := c.check(claims); err != nil {
			return nil, err
		}
	}
	email, _ := claims["email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	id := &federation.Identity{
		Provider:      c.info.Name,
		Type:          c.info.Type,
		Issuer:        idt.Issuer,
		Subject:       idt.Subject,
		Email:         email,
		EmailVerified: email != "" && c.verified(claims, email),
		Attributes:    c.mapping.Apply(claims),
	}
	return id, nil
}

// addUserInfo fills in from the userinfo endpoint what an ID token without
// an address lacks. The address and its verification come together from
// userinfo; other claims only where the ID token has none.
func (c *connector) addUserInfo(ctx context.Context, tok *oauth2.Token, sub string, claims map[string]any) error {
	ui, err := c.client.UserInfo(ctx, tok, sub)
	if err != nil {
		return wrap(err)
	}
	if ui == nil {
		return nil
	}
	var more map[string]any
	if err := ui.Claims(&more); err != nil {
		return federation.Invalid("reading userinfo: %v", err)
	}
	delete(claims, "email_verified")
	for k, v := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// providerError is the error for an error=... answer: access_denied is the
// user (or the provider's policy) saying no; an outage at the provider is
// ErrUnavailable; anything else is an answer Gatehouse cannot use.
func providerError(code, description string) error {
	if !plainToken(code) {
		code = "unknown_error"
	}
	switch code {
	case "access_denied":
		return fmt.Errorf("%w: access_denied: %s", federation.ErrDenied, oidcclient.Clip(description))
	case "temporarily_unavailable", "server_error":
		return fmt.Errorf("%w: %s: %s", federation.ErrUnavailable, code, oidcclient.Clip(description))
	}
	return federation.Invalid("the provider answered %s: %s", code, oidcclient.Clip(description))
}

// wrap maps oidcclient's errors onto federation's: an outage is
// ErrUnavailable; a refusal (a spent code) or a failed check is
// ErrInvalidResponse.
func wrap(err error) error {
	if errors.Is(err, oidcclient.ErrUnavailable) {
		return fmt.Errorf("%w: %v", federation.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %v", federation.ErrInvalidResponse, err)
}

// plainToken reports whether s looks like an OAuth error code.
func plainToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// claimTrue reads a boolean claim that providers send as true or "true"
// (Apple, Cognito).
func claimTrue(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// emailVerifiedClaim is the standard rule: email_verified is true.
func emailVerifiedClaim(claims map[string]any, _ string) bool {
	return claimTrue(claims["email_verified"])
}

// appleUser is the `user` field Apple posts with the first authorization
// of a user only: the names the user chose to share.
type appleUser struct {
	Name struct {
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
	} `json:"name"`
}

// addAppleNames adds the names of Apple's `user` field to claims that lack
// them. The field comes through the browser unsigned, so it gives names
// only, never the address or anything checked.
func addAppleNames(claims map[string]any, raw string) {
	if raw == "" || len(raw) > 4096 {
		return
	}
	var u appleUser
	if json.Unmarshal([]byte(raw), &u) != nil {
		return
	}
	first, last := strings.TrimSpace(u.Name.FirstName), strings.TrimSpace(u.Name.LastName)
	set := func(k, v string) {
		if _, ok := claims[k]; !ok && v != "" {
			claims[k] = v
		}
	}
	set("given_name", first)
	set("family_name", last)
	set("name", strings.TrimSpace(first+" "+last))
}
