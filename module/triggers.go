package module

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/trigger"
)

// TriggerConfig is one lifecycle hook of a pool (package trigger): where
// the pool POSTs the trigger's Cognito event, and the secret it signs it
// with.
type TriggerConfig struct {
	// Kind is the trigger, as trigger.Kind names it (pre_sign_up, ...).
	Kind string `json:"kind"`
	// URL is HTTPS, or plain HTTP to a loopback address.
	URL string `json:"url"`
	// Secret is the Standard Webhooks secret (whsec_ and base64), best
	// given as a placeholder ({env.NAME} or {file./path}).
	Secret string `json:"secret"`
	// Timeout bounds a call; default 5s (Cognito's), at most 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Version is pre_token_generation's event version: 1 (the default:
	// ID token claims), 2 (ID and access token claims, scopes) or 3 (2,
	// and client credentials tokens too).
	Version string `json:"version,omitempty"`
}

// parseTrigger reads a pool block's hook:
//
//	trigger <kind> <url> {
//		secret <whsec_...>   # required; best {env.NAME} or {file./path}
//		timeout <duration>   # default 5s
//		version 1|2|3        # pre_token_generation only; default 1
//	}
func parseTrigger(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("trigger: want `trigger <kind> <url> { secret ... }`, got %d arguments", len(args))
	}
	tc := TriggerConfig{Kind: args[0], URL: args[1]}
	if !trigger.Kind(tc.Kind).Valid() {
		return d.Errf("trigger %q: unknown kind (known: %s)", tc.Kind, triggerKinds())
	}
	for _, have := range cfg.Triggers {
		if have.Kind == tc.Kind {
			return d.Errf("trigger %s is configured twice", tc.Kind)
		}
	}
	if _, err := trigger.CheckURL(tc.URL); err != nil {
		return d.Errf("trigger %s: %v", tc.Kind, err)
	}
	for n := d.Nesting(); d.NextBlock(n); {
		switch opt := d.Val(); opt {
		case "secret":
			if err := oneArg(d, &tc.Secret); err != nil {
				return err
			}
		case "timeout":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 || dur > trigger.MaxTimeout {
				return d.Errf("trigger %s: timeout %q: want a positive duration up to %s", tc.Kind, s, trigger.MaxTimeout)
			}
			tc.Timeout = caddy.Duration(dur)
		case "version":
			if err := oneArg(d, &tc.Version); err != nil {
				return err
			}
			if tc.Kind != string(trigger.PreTokenGeneration) || (tc.Version != "1" && tc.Version != "2" && tc.Version != "3") {
				return d.Errf("trigger %s: version %q: only pre_token_generation has a version, 1, 2 or 3", tc.Kind, tc.Version)
			}
		default:
			return d.Errf("trigger %s: unrecognized option %q (want secret, timeout or version)", tc.Kind, opt)
		}
	}
	if tc.Secret == "" {
		return d.Errf("trigger %s: a secret is required (secret whsec_...; make one with: echo whsec_$(openssl rand -base64 32))", tc.Kind)
	}
	cfg.Triggers = append(cfg.Triggers, tc)
	return validateTriggers(cfg)
}

func triggerKinds() string {
	names := make([]string, len(trigger.Kinds))
	for i, k := range trigger.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// validateTriggers checks what can be checked before placeholders are
// replaced: kinds, URLs, timeouts, and secrets given literally.
func validateTriggers(c *PoolConfig) error {
	seen := map[string]bool{}
	for _, tc := range c.Triggers {
		if !trigger.Kind(tc.Kind).Valid() {
			return fmt.Errorf("trigger %q: unknown kind (known: %s)", tc.Kind, triggerKinds())
		}
		if seen[tc.Kind] {
			return fmt.Errorf("trigger %s is configured twice", tc.Kind)
		}
		seen[tc.Kind] = true
		if _, err := trigger.CheckURL(tc.URL); err != nil {
			return fmt.Errorf("trigger %s: %w", tc.Kind, err)
		}
		if tc.Timeout < 0 || time.Duration(tc.Timeout) > trigger.MaxTimeout {
			return fmt.Errorf("trigger %s: timeout %s: want a positive duration up to %s", tc.Kind, time.Duration(tc.Timeout), trigger.MaxTimeout)
		}
		if tc.Secret == "" {
			return fmt.Errorf("trigger %s: a secret is required", tc.Kind)
		}
		if !strings.Contains(tc.Secret, "{") {
			if _, err := trigger.ParseSecret(tc.Secret); err != nil {
				return fmt.Errorf("trigger %s: secret: %w", tc.Kind, err)
			}
		}
	}
	return nil
}

// triggerInvoker makes the pool's hooks, with placeholders in the secrets
// replaced; nil when the pool has none.
func triggerInvoker(ctx context.Context, name string, c *PoolConfig) (*trigger.Webhooks, error) {
	if len(c.Triggers) == 0 {
		return nil, nil
	}
	repl := caddy.NewReplacer()
	hooks := make([]trigger.Hook, 0, len(c.Triggers))
	for _, tc := range c.Triggers {
		secret := repl.ReplaceKnown(tc.Secret, "")
		if secret == "" {
			return nil, fmt.Errorf("trigger %s: the secret is empty once placeholders are replaced (is the variable set?)", tc.Kind)
		}
		hooks = append(hooks, trigger.Hook{Kind: trigger.Kind(tc.Kind), URL: tc.URL, Secret: secret, Timeout: time.Duration(tc.Timeout), EventVersion: tc.Version})
	}
	poolID, region := name, ""
	if c.Cognito != nil {
		poolID, region = c.Cognito.PoolID, c.Cognito.Region
		if region == "" {
			region, _, _ = strings.Cut(poolID, "_")
		}
	}
	log := zap.NewNop()
	if cctx, ok := ctx.(caddy.Context); ok {
		log = cctx.Logger().Named("trigger")
	}
	w, err := trigger.New(hooks, trigger.Options{Region: region, UserPoolID: poolID, Logger: log})
	if err != nil {
		// The errors of trigger.New never hold a secret.
		return nil, err
	}
	return w, nil
}
