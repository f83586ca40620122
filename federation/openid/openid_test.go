package openid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
)

func (op *testOP) genBlock(extra string) string {
	return fmt.Sprintf(`oidc {
		issuer %s/gen
		client_id gen
		client_secret "%s"
		%s
	}`, op.base, opSecret, extra)
}

// TestGenericSignIn signs in at a generic provider whose ID token holds
// only sub, so the address and profile come from userinfo.
func TestGenericSignIn(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "corp", op.genBlock("attribute custom:pic picture\nattribute locale"))
	req := newRequest("grace@navy.example")
	start, err := c.Begin(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(start.URL)
	q := u.Query()
	for k, want := range map[string]string{
		"state":                 req.State,
		"nonce":                 req.Nonce,
		"code_challenge_method": "S256",
		"redirect_uri":          opRedirectURI,
		"client_id":             "gen",
		"response_type":         "code",
		"scope":                 "openid email profile",
		"login_hint":            "grace@navy.example",
	} {
		if q.Get(k) != want {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("code_challenge") == "" || strings.Contains(start.URL, req.Verifier) {
		t.Errorf("authorization URL must carry the S256 challenge, never the verifier: %s", start.URL)
	}
	params := op.signIn(t, start.URL, "grace@navy.example", false)
	if params.Get("iss") != op.base+"/gen" {
		t.Errorf("the provider's answer names iss %q; the mix-up test below relies on it", params.Get("iss"))
	}
	id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
	if err != nil {
		t.Fatalf("Complete: %v\n%s", err, op.output())
	}
	want := federation.Identity{
		Provider: "corp", Type: "OIDC", Issuer: op.base + "/gen", Subject: "s-grace@navy.example",
		Email: "grace@navy.example", EmailVerified: true,
	}
	got := *id
	got.Attributes = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("identity %+v, want %+v", got, want)
	}
	for k, v := range map[string]string{"name": "Grace Hopper", "given_name": "Grace", "family_name": "Hopper", "custom:pic": "https://pictures.example/grace.png", "picture": "https://pictures.example/grace.png"} {
		if id.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, id.Attributes[k], v, id.Attributes)
		}
	}
	if _, ok := id.Attributes["locale"]; ok {
		t.Errorf("`attribute locale` with no claim must remove the default: %v", id.Attributes)
	}
	if info := c.Info(); info.Name != "corp" || info.Kind != "oidc" || info.Type != "OIDC" || info.DisplayName != "corp" || info.FormPost || info.Protocol != federation.ProtocolOIDC || info.Logo != nil || !info.CreateUsers {
		t.Errorf("Info %+v", info)
	}
}

// TestGenericFormPost takes the answer as a form_post.
func TestGenericFormPost(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "corp", op.genBlock("response_mode form_post\ndisplay_name \"Corp SSO\""))
	if info := c.Info(); !info.FormPost || info.DisplayName != "Corp SSO" {
		t.Errorf("Info %+v: want FormPost and the display name", info)
	}
	req := newRequest("")
	start, err := c.Begin(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(start.URL, "response_mode=form_post") {
		t.Errorf("authorization URL without response_mode=form_post: %s", start.URL)
	}
	params := op.signIn(t, start.URL, "ada@navy.example", false)
	id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
	if err != nil || id.Subject != "s-ada@navy.example" {
		t.Fatalf("Complete: %+v, %v", id, err)
	}
}

// TestEmailVerified: an address is verified only when the provider says
// so, unless the operator trusts the provider's addresses.
func TestEmailVerified(t *testing.T) {
	t.Parallel()
	op := provider(t)
	tests := []struct {
		name, extra, login string
		email              string
		verified           bool
	}{
		{"email_verified false", "", "unverified@navy.example", "unverified@navy.example", false},
		{"email_verified absent", "", "noverified@navy.example", "noverified@navy.example", false},
		{"no address", "", "noemail@navy.example", "", false},
		{"trust_email, absent", "trust_email", "noverified2@navy.example", "noverified2@navy.example", true},
		{"trust_email off", "trust_email off", "noverified3@navy.example", "noverified3@navy.example", false},
		{"trust_email, no address", "trust_email on", "noemail2@navy.example", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := op.signInAs(t, open(t, "corp", op.genBlock(tt.extra)), tt.login)
			if err != nil {
				t.Fatal(err)
			}
			if id.Email != tt.email || id.EmailVerified != tt.verified {
				t.Errorf("email %q verified %v, want %q %v", id.Email, id.EmailVerified, tt.email, tt.verified)
			}
		})
	}
}

