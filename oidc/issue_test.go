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
// reuse detection (after the client's grace) as the token endpoint's does.
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
	s.advance(oidc.DefaultRefreshGrace) // past the client's grace
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

// TestIssueTokensRotation: the Cognito API's tokens follow the client's
// rotation setting as /oauth2/token's do. With rotation off (a Cognito
// app) REFRESH_TOKEN_AUTH returns no refresh token and the first keeps
// working; with it on the first is retired, usable again only within the
// client's grace. Either way every token of one sign-in carries the same
// origin_jti and event_id, and another sign-in has others.
func TestIssueTokensRotation(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	ctx := context.Background()
	ada := s.createUser(t, adaEmail, "Ada Lovelace")
	client := func(id string) *oidc.Client {
		c, err := s.provider.Client(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signInIDs := func(what string, tok *oidc.Tokens) [2]any {
		t.Helper()
		id, access := jwtClaims(t, tok.IDToken), jwtClaims(t, tok.AccessToken)
		ids := [2]any{id["origin_jti"], id["event_id"]}
		if ids[0] == nil || ids[1] == nil || access["origin_jti"] != ids[0] || access["event_id"] != ids[1] {
			t.Fatalf("%s: origin_jti/event_id ID token %v, access token %v %v", what, ids, access["origin_jti"], access["event_id"])
		}
		return ids
	}

	t.Run("off", func(t *testing.T) {
		off := client("cognito")
		first, err := s.provider.IssueTokens(ctx, off, ada, []string{"pwd"}, time.Now())
		if err != nil || first.RefreshToken == "" {
			t.Fatalf("IssueTokens: %+v %v", first, err)
		}
		ids := signInIDs("sign-in", first)
		for i := range 3 {
			next, err := s.provider.RefreshTokens(ctx, off, first.RefreshToken)
			if err != nil {
				t.Fatalf("refresh %d with the first refresh token: %v", i+1, err)
			}
			if next.RefreshToken != "" {
				t.Fatalf("refresh %d returned a refresh token with rotation off", i+1)
			}
			if got := signInIDs("refresh", next); got != ids {
				t.Fatalf("refresh %d: origin_jti/event_id %v, want the sign-in's %v", i+1, got, ids)
			}
			s.advance(oidc.MaxRefreshGrace) // no grace applies: it is not reuse
		}
		again, err := s.provider.IssueTokens(ctx, off, ada, []string{"pwd"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := signInIDs("another sign-in", again); got[0] == ids[0] || got[1] == ids[1] {
			t.Fatalf("another sign-in repeats origin_jti/event_id %v", got)
		}
	})

	t.Run("on", func(t *testing.T) {
		on := client("webapp")
		first, err := s.provider.IssueTokens(ctx, on, ada, []string{"pwd"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids := signInIDs("sign-in", first)
		next, err := s.provider.RefreshTokens(ctx, on, first.RefreshToken)
		if err != nil || next.RefreshToken == "" || next.RefreshToken == first.RefreshToken {
			t.Fatalf("rotation on: %+v %v", next, err)
		}
		// Within the grace (the client's, saved with the API's token), the
		// retired one is a concurrent use: a token of the same sign-in.
		twin, err := s.provider.RefreshTokens(ctx, on, first.RefreshToken)
		if err != nil || twin.RefreshToken == "" {
			t.Fatalf("the retired token within the grace: %+v %v", twin, err)
		}
		if signInIDs("refresh", next) != ids || signInIDs("refresh in the grace", twin) != ids {
			t.Fatal("a refresh changed origin_jti/event_id")
		}
		s.advance(oidc.DefaultRefreshGrace)
		if _, err := s.provider.RefreshTokens(ctx, on, first.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
			t.Fatalf("the retired token after the grace: %v", err)
		}
		if _, err := s.provider.RefreshTokens(ctx, on, next.RefreshToken); !errors.Is(err, oidc.ErrInvalidGrant) {
			t.Fatalf("the family lives on after reuse: %v", err)
		}
	})
}
