package module

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestRefreshTokenRotationOption: `refresh_token_rotation off | on [grace
// <d>]` in a client block, as adapted JSON, and its mistakes refused with a
// message naming the option.
func TestRefreshTokenRotationOption(t *testing.T) {
	t.Parallel()
	caddyfile := func(t *testing.T, opt string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			issuer https://auth.example.test
			client a {
				public
				redirect_uri https://a.test/cb
				` + opt + `
			}
		}
	}
}
http://127.0.0.1:1 {
	gatehouse_idp
}
`
	}
	adapt := func(t *testing.T, opt string) ([]byte, error) {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile(t, opt)), map[string]any{"filename": "Caddyfile"})
		return out, err
	}
	for _, tc := range []struct {
		opt      string
		rotation string
		grace    time.Duration
	}{
		{"", "", 0},
		{"refresh_token_rotation off", "off", 0},
		{"refresh_token_rotation on", "on", 0},
		{"refresh_token_rotation on grace 30s", "on", 30 * time.Second},
		{"refresh_token_rotation on grace 0", "on", -1},
	} {
		t.Run("valid "+tc.opt, func(t *testing.T) {
			out, err := adapt(t, tc.opt)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var cfg struct {
				Apps struct {
					Gatehouse App `json:"gatehouse"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			c := cfg.Apps.Gatehouse.Pools["default"].Clients[0]
			if c.RefreshTokenRotation != tc.rotation || c.RefreshTokenGrace != caddy.Duration(tc.grace) {
				t.Errorf("rotation %q grace %v, want %q %v", c.RefreshTokenRotation, time.Duration(c.RefreshTokenGrace), tc.rotation, tc.grace)
			}
			if _, err := readyClients([]ClientConfig{c}); err != nil {
				t.Errorf("the adapted client is refused: %v", err)
			}
		})
	}
	for _, opt := range []string{
		"refresh_token_rotation",
		"refresh_token_rotation sometimes",
		"refresh_token_rotation off grace 5s",
		"refresh_token_rotation on grace",
		"refresh_token_rotation on grace soon",
		"refresh_token_rotation on grace -5s",
		"refresh_token_rotation on grace 2m",
		"refresh_token_rotation on leeway 5s",
		"refresh_token_rotation on grace 5s more",
	} {
		t.Run("invalid "+opt, func(t *testing.T) {
			if _, err := adapt(t, opt); err == nil || !strings.Contains(err.Error(), "refresh_token_rotation") {
				t.Fatalf("adapt error %v, want one naming refresh_token_rotation", err)
			}
		})
	}
}
