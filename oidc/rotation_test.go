package oidc_test

// Refresh token rotation per client (on with a grace, or off as Cognito's
// clients expect) and the Cognito claims that tie a sign-in's tokens
// together (origin_jti, event_id, version), through real tokens.

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/store"
)

// refreshCall sends a refresh_token grant as a client would and returns the
// raw JSON answer (x/oauth2 would hide a missing refresh_token).
func refreshCall(t *testing.T, s *issuer, rt, id, secret string) (int, map[string]any) {
	t.Helper()
	resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/token",
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
	return resp.StatusCode, body
}

// TestRefreshGraceForConcurrentUse: with rotation on (the default), a
// refresh token just retired may be presented again within the grace, as a
// second tab or a retried request does, and gets a token of the same
// sign-in; after the grace the same presentation is reuse, refused, and the
// whole family is revoked.
func TestRefreshGraceForConcurrentUse(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	webapp := s.webapp()
	start, _ := s.Login(t, c, webapp, "")
	rt1 := start.Tok.RefreshToken

	// Several requests at once with the same token: all succeed.
	const n = 5
	results := make(chan string, n)
	for range n {
		go func() {
			status, body := refreshCall(t, s, rt1, "webapp", webappSecret)
			rt, _ := body["refresh_token"].(string)
			if status != http.StatusOK || rt == "" {
				t.Errorf("concurrent refresh: %d %v, want new tokens", status, body)
			}
			results <- rt
		}()
	}
	seen := map[string]bool{}
	for range n {
		seen[<-results] = true
	}
	if len(seen) != n || seen[rt1] {
		t.Fatalf("%d distinct new refresh tokens of %d requests (or the old one returned)", len(seen), n)
	}
	// Each successor works, and belongs to the same sign-in.
	var next string
	for rt := range seen {
		tok, err := webapp.Refresh(rt)
		if err != nil {
			t.Fatalf("a successor refresh token does not work: %v", err)
		}
		if got := oauthtest.VerifyTokens(t, webapp, tok, ""); got.Claim["origin_jti"] != start.Claim["origin_jti"] {
			t.Errorf("origin_jti %v after a refresh in the grace, want the sign-in's %v", got.Claim["origin_jti"], start.Claim["origin_jti"])
		}
		next = tok.RefreshToken
	}

	// Within the grace, the retired token is still its client's alone.
	if status, body := refreshCall(t, s, rt1, "rsapp", rsSecret); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("another client with a token in its grace: %d %v, want invalid_grant", status, body)
	}

	// The grace is over: rt1 again is reuse, and the family dies.
	s.advance(oidc.DefaultRefreshGrace)
	if _, err := webapp.Refresh(rt1); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("retired token after the grace: %v, want invalid_grant", err)
	}
	if _, err := webapp.Refresh(next); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("the family's newest token after reuse: %v, want invalid_grant (family revoked)", err)
	}
}

// TestRefreshRotationOff: a client with rotation off (a Cognito app) gets no
// new refresh token; the one it holds keeps working, refresh after refresh,
// until it is revoked.
func TestRefreshRotationOff(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	cognito := s.RP("cognito", cognitoSecret, cognitoCB)
	start, _ := s.Login(t, c, cognito, "")
	rt := start.Tok.RefreshToken
	if rt == "" {
		t.Fatal("no refresh token from the code exchange")
	}
	for i := range 3 {
		status, body := refreshCall(t, s, rt, "cognito", cognitoSecret)
		if status != http.StatusOK || body["access_token"] == nil || body["id_token"] == nil {
			t.Fatalf("refresh %d: %d %v", i+1, status, body)
		}
		if _, has := body["refresh_token"]; has {
			t.Fatalf("refresh %d returned a refresh token with rotation off: %v", i+1, body)
		}
		if got := jwtClaims(t, body["id_token"].(string))["origin_jti"]; got != start.Claim["origin_jti"] {
			t.Errorf("refresh %d: origin_jti %v, want the sign-in's %v", i+1, got, start.Claim["origin_jti"])
		}
		// Well after any grace: still not reuse, there is none.
		s.advance(oidc.MaxRefreshGrace)
	}
	// Another client cannot use it.
	if status, body := refreshCall(t, s, rt, "webapp", webappSecret); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("another client's refresh: %d %v, want invalid_grant", status, body)
	}
	// Revoked, it is dead.
	if resp, body := oauthtest.TokenCall(t, s.url+"/oauth2/revoke", url.Values{"token": {rt}}, "cognito", cognitoSecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	if status, body := refreshCall(t, s, rt, "cognito", cognitoSecret); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("revoked token: %d %v, want invalid_grant", status, body)
	}
}

