package module

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
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
		default:
			return d.Errf("trigger %s: unrecognized option %q (want secret, timeout or version)", tc.Kind, opt)
		}
	}
	cfg.Triggers = append(cfg.Triggers, tc)
	// The rest (kind, a second of one kind, the URL, the secret, the
	// version) is checked once, as for a JSON config, at this line.
	if err := validateTriggers(cfg); err != nil {
		return d.Err(err.Error())
	}
	return nil
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
			return fmt.Errorf("trigger %s: a secret is required (secret whsec_...; make one with: echo whsec_$(openssl rand -base64 32))", tc.Kind)
		}
		if tc.Version != "" && (tc.Kind != string(trigger.PreTokenGeneration) || (tc.Version != "1" && tc.Version != "2" && tc.Version != "3")) {
			return fmt.Errorf("trigger %s: version %q: only pre_token_generation has a version, 1, 2 or 3", tc.Kind, tc.Version)
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
	opts := trigger.Options{Region: region, UserPoolID: poolID, Logger: zap.NewNop()}
	if cctx, ok := ctx.(caddy.Context); ok {
		opts.Logger = cctx.Logger().Named("trigger")
		if reg := cctx.GetMetricsRegistry(); reg != nil {
			opts.Observe = triggerMetricsOn(reg).observer(name)
		}
	}
	w, err := trigger.New(hooks, opts)
	if err != nil {
		// The errors of trigger.New never hold a secret.
		return nil, err
	}
	return w, nil
}

// triggerMetrics count a server's trigger calls by pool, trigger and
// outcome, and time them, in Caddy's metrics registry (its /metrics).
type triggerMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// triggerMetricsOn registers the metrics in reg once; every pool of the
// config shares them.
func triggerMetricsOn(reg prometheus.Registerer) *triggerMetrics {
	m := &triggerMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gatehouse", Subsystem: "trigger", Name: "calls_total",
			Help: "Trigger calls by pool, trigger and outcome (ok, denied, invalid, timeout, failed)."},
			[]string{"pool", "trigger", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "gatehouse", Subsystem: "trigger", Name: "call_duration_seconds",
			Help: "Time of a trigger call, receiver included.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"pool", "trigger"}),
	}
	if err := reg.Register(m.calls); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			m.calls = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	if err := reg.Register(m.duration); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	return m
}

func (m *triggerMetrics) observer(pool string) func(trigger.Call) {
	return func(c trigger.Call) {
		m.calls.WithLabelValues(pool, string(c.Kind), c.Outcome()).Inc()
		m.duration.WithLabelValues(pool, string(c.Kind)).Observe(c.Duration.Seconds())
	}
}
