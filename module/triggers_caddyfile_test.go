package module_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// `trigger <kind> <url> { secret ... timeout ... }` in a pool block.
func TestTriggerCaddyfile(t *testing.T) {
	secret := trigger.NewSecret()
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + t.TempDir() + `/gh.db
			` + opts + `
		}
	}
}
`
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"unknown kind", "trigger pre_signup https://h.example/ {\n secret " + secret + "\n}", "unknown kind"},
		{"missing url", "trigger pre_sign_up {\n secret " + secret + "\n}", "want `trigger <kind> <url>"},
		{"plain http elsewhere", "trigger pre_sign_up http://h.example/ {\n secret " + secret + "\n}", "loopback"},
		{"no secret", "trigger pre_sign_up https://h.example/", "secret is required"},
		{"bad secret", "trigger pre_sign_up https://h.example/ {\n secret hunter2\n}", "whsec_"},
		{"bad timeout", "trigger pre_sign_up https://h.example/ {\n secret " + secret + "\n timeout 1m\n}", "timeout"},
		{"unknown option", "trigger pre_sign_up https://h.example/ {\n secret " + secret + "\n retries 3\n}", "unrecognized option"},
		{"version elsewhere", "trigger pre_sign_up https://h.example/ {\n secret " + secret + "\n version 2\n}", "only pre_token_generation"},
		{"version 4", "trigger pre_token_generation https://h.example/ {\n secret " + secret + "\n version 4\n}", "only pre_token_generation"},
		{"twice", "trigger pre_sign_up https://h.example/ {\n secret " + secret + "\n}\ntrigger pre_sign_up https://h.example/b {\n secret " + secret + "\n}", "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
	out, _, err := caddyconfigAdapt(pool("trigger pre_sign_up https://hooks.example/signup {\n secret {env.GH_HOOK_SECRET}\n timeout 2s\n}\n" +
		"trigger post_confirmation http://127.0.0.1:9999/confirmed {\n secret " + secret + "\n}"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			Gatehouse struct {
				Pools map[string]module.PoolConfig `json:"pools"`
			} `json:"gatehouse"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.Apps.Gatehouse.Pools["default"].Triggers
	if len(got) != 2 || got[0].Kind != "pre_sign_up" || got[0].URL != "https://hooks.example/signup" ||
		got[0].Secret != "{env.GH_HOOK_SECRET}" || time.Duration(got[0].Timeout) != 2*time.Second ||
		got[1].Kind != "post_confirmation" || got[1].Timeout != 0 {
		t.Fatalf("triggers = %+v", got)
	}
}

// A placeholder secret is read when the pool opens; an unset one is an
// error that names the trigger, not a pool that signs with nothing.
func TestTriggerSecretPlaceholder(t *testing.T) {
	cfg := &module.PoolConfig{Store: module.StoreConfig{Driver: "sqlite", Path: t.TempDir() + "/gh.db"},
		Triggers: []module.TriggerConfig{{Kind: "pre_sign_up", URL: "http://127.0.0.1:1/", Secret: "{env.GH_TEST_UNSET_TRIGGER_SECRET}"}}}
	if _, err := module.OpenPool(context.Background(), "default", cfg); err == nil || !strings.Contains(err.Error(), "pre_sign_up") {
		t.Fatalf("OpenPool = %v, want an error naming the trigger", err)
	}
	t.Setenv("GH_TEST_TRIGGER_SECRET", trigger.NewSecret())
	cfg.Triggers[0].Secret = "{env.GH_TEST_TRIGGER_SECRET}"
	p, err := module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !trigger.Configured(p.Pool.Triggers(), trigger.PreSignUp) || trigger.Configured(p.Pool.Triggers(), trigger.PostConfirmation) {
		t.Fatal("the pool's hooks are not the configured ones")
	}
}
