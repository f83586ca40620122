package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
)

func TestUsersLinkUnlink(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery staple")
	e.create("bob@example.com", "another horse battery staple")

	out := e.ok("users", "link", "--email", "Ada@Example.com", "--provider", "google", "--subject", "1098765",
		"--type", "Google", "--issuer", "https://accounts.google.com")
	if strings.TrimSpace(out) != "linked ada@example.com to google subject 1098765" {
		t.Errorf("link printed %q", out)
	}
	u := e.show("ada@example.com")
	if len(u.Identities) != 1 {
		t.Fatalf("identities %+v, want one", u.Identities)
	}
	id := u.Identities[0]
	if id.Provider != "google" || id.ProviderType != "Google" || id.Issuer != "https://accounts.google.com" ||
		id.Subject != "1098765" || id.Primary {
		t.Errorf("identity %+v", id)
	}
	if at, err := time.Parse(time.RFC3339, id.CreatedAt); err != nil || time.Since(at) > time.Minute {
		t.Errorf("created_at %q", id.CreatedAt)
	}
	if text := e.ok("users", "show", "--email", "ada@example.com"); !regexp.MustCompile(`(?m)^identities:\s+google/1098765$`).MatchString(text) {
		t.Errorf("show does not list the identity:\n%s", text)
	}
	if list := e.ok("users", "list", "--json"); !strings.Contains(list, `"subject": "1098765"`) {
		t.Errorf("list --json lacks the identity:\n%s", list)
	}

	t.Run("refusals", func(t *testing.T) {
		e := e.on(t)
		e.fails(e.gh("users", "link", "--email", "bob@example.com", "--provider", "google", "--subject", "1098765"),
			"linked to a user already")
		e.fails(e.gh("users", "link", "--email", "ada@example.com", "--provider", "google", "--subject", "other"),
			"has another google identity")
		e.fails(e.gh("users", "link", "--email", "ada@example.com", "--provider", " ", "--subject", "x"),
			"--provider: must not be empty")
		e.fails(e.gh("users", "link", "--email", "ada@example.com", "--provider", "corp", "--subject", ""),
			"--subject: must not be empty")
		e.fails(e.gh("users", "link", "--email", "ada@example.com", "--provider", "corp"), `"subject" not set`)
		e.fails(e.gh("users", "link", "--email", "nobody@example.com", "--provider", "corp", "--subject", "x"),
			"no such user: nobody@example.com")
		e.fails(e.gh("users", "unlink", "--email", "ada@example.com", "--provider", "corp"),
			"ada@example.com has no corp identity")
		if ids := e.show("bob@example.com").Identities; len(ids) != 0 {
			t.Errorf("bob has identities %+v", ids)
		}
	})

	out = e.ok("users", "unlink", "--email", "ada@example.com", "--provider", "google")
	if strings.TrimSpace(out) != "unlinked ada@example.com from google" {
		t.Errorf("unlink printed %q", out)
	}
	if ids := e.show("ada@example.com").Identities; len(ids) != 0 {
		t.Errorf("identities after unlink %+v", ids)
	}
	// The subject is free again.
	e.ok("users", "link", "--email", "bob@example.com", "--provider", "google", "--subject", "1098765")
}

// TestUsersUnlinkLastMethod: the only way in of a user a provider created
// stays linked.
func TestUsersUnlinkLastMethod(t *testing.T) {
	e := newEnv(t, "")
	p := e.openPool()
	step, err := p.InitiateFederatedAuth(t.Context(), pool.FederatedAuth{CreateUsers: true, Identity: pool.ExternalIdentity{
		Provider: "google", ProviderType: "Google", Subject: "g-ada", Email: "ada@example.com", EmailVerified: true}})
	if err != nil || step.Auth == nil {
		t.Fatalf("federated sign-in: %v", err)
	}
	u := e.show("ada@example.com")
	if u.Status != "EXTERNAL_PROVIDER" || len(u.Identities) != 1 || !u.Identities[0].Primary {
		t.Fatalf("federated user %+v", u)
	}
	if text := e.ok("users", "show", "--email", "ada@example.com"); !regexp.MustCompile(`(?m)^identities:\s+google/g-ada \(primary\)$`).MatchString(text) {
		t.Errorf("show does not mark the primary identity:\n%s", text)
	}
	e.fails(e.gh("users", "unlink", "--email", "ada@example.com", "--provider", "google"), "only way to sign in")
	e.ok("users", "link", "--email", "ada@example.com", "--provider", "github", "--subject", "42")
	e.ok("users", "unlink", "--email", "ada@example.com", "--provider", "google")
	if ids := e.show("ada@example.com").Identities; len(ids) != 1 || ids[0].Provider != "github" {
		t.Errorf("identities %+v", ids)
	}
}