// TestAnswerAttacks plays altered answers to Complete.
func TestAnswerAttacks(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "corp", op.genBlock(""))

	t.Run("nonce of another sign-in", func(t *testing.T) {
		t.Parallel()
		req, params := op.roundTrip(t, c, "grace@navy.example")
		req.Nonce = newRequest("").Nonce
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "a code whose ID token has another nonce")
		if !strings.Contains(err.Error(), "nonce") {
			t.Errorf("refused for the wrong reason: %v", err)
		}
	})
	t.Run("iss parameter of another provider (mix-up)", func(t *testing.T) {
		t.Parallel()
		req, params := op.roundTrip(t, c, "grace@navy.example")
		good := params.Get("iss")
		params.Set("iss", op.base+"/apple")
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "an answer naming another issuer")
		// Refused before the code was sent anywhere: it still redeems.
		params.Set("iss", good)
		if _, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params}); err != nil {
			t.Errorf("the untouched answer after the refusal: %v", err)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		t.Parallel()
		req, params := op.roundTrip(t, c, "grace@navy.example")
		if _, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "the same code again")
	})
	t.Run("state of another sign-in", func(t *testing.T) {
		t.Parallel()
		req, params := op.roundTrip(t, c, "grace@navy.example")
		req.State = newRequest("").State
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "another state")
	})
	t.Run("verifier of another sign-in", func(t *testing.T) {
		t.Parallel()
		req, params := op.roundTrip(t, c, "grace@navy.example")
		req.Verifier = newRequest("").Verifier
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "a stolen code without its verifier")
	})
	t.Run("code issued to another client", func(t *testing.T) {
		t.Parallel()
		other := open(t, "other", strings.Replace(op.genBlock(""), "client_id gen", "client_id gen-other", 1))
		req, params := op.roundTrip(t, other, "grace@navy.example")
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrInvalidResponse, "another client's code")
	})
	t.Run("access_denied", func(t *testing.T) {
		t.Parallel()
		req := newRequest("")
		start, err := c.Begin(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		params := op.signIn(t, start.URL, "", true)
		if params.Get("error") != "access_denied" {
			t.Fatalf("cancelling gave %v", params)
		}
		_, err = c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		wantErr(t, err, federation.ErrDenied, "the user cancelling")
	})
	t.Run("errors named by the provider", func(t *testing.T) {
		t.Parallel()
		req := newRequest("")
		for code, want := range map[string]error{
			"access_denied":           federation.ErrDenied,
			"temporarily_unavailable": federation.ErrUnavailable,
			"invalid_scope":           federation.ErrInvalidResponse,
			"<script>":                federation.ErrInvalidResponse,
		} {
			_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: url.Values{"state": {req.State}, "error": {code}}})
			wantErr(t, err, want, "error="+code)
		}
		_, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: url.Values{"state": {req.State}}})
		wantErr(t, err, federation.ErrInvalidResponse, "neither code nor error")
	})
}