// TestStoredClientRotation: a stored client's rotation setting is honoured:
// off as for a configured client, and on with no grace (a negative grace)
// makes an immediate second presentation reuse.
func TestStoredClientRotation(t *testing.T) {
	t.Parallel()
	s, _, c, _ := signedInAda(t)
	ctx := context.Background()
	for _, sc := range []*store.Client{
		{ID: "stored-off", SecretHash: oidc.HashClientSecret(storedSecret), RedirectURIs: []string{storedCB},
			RefreshTokenRotation: oidc.RotationOff},
		{ID: "stored-strict", SecretHash: oidc.HashClientSecret(storedSecret), RedirectURIs: []string{storedCB},
			RefreshTokenRotation: oidc.RotationOn, RefreshTokenGrace: -1},
	} {
		if err := s.store.CreateClient(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	off, _ := s.Login(t, c, s.RP("stored-off", storedSecret, storedCB), "")
	for i := range 2 {
		status, body := refreshCall(t, s, off.Tok.RefreshToken, "stored-off", storedSecret)
		if _, has := body["refresh_token"]; status != http.StatusOK || has {
			t.Fatalf("stored client with rotation off, refresh %d: %d %v, want tokens without a refresh token", i+1, status, body)
		}
	}
	strict := s.RP("stored-strict", storedSecret, storedCB)
	got, _ := s.Login(t, c, strict, "")
	tok, err := strict.Refresh(got.Tok.RefreshToken)
	if err != nil || tok.RefreshToken == got.Tok.RefreshToken {
		t.Fatalf("stored client with rotation on: %v, want a new refresh token", err)
	}
	if _, err := strict.Refresh(got.Tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Fatalf("no grace: the retired token at once: %v, want invalid_grant", err)
	}
	if _, err := strict.Refresh(tok.RefreshToken); retrieveErrorCode(err) != "invalid_grant" {
		t.Errorf("no grace: the successor after reuse: %v, want invalid_grant", err)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestCognitoTokenClaims: Cognito's origin_jti and event_id are in the ID
// and access tokens of a user, the same in both and across refreshes of one
// sign-in, different for another sign-in; access tokens carry version 2,
// a machine's too, which has no sign-in and so neither id.
func TestCognitoTokenClaims(t *testing.T) {
	t.Parallel()
	s, _, c, first := signedInAda(t)
	webapp := s.webapp()
	ids := func(what string, id, access map[string]any) (origin, event string) {
		t.Helper()
		origin, _ = id["origin_jti"].(string)
		event, _ = id["event_id"].(string)
		if !uuidPattern.MatchString(origin) || !uuidPattern.MatchString(event) || origin == event {
			t.Errorf("%s: ID token origin_jti %q, event_id %q; want two UUIDs", what, origin, event)
		}
		if access["origin_jti"] != origin || access["event_id"] != event {
			t.Errorf("%s: access token origin_jti %v, event_id %v; want the ID token's %s, %s",
				what, access["origin_jti"], access["event_id"], origin, event)
		}
		if v, ok := access["version"].(float64); !ok || v != 2 {
			t.Errorf("%s: access token version %v, want 2", what, access["version"])
		}
		if _, has := id["version"]; has {
			t.Errorf("%s: the ID token has a version claim; Cognito's has none", what)
		}
		if origin == id["jti"] || origin == access["jti"] {
			t.Errorf("%s: origin_jti is a token's own jti", what)
		}
		return origin, event
	}
	origin, event := ids("code exchange", first.Claim, jwtClaims(t, first.Tok.AccessToken))
	var doc struct {
		Claims []string `json:"claims_supported"`
	}
	if err := s.op.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"origin_jti", "event_id"} {
		if !slices.Contains(doc.Claims, c) {
			t.Errorf("discovery's claims_supported lacks %s: %v", c, doc.Claims)
		}
	}

	tok, err := webapp.Refresh(first.Tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	refreshed := oauthtest.VerifyTokens(t, webapp, tok, "")
	ro, re := ids("refresh", refreshed.Claim, jwtClaims(t, tok.AccessToken))
	if ro != origin || re != event {
		t.Errorf("after a refresh origin_jti %s event_id %s, want the sign-in's %s %s", ro, re, origin, event)
	}
	if refreshed.Claim["jti"] == first.Claim["jti"] {
		t.Error("the refreshed ID token repeats the first one's jti")
	}

	// Another authorization is another sign-in's tokens.
	other, _ := s.Login(t, c, webapp, "")
	oo, oe := ids("another authorization", other.Claim, jwtClaims(t, other.Tok.AccessToken))
	if oo == origin || oe == event {
		t.Errorf("another authorization repeats origin_jti/event_id %s/%s", oo, oe)
	}

	// A machine token: version 2, no sign-in, so no origin_jti or event_id.
	at, _ := s.ClientCredentials(t, "machine", machineSecret, "")["access_token"].(string)
	mc := jwtClaims(t, at)
	if v, ok := mc["version"].(float64); !ok || v != 2 {
		t.Errorf("machine access token version %v, want 2", mc["version"])
	}
	if mc["origin_jti"] != nil || mc["event_id"] != nil {
		t.Errorf("machine access token has origin_jti/event_id: %v", mc)
	}
	if _, err := uuid.Parse(mc["jti"].(string)); err != nil {
		t.Errorf("machine jti %v: %v", mc["jti"], err)
	}
}
