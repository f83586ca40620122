package oidc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestGroupClaimsInPrecedenceOrder: cognito:groups (and groups) list the
// user's groups as Cognito does, lowest precedence first, groups without
// one last by name; apps that take the first group as the user's role
// (Cognito's cognito:preferred_role is chosen so) see the same.
func TestGroupClaimsInPrecedenceOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startIssuer(t, issuerOptions{})
	zero, five := 0, 5
	for _, g := range []pool.NewGroup{{Name: "viewers", Precedence: &five}, {Name: "owners", Precedence: &zero}} {
		if _, err := s.pool.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	s.createUser(t, adaEmail, "Ada Lovelace", "admins", "viewers", "owners", "beta")
	first, _ := s.Login(t, web.Browser(t), s.webapp(), adaEmail)
	want := `["owners","viewers","admins","beta"]`
	for _, k := range []string{"groups", "cognito:groups"} {
		if g, _ := json.Marshal(first.Claim[k]); string(g) != want {
			t.Errorf("ID token %s = %s, want %s", k, g, want)
		}
		if g, _ := json.Marshal(jwtClaims(t, first.Tok.AccessToken)[k]); string(g) != want {
			t.Errorf("access token %s = %s, want %s", k, g, want)
		}
	}
}