// TestIDTokenForAnotherAudience: a real ID token the provider issued to
// another client fails verification for this one (go-oidc's aud check),
// through the client the connectors and oidcrp share.
func TestIDTokenForAnotherAudience(t *testing.T) {
	t.Parallel()
	op := provider(t)
	cfg := oidcclient.Config{Issuer: op.base + "/gen", ClientID: "gen-other", ClientSecret: opSecret, Scopes: DefaultScopes}
	other, err := oidcclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest("")
	authURL, err := other.AuthCodeURL(t.Context(), req.RedirectURI, req.State, req.Nonce, req.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	params := op.signIn(t, authURL, "grace@navy.example", false)
	tok, err := other.Exchange(t.Context(), req.RedirectURI, params.Get("code"), req.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := other.Verify(t.Context(), raw); err != nil {
		t.Fatalf("the token verifies for its own client: %v", err)
	}
	cfg.ClientID = "gen"
	mine, err := oidcclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mine.Verify(t.Context(), raw)
	if !errors.Is(err, oidcclient.ErrInvalid) || !strings.Contains(err.Error(), "audience") {
		t.Errorf("another client's ID token: %v, want an audience refusal", err)
	}
}

// TestProviderDown: a provider that cannot be reached is ErrUnavailable,
// at Begin and at Complete.
func TestProviderDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := open(t, "corp", fmt.Sprintf("oidc {\n issuer http://%s\n client_id gen\n client_secret x\n}", addr))
	req := newRequest("")
	_, err = c.Begin(t.Context(), req)
	wantErr(t, err, federation.ErrUnavailable, "Begin with the provider down")
	_, err = c.Complete(context.Background(), federation.Callback{Request: req, Params: url.Values{"state": {req.State}, "code": {"x"}}})
	wantErr(t, err, federation.ErrUnavailable, "Complete with the provider down")
}

// TestGoogleHostedDomain: hosted_domain lets only that Workspace domain in.
func TestGoogleHostedDomain(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "google", fmt.Sprintf(`google {
		issuer %s/gen
		client_id gen
		client_secret "%s"
		hosted_domain Navy.Example
	}`, op.base, opSecret))
	if info := c.Info(); info.Type != "Google" || info.Kind != "google" || info.DisplayName != "Google" {
		t.Errorf("Info %+v", info)
	}
	req := newRequest("")
	start, err := c.Begin(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(start.URL); u.Query().Get("hd") != "navy.example" {
		t.Errorf("authorization URL without the hd hint: %s", start.URL)
	}
	id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: op.signIn(t, start.URL, "grace@navy.example", false)})
	if err != nil || id.Type != "Google" || !id.EmailVerified {
		t.Fatalf("a Workspace user of the domain: %+v, %v", id, err)
	}
	for _, login := range []string{"someone@gmail.example", "grace@army.example"} {
		_, err := op.signInAs(t, c, login)
		wantErr(t, err, federation.ErrDenied, login)
	}
}

func (op *testOP) msBlock(extra string) string {
	return fmt.Sprintf(`microsoft {
		issuer %s/common/v2.0
		client_id ms
		client_secret "%s"
		%s
	}`, op.base, opSecret, extra)
}

