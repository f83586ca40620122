package module

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("gatehouse", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("gatehouse", parseHandler)
	// Guarding must happen before the request is proxied, so a bare site
	// block needs no `order` line.
	httpcaddyfile.RegisterDirectiveOrder("gatehouse", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobal reads the global option:
//
//	gatehouse {
//		pool <name> {
//			store sqlite <path>
//			store postgres <dsn>
//			issuer <url>
//			display_name <text>
//			password {
//				min_length <n>
//				max_length <n>
//			}
//			password_hash {
//				memory_kib <n>
//				iterations <n>
//				parallelism <n>
//			}
//			revocation_refresh <duration>
//			key_rotation <duration>
//			client <id> { ... }      # see parseClient
//		}
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	app := &App{Pools: map[string]*PoolConfig{}}
	if existing != nil {
		// The option may appear more than once; pools accumulate.
		prev, ok := existing.(httpcaddyfile.App)
		if ok {
			if err := json.Unmarshal(prev.Value, app); err != nil {
				return nil, err
			}
		}
	}
	for d.Next() {
		if d.NextArg() {
			return nil, d.ArgErr()
		}
		for d.NextBlock(0) {
			switch d.Val() {
			case "pool":
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				name := d.Val()
				if _, dup := app.Pools[name]; dup {
					return nil, d.Errf("pool %q is defined twice", name)
				}
				cfg, err := parsePool(d)
				if err != nil {
					return nil, err
				}
				app.Pools[name] = cfg
			default:
				return nil, d.Errf("unrecognized gatehouse option %q (want: pool)", d.Val())
			}
		}
	}
	return httpcaddyfile.App{Name: "gatehouse", Value: caddyconfig.JSON(app, nil)}, nil
}

func parsePool(d *caddyfile.Dispenser) (*PoolConfig, error) {
	cfg := &PoolConfig{}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "store":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Errf("store: want `store sqlite <path>` or `store postgres <dsn>`, got %d arguments", len(args))
			}
			switch args[0] {
			case "sqlite":
				cfg.Store = StoreConfig{Driver: args[0], Path: args[1]}
			case "postgres":
				cfg.Store = StoreConfig{Driver: args[0], DSN: args[1]}
			default:
				return nil, d.Errf("store: unknown driver %q (known: sqlite, postgres)", args[0])
			}
		case "issuer":
			if err := oneArg(d, &cfg.Issuer); err != nil {
				return nil, err
			}
		case "display_name":
			if err := oneArg(d, &cfg.DisplayName); err != nil {
				return nil, err
			}
		case "revocation_refresh":
			var s string
			if err := oneArg(d, &s); err != nil {
				return nil, err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return nil, d.Errf("revocation_refresh %q: want a positive duration such as 5s", s)
			}
			cfg.RevocationRefresh = caddy.Duration(dur)
		case "client":
			if err := parseClient(d, cfg); err != nil {
				return nil, err
			}
		case "key_rotation":
			if err := parseKeyRotation(d, cfg); err != nil {
				return nil, err
			}
		case "password":
			for n := d.Nesting(); d.NextBlock(n); {
				opt := d.Val()
				var v int
				if err := intArg(d, &v); err != nil {
					return nil, err
				}
				switch opt {
				case "min_length":
					cfg.Password.MinLength = v
				case "max_length":
					cfg.Password.MaxLength = v
				default:
					return nil, d.Errf("unrecognized password option %q (want min_length or max_length)", opt)
				}
			}
			if err := cfg.Password.Validate(); err != nil {
				return nil, d.Errf("password: %v", err)
			}
		case "password_hash":
			for n := d.Nesting(); d.NextBlock(n); {
				opt := d.Val()
				var v int
				if err := intArg(d, &v); err != nil {
					return nil, err
				}
				switch opt {
				case "memory_kib":
					cfg.PasswordHash.MemoryKiB = uint32(v)
				case "iterations":
					cfg.PasswordHash.Iterations = uint32(v)
				case "parallelism":
					if v > 255 {
						return nil, d.Errf("parallelism %d: at most 255", v)
					}
					cfg.PasswordHash.Parallelism = uint8(v)
				default:
					return nil, d.Errf("unrecognized password_hash option %q (want memory_kib, iterations or parallelism)", opt)
				}
			}
		default:
			return nil, d.Errf("unrecognized pool option %q", d.Val())
		}
	}
	if cfg.Store.Driver == "" {
		return nil, d.Err("pool: a store is required (for example: store sqlite ./data/gatehouse.db)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, d.Errf("%v", err)
	}
	return cfg, nil
}

// parseHandler reads the site directive:
//
//	gatehouse {
//		pool <name>
//		oidc_issuer <url>          # sign in at an outside OpenID provider
//		client_secret <secret>     # with oidc_issuer
//		scopes <scope...>          # with oidc_issuer; default openid email profile
//		on_unauthenticated authenticate|deny|allow
//		session_timeout <duration>
//		claims_refresh <duration>
//		cookie_name <name>
//		cookie_secure auto|always|never
//		signer <arn>
//		client_id <id>
//		pass_access_token
//		header <Name> <template>   # repeatable; replaces the defaults
//		header off                 # no plain identity headers
//		logout_redirect <url>
//	}
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := &Handler{}
	return m, m.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (m *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "pool":
			if err := oneArg(d, &m.Pool); err != nil {
				return err
			}
		case "on_unauthenticated":
			if err := oneArg(d, &m.OnUnauthenticated); err != nil {
				return err
			}
			if _, err := middleware.ParseMode(m.OnUnauthenticated); err != nil {
				return d.Errf("%v", err)
			}
		case "session_timeout", "claims_refresh":
			opt := d.Val()
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration such as 7d or 30m", opt, s)
			}
			if opt == "session_timeout" {
				m.SessionTimeout = caddy.Duration(dur)
			} else {
				m.ClaimsRefresh = caddy.Duration(dur)
			}
		case "cookie_name":
			if err := oneArg(d, &m.CookieName); err != nil {
				return err
			}
		case "cookie_secure":
			if err := oneArg(d, &m.CookieSecure); err != nil {
				return err
			}
			if _, err := secureFunc(m.CookieSecure); err != nil {
				return d.Errf("%v", err)
			}
		case "signer":
			if err := oneArg(d, &m.Signer); err != nil {
				return err
			}
		case "client_id":
			if err := oneArg(d, &m.ClientID); err != nil {
				return err
			}
		case "oidc_issuer":
			if err := oneArg(d, &m.OIDCIssuer); err != nil {
				return err
			}
		case "client_secret":
			if err := oneArg(d, &m.ClientSecret); err != nil {
				return err
			}
		case "scopes":
			m.Scopes = d.RemainingArgs()
			if !slices.Contains(m.Scopes, "openid") {
				return d.Errf("scopes %v: must include openid", m.Scopes)
			}
		case "pass_access_token":
			if d.NextArg() {
				return d.ArgErr()
			}
			m.PassAccessToken = true
		case "header":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "off":
				m.NoPlainHeaders = true
			case len(args) == 2:
				m.Headers = append(m.Headers, middleware.HeaderRule{Name: args[0], Template: args[1]})
			default:
				return d.Errf("header: want `header <Name> <template>` or `header off`")
			}
		case "logout_redirect":
			if err := oneArg(d, &m.LogoutRedirect); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized gatehouse option %q", d.Val())
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("%s: want exactly one value, got %d", opt, len(args))
	}
	*dst = args[0]
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return d.Errf("%s %q: want a whole number", opt, s)
	}
	*dst = v
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
