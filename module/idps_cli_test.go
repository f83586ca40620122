package module

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cli"
)

// The CLI's `users link` learns the pool's providers (names, Cognito's
// type, the issuer where the configuration tells it) without opening them.
func TestCLIProviders(t *testing.T) { // not parallel: t.Setenv
	dir := t.TempDir()
	t.Setenv("GATEHOUSE_TEST_CORP_ISSUER", "https://sso.corp.example")
	file := filepath.Join(dir, "Caddyfile")
	text := `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(dir, "gh.db") + `
			idp corp oidc {
				issuer {env.GATEHOUSE_TEST_CORP_ISSUER}
				client_id gh
				client_secret {env.GATEHOUSE_TEST_UNSET}
			}
			idp google google {
				client_id gh
				client_secret s
			}
			idp gh github {
				client_id gh
				client_secret s
			}
		}
	}
}
`
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	got := cliProviders(cfg)
	want := []cli.IdentityProvider{
		{Name: "corp", Type: "OIDC", Issuer: "https://sso.corp.example"},
		{Name: "google", Type: "Google", Issuer: "https://accounts.google.com"},
		{Name: "gh", Type: "OIDC"},
	}
	if len(got) != len(want) {
		t.Fatalf("cliProviders = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("provider %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
