package module

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// LockoutConfig is the per-login brute-force defence (pool.LockoutConfig).
type LockoutConfig struct {
	// Threshold failures within Window lock the login; default 5 in 15m.
	Threshold int            `json:"threshold,omitempty"`
	Window    caddy.Duration `json:"window,omitempty"`
	// Duration is the first lock, doubling with each further failure up
	// to Max; default 1m, at most 15m.
	Duration caddy.Duration `json:"duration,omitempty"`
	Max      caddy.Duration `json:"max,omitempty"`
	Off      bool           `json:"off,omitempty"`
}

func (l LockoutConfig) pool() pool.LockoutConfig {
	return pool.LockoutConfig{
		Threshold: l.Threshold, Window: time.Duration(l.Window), Base: time.Duration(l.Duration),
		Max: time.Duration(l.Max), Off: l.Off,
	}
}

// The MFA and account-protection options of a pool block:
//
//	mfa off|optional|required
//	lockout {
//		threshold <n>         # failures that lock a login; default 5
//		window <duration>     # ... counted within this; default 15m
//		duration <duration>   # first lock; doubles after; default 1m
//		max <duration>        # longest lock; default 15m
//		off
//	}
//	throttle <n> per <duration> [burst <n>]   # per client IP, hosted-page POSTs
//	remember_device <duration>                # skip the second factor on a known browser
//	first_auth_factors PASSWORD [EMAIL_OTP] [WEB_AUTHN]  # USER_AUTH's choices; see userauth.go
//	mfa_secret_key <key> [<previous key>...]  # seals TOTP secrets: base64 of 32 bytes, as
//	                                          # {env.NAME} or {file./path}; previous keys only open
func parseMFAOption(d *caddyfile.Dispenser, cfg *PoolConfig) (bool, error) {
	switch d.Val() {
	case "mfa":
		if err := oneArg(d, &cfg.MFA); err != nil {
			return true, err
		}
		if err := (pool.MFAConfig{Mode: cfg.MFA}).Validate(); err != nil {
			return true, d.Errf("%v", err)
		}
	case "lockout":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		for n := d.Nesting(); d.NextBlock(n); {
			switch opt := d.Val(); opt {
			case "threshold":
				if err := intArg(d, &cfg.Lockout.Threshold); err != nil {
					return true, err
				}
				if cfg.Lockout.Threshold < 1 {
					return true, d.Errf("threshold %d: want at least 1", cfg.Lockout.Threshold)
				}
			case "window":
				if err := durationArg(d, &cfg.Lockout.Window); err != nil {
					return true, err
				}
			case "duration":
				if err := durationArg(d, &cfg.Lockout.Duration); err != nil {
					return true, err
				}
			case "max":
				if err := durationArg(d, &cfg.Lockout.Max); err != nil {
					return true, err
				}
			case "off":
				if d.NextArg() {
					return true, d.ArgErr()
				}
				cfg.Lockout.Off = true
			default:
				return true, d.Errf("unrecognized lockout option %q (want threshold, window, duration, max or off)", opt)
			}
		}
	case "throttle":
		return true, parseThrottle(d, cfg)
	case "first_auth_factors":
		return true, parseFirstFactors(d, cfg)
	case "remember_device":
		return true, durationArg(d, &cfg.RememberDevice)
	case "mfa_secret_key":
		keys := d.RemainingArgs()
		if len(keys) == 0 {
			return true, d.ArgErr()
		}
		// A literal key is checked now; a placeholder when the pool opens.
		for i, k := range keys {
			if _, err := mfaSecretKey(k); err != nil && !strings.Contains(k, "{") {
				if i > 0 {
					return true, d.Errf("previous %v", err)
				}
				return true, d.Errf("%v", err)
			}
		}
		cfg.MFASecretKey, cfg.MFAPreviousSecretKeys = keys[0], keys[1:]
	default:
		return false, nil
	}
	return true, nil
}

// parseThrottle reads `throttle <n> per <duration> [burst <n>]` or
// `throttle off`.
func parseThrottle(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	args := d.RemainingArgs()
	if len(args) == 1 && args[0] == "off" {
		cfg.Throttle = &ThrottleConfig{Off: true}
		return nil
	}
	if (len(args) != 3 && len(args) != 5) || args[1] != "per" || (len(args) == 5 && args[3] != "burst") {
		return d.Err("throttle: want `throttle <n> per <duration> [burst <n>]` or `throttle off`")
	}
	t := &ThrottleConfig{}
	var err error
	if t.Requests, err = positiveInt(args[0]); err != nil {
		return d.Errf("throttle %q: want a positive number of requests", args[0])
	}
	per, err := caddy.ParseDuration(args[2])
	if err != nil || per <= 0 {
		return d.Errf("throttle ... per %q: want a positive duration such as 1m", args[2])
	}
	t.Per = caddy.Duration(per)
	if len(args) == 5 {
		if t.Burst, err = positiveInt(args[4]); err != nil {
			return d.Errf("throttle ... burst %q: want a positive number", args[4])
		}
	}
	cfg.Throttle = t
	return nil
}

// mfaSecretKey reads the mfa_secret_key option, its placeholders replaced:
// nil when unset.
func mfaSecretKey(value string) ([]byte, error) {
	if value == "" {
		return nil, nil
	}
	v := strings.TrimSpace(caddy.NewReplacer().ReplaceKnown(value, ""))
	if v == "" {
		return nil, fmt.Errorf("mfa_secret_key: %q is empty (is the variable or file set?)", value)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil {
			if len(k) != pool.SecretKeyLen {
				return nil, fmt.Errorf("mfa_secret_key: %d bytes, want %d (openssl rand -base64 %d)", len(k), pool.SecretKeyLen, pool.SecretKeyLen)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("mfa_secret_key: not base64 (openssl rand -base64 %d makes one)", pool.SecretKeyLen)
}