// TestMicrosoft signs in at a multi-tenant issuer: the templated issuer of
// its discovery is checked against each token's tid.
func TestMicrosoft(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "entra", op.msBlock(""))
	id, err := op.signInAs(t, c, "ada@contoso.example")
	if err != nil {
		t.Fatalf("%v\n%s", err, op.output())
	}
	if id.Issuer != op.base+"/"+opTenantA+"/v2.0" || id.Subject != "s-ada@contoso.example" || id.Type != "OIDC" || !id.EmailVerified || id.Attributes["name"] != "Grace Hopper" {
		t.Errorf("identity %+v", id)
	}
	if info := c.Info(); info.Kind != "microsoft" || info.DisplayName != "Microsoft" {
		t.Errorf("Info %+v", info)
	}

	t.Run("tid not the issuer's tenant", func(t *testing.T) {
		t.Parallel()
		_, err := op.signInAs(t, c, "othertenant@contoso.example")
		wantErr(t, err, federation.ErrInvalidResponse, "a token whose tid is not its issuer's")
	})
	t.Run("email claim without xms_edov (nOAuth)", func(t *testing.T) {
		t.Parallel()
		id, err := op.signInAs(t, c, "spoofed@victim.example")
		if err != nil {
			t.Fatal(err)
		}
		if id.Email != "spoofed@victim.example" || id.EmailVerified {
			t.Errorf("an address no one verified: %q verified %v, want not verified", id.Email, id.EmailVerified)
		}
	})
	t.Run("tenant not allowed", func(t *testing.T) {
		t.Parallel()
		c := open(t, "entra", op.msBlock("allowed_tenants "+opTenantB))
		_, err := op.signInAs(t, c, "ada@contoso.example")
		wantErr(t, err, federation.ErrDenied, "a tenant outside allowed_tenants")
		c = open(t, "entra", op.msBlock("allowed_tenants "+strings.ToUpper(opTenantA)))
		if _, err := op.signInAs(t, c, "ada@contoso.example"); err != nil {
			t.Errorf("an allowed tenant: %v", err)
		}
	})
	t.Run("personal accounts only", func(t *testing.T) {
		t.Parallel()
		c := open(t, "entra", op.msBlock("tenant consumers"))
		_, err := op.signInAs(t, c, "ada@contoso.example")
		wantErr(t, err, federation.ErrDenied, "a work account where tenant is consumers")
	})
	t.Run("one tenant", func(t *testing.T) {
		t.Parallel()
		c := open(t, "entra", strings.Replace(op.msBlock("tenant "+opTenantA), "/common/", "/"+opTenantA+"/", 1))
		if _, err := op.signInAs(t, c, "ada@contoso.example"); err != nil {
			t.Errorf("the tenant's own user: %v", err)
		}
		_, err := op.signInAs(t, c, "othertenant@contoso.example")
		wantErr(t, err, federation.ErrDenied, "another tenant's tid at a one-tenant issuer")
	})
}

func (op *testOP) appleBlock(t *testing.T, keyPEM string) string {
	path := filepath.Join(t.TempDir(), "AuthKey_"+appleKeyID+".p8")
	if err := os.WriteFile(path, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`apple {
		issuer %s/apple
		client_id %s
		team_id %s
		key_id %s
		private_key {file.%s}
	}`, op.base, appleClientID, appleTeamID, appleKeyID, path)
}

// TestApple: form_post, a client secret the provider checks as Apple does
// (an ES256 JWT of the team's key), email_verified as "true", and the name
// from the first answer's user field only.
func TestApple(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "apple", op.appleBlock(t, op.applePEM))
	if info := c.Info(); !info.FormPost || info.Type != "SignInWithApple" || info.Kind != "apple" || info.DisplayName != "Apple" {
		t.Errorf("Info %+v", info)
	}
	req, params := op.roundTrip(t, c, "tim@apple.example")
	if params.Get("user") == "" {
		t.Fatalf("the first form_post carries no user field: %v", params)
	}
	id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
	if err != nil {
		t.Fatalf("%v\n%s", err, op.output())
	}
	if id.Type != "SignInWithApple" || id.Email != "tim@apple.example" || !id.EmailVerified || id.Attributes["given_name"] != "Grace" || id.Attributes["name"] != "Grace Hopper" {
		t.Errorf("identity %+v", id)
	}
	// The second sign-in has no user field, and no name.
	req, params = op.roundTrip(t, c, "tim@apple.example")
	if params.Has("user") {
		t.Errorf("a second answer with a user field: %v", params)
	}
	id, err = c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
	if err != nil || len(id.Attributes) != 0 {
		t.Errorf("second sign-in: %+v, %v", id, err)
	}
	// "false" as a string is not verified.
	if id, err := op.signInAs(t, c, "unverified@apple.example"); err != nil || id.EmailVerified {
		t.Errorf("email_verified \"false\": %+v, %v", id, err)
	}
}

// TestAppleSecretOfAnotherKey: the provider refuses a client secret signed
// by a key that is not the team's.
func TestAppleSecretOfAnotherKey(t *testing.T) {
	t.Parallel()
	op := provider(t)
	c := open(t, "apple", op.appleBlock(t, newKeyPEM(t)))
	_, err := op.signInAs(t, c, "eve@apple.example")
	wantErr(t, err, federation.ErrInvalidResponse, "a secret signed by another key")
	if !op.logged("client secret refused: bad signature") {
		t.Errorf("the provider did not say why it refused:\n%s", op.output())
	}
}
