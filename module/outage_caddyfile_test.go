package module_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
)

// TestStoreTimeoutConfig covers `store_timeout` from Caddyfile to config,
// before or after the store line, and its errors naming the directive.
func TestStoreTimeoutConfig(t *testing.T) {
	caddyfile := func(lines string) string {
		return "{\n\tgatehouse {\n\t\tpool default {\n" + lines + "\n\t\t}\n\t}\n}\n"
	}
	for _, lines := range []string{
		"store sqlite /tmp/x.db\nstore_timeout 2s",
		"store_timeout 2s\nstore sqlite /tmp/x.db",
	} {
		var cfg struct {
			Apps struct {
				Gatehouse module.App `json:"gatehouse"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(testenv.Adapt(t, caddyfile(lines)), &cfg); err != nil {
			t.Fatal(err)
		}
		want := module.StoreConfig{Driver: "sqlite", Path: "/tmp/x.db", Timeout: caddy.Duration(2 * time.Second)}
		if got := cfg.Apps.Gatehouse.Pools["default"].Store; got != want {
			t.Errorf("%q: store = %+v, want %+v", lines, got, want)
		}
	}
	for _, line := range []string{"store_timeout", "store_timeout 0s", "store_timeout -1s", "store_timeout soon", "store_timeout 1s 2s"} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile(line)), map[string]any{"filename": "Caddyfile"})
		if err == nil || !strings.Contains(err.Error(), "store_timeout") && !strings.Contains(err.Error(), "argument") {
			t.Errorf("%q: err = %v, want an error naming store_timeout", line, err)
		}
	}
	bad := &module.PoolConfig{Store: module.StoreConfig{Driver: "sqlite", Path: "/tmp/x.db", Timeout: -1}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "store_timeout") {
		t.Errorf("Validate with a negative timeout: %v, want an error naming store_timeout", err)
	}
}
