package openid

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
)

// ClientOptions are the OpenID client options every kind reads.
type ClientOptions struct {
	// Issuer is the provider's issuer URL. Required for oidc; the presets
	// know theirs, and take this only to point at another (a test
	// provider, a sovereign cloud).
	Issuer string `json:"issuer,omitempty"`
	// ClientID is Gatehouse's client at the provider (Apple: the Services
	// ID). Placeholders ({env.X}, {file.X}) are replaced when it opens.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the client's secret; placeholders are replaced when
	// it opens. Empty for a public client (PKCE alone). Apple has none:
	// its secret is made from the private key.
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes asked for; must hold openid. Default: the kind's.
	Scopes []string `json:"scopes,omitempty"`
}

// parse reads one client option at d's cursor; it reports false for an
// option that is not one.
func (o *ClientOptions) parse(d *caddyfile.Dispenser, kind string, secret bool) (bool, error) {
	opt := d.Val()
	switch opt {
	case "issuer", "client_id":
		v, err := oneArg(d, kind)
		if err != nil {
			return true, err
		}
		if opt == "issuer" {
			o.Issuer = v
		} else {
			o.ClientID = v
		}
	case "client_secret":
		if !secret {
			return true, d.Errf("idp %s: client_secret: Apple's client secret is made from team_id, key_id and private_key", kind)
		}
		v, err := oneArg(d, kind)
		if err != nil {
			return true, err
		}
		o.ClientSecret = v
	case "scopes":
		o.Scopes = d.RemainingArgs()
		if len(o.Scopes) == 0 {
			return true, d.Errf("idp %s: scopes: want one or more scopes", kind)
		}
	default:
		return false, nil
	}
	return true, nil
}

// validate checks what can be checked before placeholders are replaced.
func (o *ClientOptions) validate(kind string, issuerRequired bool) error {
	if o.Issuer == "" && issuerRequired {
		return fmt.Errorf("idp %s: issuer is required", kind)
	}
	if o.Issuer != "" && !strings.Contains(o.Issuer, "{") {
		if err := oidcclient.CheckIssuerURL(o.Issuer); err != nil {
			return fmt.Errorf("idp %s: %v", kind, err)
		}
	}
	if o.ClientID == "" {
		return fmt.Errorf("idp %s: client_id is required", kind)
	}
	if len(o.Scopes) > 0 && !slices.Contains(o.Scopes, "openid") {
		return fmt.Errorf("idp %s: scopes %v must hold openid", kind, o.Scopes)
	}
	return nil
}

// clientConfig is the oidcclient configuration of o for a connector
// opened in env, with placeholders replaced.
func (o *ClientOptions) clientConfig(env federation.Env, kind, issuer string, scopes []string) (oidcclient.Config, error) {
	repl := caddy.NewReplacer()
	if o.Issuer != "" {
		issuer = repl.ReplaceKnown(o.Issuer, "")
	}
	if len(o.Scopes) > 0 {
		scopes = o.Scopes
	}
	cfg := oidcclient.Config{
		Issuer:       issuer,
		ClientID:     strings.TrimSpace(repl.ReplaceKnown(o.ClientID, "")),
		ClientSecret: strings.TrimSpace(repl.ReplaceKnown(o.ClientSecret, "")),
		Scopes:       scopes,
		HTTPClient:   env.HTTPClient,
		Logger:       logger(env, kind),
		Now:          env.Now,
	}
	if cfg.ClientID == "" {
		return cfg, fmt.Errorf("idp %s %s: client_id %q is empty once placeholders are replaced (is the variable set?)", env.Name, kind, o.ClientID)
	}
	if o.ClientSecret != "" && cfg.ClientSecret == "" {
		return cfg, fmt.Errorf("idp %s %s: client_secret is empty once placeholders are replaced (is the variable set?)", env.Name, kind)
	}
	return cfg, nil
}

func logger(env federation.Env, kind string) *zap.Logger {
	if env.Logger == nil {
		return zap.NewNop()
	}
	return env.Logger.With(zap.String("idp", env.Name), zap.String("kind", kind))
}

// newClient makes the oidcclient of cfg, naming the provider in errors.
func newClient(env federation.Env, kind string, cfg oidcclient.Config) (*oidcclient.Client, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c, err := oidcclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("idp %s %s: %w", env.Name, kind, err)
	}
	return c, nil
}

// parseBlock reads `<kind> { ... }`: the options own knows, then the
// common ones, refusing any other.
func parseBlock(d *caddyfile.Dispenser, common *federation.Common, own func(kind, opt string) (bool, error)) error {
	if !d.Next() {
		return d.Err("expected the provider kind")
	}
	kind := d.Val()
	if d.NextArg() {
		return d.Errf("idp %s: unexpected argument %q; options go in a block", kind, d.Val())
	}
	for d.NextBlock(0) {
		opt := d.Val()
		ok, err := own(kind, opt)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if err := common.ParseOptionOrRefuse(d, "idp "+kind); err != nil {
			return err
		}
	}
	return nil
}

// oneArg reads the one argument of the option at d's cursor.
func oneArg(d *caddyfile.Dispenser, kind string) (string, error) {
	opt := d.Val()
	if !d.NextArg() {
		return "", d.Errf("idp %s: %s: want one value", kind, opt)
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.Errf("idp %s: %s: want one value, got also %q", kind, opt, d.Val())
	}
	return v, nil
}

// onOff reads an optional on|off argument (none means on).
func onOff(d *caddyfile.Dispenser, kind string) (bool, error) {
	opt := d.Val()
	if !d.NextArg() {
		return true, nil
	}
	var on bool
	switch d.Val() {
	case "on", "true", "yes":
		on = true
	case "off", "false", "no":
	default:
		return false, d.Errf("idp %s: %s: %q: want on or off", kind, opt, d.Val())
	}
	if d.NextArg() {
		return false, d.ArgErr()
	}
	return on, nil
}

var errNoName = errors.New("openid: Open needs the provider's name (Env.Name)")

// lowerAll lower-cases and de-duplicates domain or tenant lists.
func lowerAll(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
