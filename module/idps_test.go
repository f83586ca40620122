package module_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdentityProviderConfig reads `idp <name> <kind> { ... }` in a pool
// block: the kind's own block goes to its module, and names follow
// Cognito's rules, with errors that name the directive.
func TestIdentityProviderConfig(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			` + opts + `
		}
	}
}
`
	}
	const corp = "oidc {\nissuer https://sso.corp.example\nclient_id gh\nclient_secret s3cret\ndisplay_name \"Corp SSO\"\ndomains corp.example\n}"
	t.Run("a provider's block is its kind's", func(t *testing.T) {
		out, _, err := caddyconfigAdapt(pool("idp corp " + corp + "\nidp corp-2.eu " + corp))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Apps struct {
				Gatehouse struct {
					Pools map[string]struct {
						IdentityProviders []struct {
							Name     string         `json:"name"`
							Provider map[string]any `json:"provider"`
						} `json:"identity_providers"`
					} `json:"pools"`
				} `json:"gatehouse"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		ips := cfg.Apps.Gatehouse.Pools["default"].IdentityProviders
		if len(ips) != 2 || ips[0].Name != "corp" || ips[1].Name != "corp-2.eu" || ips[0].Provider["kind"] != "oidc" ||
			ips[0].Provider["issuer"] != "https://sso.corp.example" || ips[0].Provider["display_name"] != "Corp SSO" {
			t.Fatalf("identity_providers: %+v", ips)
		}
	})
	for _, tc := range []struct{ name, opts, want string }{
		{"no name", "idp", "idp: want `idp <name> <kind>"},
		{"no kind", "idp corp", "idp corp: want a kind"},
		{"unknown kind", "idp corp ldap {\n}", `idp corp: unknown kind "ldap"`},
		{"COGNITO", "idp COGNITO " + corp, "COGNITO names the pool's own users"},
		{"cognito in any case", "idp Cognito " + corp, "COGNITO names the pool's own users"},
		{"too long", "idp " + strings.Repeat("a", 33) + " " + corp, "1 to 32 characters"},
		{"a space or slash", "idp corp/eu " + corp, "only letters, digits"},
		{"defined twice", "idp corp " + corp + "\nidp corp " + corp, "idp corp: defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
