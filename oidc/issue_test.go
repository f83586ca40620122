package oidc_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/oidc"
)

// TestIssueTokens: the narrow way in of the Cognito API mints what
// /oauth2/token mints (an ID token go-oidc verifies for the client, an
// access token with the API's scope), and its refresh token rotates with
// reuse detection as the token endpoint's does.
func TestIssueTokens(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	ctx := context.Background()
	ada := s.createUser(t, adaEmail, "Ada Lovelace", "admins")
	webapp, err := s.provider.Client(ctx, "webapp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.Client(ctx, "nope"); !errors.Is(err, oidc.ErrUnknownClient) {
		t.Fatalf("an unknown client: %v", err)
	}
	if !slices.Equal(webapp.AuthFlows, oidc.DefaultAuthFlows) || webapp.AllowsAuthFlow(oidc.AuthFlowUserPassword) {
		t.Fatalf("default auth flows %v", webapp.AuthFlows)
	}
	if sec, ok := webapp.ClearSecret(); !ok || sec != webappSecret || !webapp.CheckSecret(webappSecret) || webapp.CheckSecret(webappSecret+"x") {
		t.Fatal("the webapp's secret")
	}
	authTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	tok, err := s.provider.IssueTokens(ctx, webapp, ada, []string{"pwd", "otp", "mfa"}, authTime)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.op.Verifier(&gooidc.Config{ClientID: "webapp"}).Verify(ctx, tok.IDToken)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var claims struct {
		Email    string   `json:"email"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
		Groups   []string `json:"cognito:groups"`
	}
	if err := id.Claims(&claims); err != nil || claims.Email != adaEmail || !slices.Equal(claims.AMR, []string{"pwd", "otp", "mfa"}) ||
		claims.AuthTime != authTime.Unix() || !slices.Equal(claims.Groups, []string{"admins"}) || id.Subject != ada.ID {
		t.Fatalf("ID token claims %+v (%v)", claims, err)
	}
	at, err := s.provider.VerifyAccessToken(ctx, tok.AccessToken)
	if err != nil || at.UserID != ada.ID || at.ClientID != "webapp" || !slices.Contains(at.Scopes, oidc.ScopeCognitoAdmin) ||
		!slices.Contains(at.Scopes, "openid") || !at.AuthTime.Equal(authTime) {
		t.Fatalf("access token %+v (%v)", at, err)
	}
	if _, err := s.provider.VerifyAccessToken(ctx, tok.IDToken); !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("an ID token as an access token: %v", err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("tokens %+v", tok)
	}

	// Refresh: rotated, another client's use refused, reuse kills the family.
	if uid, err := s.provider.RefreshTokenUser(ctx, webapp, tok.RefreshToken); err != nil || uid != ada.ID {
		t.Fatalf("RefreshTokenUser: %q %v", uid, err)
	}
	spa, err := s.provider.Client(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.RefreshTokens(ctx, spa, tok.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
		t.Fatalf("another client's refresh token: %v", err)
	}
	next, err := s.provider.RefreshTokens(ctx, webapp, tok.RefreshToken)
	if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.IDToken == "" {
		t.Fatalf("refresh: %+v %v", next, err)
	}
	if _, err := s.provider.RefreshTokens(ctx, webapp, tok.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
		t.Fatalf("a reused refresh token: %v", err)
	}
	if _, err := s.provider.RefreshTokens(ctx, webapp, next.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
		t.Fatalf("the family of a reused refresh token lives on: %v", err)
	}
}

// TestVerifyAccessTokenRevocations: a revoked token, and every token of a
// user signed out everywhere, are refused.
func TestVerifyAccessTokenRevocations(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	ctx := context.Background()
	ada := s.createUser(t, adaEmail, "Ada Lovelace")
	webapp, err := s.provider.Client(ctx, "webapp")
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *oidc.Tokens {
		tok, err := s.provider.IssueTokens(ctx, webapp, ada, []string{"pwd"}, time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	one, two := issue(), issue()
	at, err := s.provider.VerifyAccessToken(ctx, one.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.pool.RevokeAccessToken(ctx, at.JTI, at.Expires); err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.VerifyAccessToken(ctx, one.AccessToken); !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("a revoked access token: %v", err)
	}
	if _, err := s.provider.VerifyAccessToken(ctx, two.AccessToken); err != nil {
		t.Fatalf("another token of the user: %v", err)
	}
	if err := s.provider.RevokeRefreshToken(ctx, webapp, two.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.RefreshTokens(ctx, webapp, two.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
		t.Fatalf("a revoked refresh token: %v", err)
	}
	if err := s.pool.SignOutEverywhere(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.provider.VerifyAccessToken(ctx, two.AccessToken); !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("a token from before a global sign-out: %v", err)
	}
	for _, raw := range []string{"", "x", one.AccessToken[:len(one.AccessToken)-3] + "AAA"} {
		if _, err := s.provider.VerifyAccessToken(ctx, raw); !errors.Is(err, oidc.ErrInvalidToken) {
			t.Fatalf("%q: %v", raw, err)
		}
	}
}
