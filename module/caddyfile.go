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
	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("gatehouse", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("gatehouse", parseHandler)
	// Guarding must happen before anything answers the request, so a bare
	// site block needs no `order` line: like basic_auth and forward_auth,
	// gatehouse comes before `handle`, `route`, `respond` and
	// `reverse_proxy`, so a site-level block guards every one of them, and
	// a block inside a `handle` runs after it (adding its own rules).
	httpcaddyfile.RegisterDirectiveOrder("gatehouse", httpcaddyfile.After, "forward_auth")
}

// parseGlobal reads the global option:
//
//	gatehouse {
//		pool <name> {
//			store sqlite <path>
//			store postgres <dsn>
//			issuer <url>
//			display_name <text>
//			default_language <tag>     # en (default), de, fr, es, pt-BR, ja, zh-Hans, or one of locales_dir
//			locales_dir <folder>       # <tag>.toml files overriding or adding languages (README, Languages)
//			branding { logo <file>; favicon <file>; stylesheet <file>   # see branding.go
//				color light|dark <role> <hex>; link terms|privacy|support <label> <url> }
//			templates_dir <folder>   # files replacing templates/*.html of the hosted pages
//			password {
//				min_length <n>
//				max_length <n>
//				require lowercase|uppercase|digit|symbol...
//				allow_common
//				allow_email
//			}
//			signup open|invite|off
//			attribute <name> [required] [immutable] [type <t>] ...
//			verification { ... }
//			temporary_password_ttl <duration>
//			account_deletion on|off
//			sign_in_with email|username|phone...   # default email
//			reauth_window <duration>   # default 5m
//			mail smtp://... | outbox <folder> { from ...; ... }   # see accounts_caddyfile.go
//			password_hash {
//				memory_kib <n>
//				iterations <n>
//				parallelism <n>
//			}
//			mfa off|optional|required
//			lockout { threshold <n>; window <d>; duration <d>; max <d>; off }
//			throttle <n> per <duration> [burst <n>] | off   # see mfa_caddyfile.go
//			revocation_refresh <duration>
//			audit_retention <duration>|forever
//			key_rotation <duration>
//			client <id> { ... }      # see parseClient; may hold its own branding { }
//			idp <name> <kind> { ... } # an outside identity provider; see idps.go
//			cognito {                # the Cognito user-pool API on the issuer site
//				pool_id <region>_<id>
//				region <region>      # optional; the pool id's prefix
//				webauthn_origin <origin> # USER_AUTH's passkeys; default the issuer's (userauth.go)
//			}
//			first_auth_factors PASSWORD [EMAIL_OTP] [WEB_AUTHN]  # USER_AUTH's choices
//			srp on|off               # USER_SRP_AUTH through the API (needs cognito; see srp.go)
//			trigger <kind> <url> {   # a lifecycle hook; see triggers.go
//				secret <whsec_...>
//				timeout <duration>
//			}
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
				cfg.Store.Driver, cfg.Store.Path, cfg.Store.DSN = args[0], args[1], ""
			case "postgres":
				cfg.Store.Driver, cfg.Store.Path, cfg.Store.DSN = args[0], "", args[1]
			default:
				return nil, d.Errf("store: unknown driver %q (known: sqlite, postgres)", args[0])
			}
		case "store_timeout":
			var s string
			if err := oneArg(d, &s); err != nil {
				return nil, err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return nil, d.Errf("store_timeout %q: want a positive duration such as 5s", s)
			}
			cfg.Store.Timeout = caddy.Duration(dur)
		case "issuer":
			if err := oneArg(d, &cfg.Issuer); err != nil {
				return nil, err
			}
		case "display_name":
			if err := oneArg(d, &cfg.DisplayName); err != nil {
				return nil, err
			}
		case "default_language":
			if err := oneArg(d, &cfg.DefaultLanguage); err != nil {
				return nil, err
			}
		case "locales_dir":
			if err := oneArg(d, &cfg.LocalesDir); err != nil {
				return nil, err
			}
		case "branding":
			if err := parseBranding(d, &cfg.Branding); err != nil {
				return nil, err
			}
		case "templates_dir":
			if err := oneArg(d, &cfg.TemplatesDir); err != nil {
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
		case "audit_retention":
			var s string
			if err := oneArg(d, &s); err != nil {
				return nil, err
			}
			if s == "forever" {
				cfg.AuditRetention = -1
				break
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return nil, d.Errf("audit_retention %q: want a duration such as 365d, or forever", s)
			}
			cfg.AuditRetention = caddy.Duration(dur)
		case "idp":
			if err := parseIdentityProvider(d, cfg); err != nil {
				return nil, err
			}
		case "client":
			if err := parseClient(d, cfg); err != nil {
				return nil, err
			}
		case "cognito":
			if err := parseCognito(d, cfg); err != nil {
				return nil, err
			}
		case "trigger":
			if err := parseTrigger(d, cfg); err != nil {
				return nil, err
			}
		case "key_rotation":
			if err := parseKeyRotation(d, cfg); err != nil {
				return nil, err
			}
		case "password":
			if err := parsePasswordBlock(d, cfg); err != nil {
				return nil, err
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
			if ok, err := parseAccountOption(d, cfg); ok {
				if err != nil {
					return nil, err
				}
				continue
			}
			if ok, err := parseMFAOption(d, cfg); ok {
				if err != nil {
					return nil, err
				}
				continue
			}
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
//		cookie_host_prefix         # __Host- cookies: HTTPS only
//		hsts off | max-age <duration> [include_subdomains]
//		signer <arn>
//		client_id <id>
//		pass_access_token
//		pass_session_cookie        # keep the session cookie in upstream requests
//		header <Name> <template>   # repeatable; replaces the defaults
//		header off                 # no plain identity headers
//		logout_redirect <url>
//		require group <g>...       # repeatable; every require must hold
//		require claim <name> <value>...
//		require scope <s>...
//		require role <r>...
//		require mfa
//		require authenticated
//		allow anonymous [<path>...]
//		role <name> [when group <g>... | when claim <name> <value>...]
//		guest_role <name>
//		jwt_issuer <url> {
//			audience <aud>...
//			token_use access|id...
//		}
//		bearer off
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
		case "cookie_name", "cookie_secure", "cookie_host_prefix", "hsts":
			if err := parseCookieOption(d, &m.CookieName, &m.CookieSecure, &m.CookieHostPrefix, &m.HSTS); err != nil {
				return err
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
		case "pass_session_cookie":
			if d.NextArg() {
				return d.ArgErr()
			}
			m.PassSessionCookie = true
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
		case "require":
			if err := parseRequire(d, m); err != nil {
				return err
			}
		case "allow":
			args := d.RemainingArgs()
			if len(args) == 0 || args[0] != "anonymous" {
				return d.Errf("allow: want `allow anonymous` or `allow anonymous <path>...`")
			}
			if len(args) == 1 {
				m.AllowAnonymous = true
			}
			m.AnonymousPaths = append(m.AnonymousPaths, args[1:]...)
		case "role":
			if err := parseRole(d, m); err != nil {
				return err
			}
		case "guest_role":
			if err := oneArg(d, &m.GuestRole); err != nil {
				return err
			}
		case "jwt_issuer":
			if err := parseJWTIssuer(d, m); err != nil {
				return err
			}
		case "bearer":
			args := d.RemainingArgs()
			if len(args) != 1 || args[0] != "off" {
				return d.Errf("bearer: want `bearer off`")
			}
			m.NoBearer = true
		default:
			return d.Errf("unrecognized gatehouse option %q", d.Val())
		}
	}
	if _, _, _, err := cookieSetup(m.CookieName, m.CookieSecure, m.CookieHostPrefix); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// parseRequire reads `require <kind> ...`.
func parseRequire(d *caddyfile.Dispenser, m *Handler) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("require: want group, claim, scope, role, mfa or authenticated")
	}
	r := middleware.Rule{Kind: args[0], Values: args[1:]}
	if r.Kind == "claim" {
		if len(args) < 3 {
			return d.Errf("require claim: want `require claim <name> <value>...`")
		}
		r.Claim, r.Values = args[1], args[2:]
	}
	if len(r.Values) == 0 {
		r.Values = nil
	}
	if err := middleware.CheckPolicy(middleware.Policy{Rules: []middleware.Rule{r}}); err != nil {
		return d.Errf("%v", err)
	}
	m.Require = append(m.Require, r)
	return nil
}

// parseRole reads `role <name> [when group <g>... | when claim <name> <value>...]`.
func parseRole(d *caddyfile.Dispenser, m *Handler) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("role: want `role <name> when group <g>...`, `role <name> when claim <name> <value>...` or `role <name>`")
	}
	rr := middleware.RoleRule{Role: args[0]}
	switch {
	case len(args) == 1:
	case len(args) >= 4 && args[1] == "when" && args[2] == "group":
		rr.When, rr.Values = "group", args[3:]
	case len(args) >= 5 && args[1] == "when" && args[2] == "claim":
		rr.When, rr.Claim, rr.Values = "claim", args[3], args[4:]
	default:
		return d.Errf("role %s: want `when group <g>...` or `when claim <name> <value>...`", args[0])
	}
	for _, prev := range m.Roles {
		if prev.When == "" {
			return d.Errf("role %s: comes after role %s, which has no condition and so matches everyone first", rr.Role, prev.Role)
		}
	}
	m.Roles = append(m.Roles, rr)
	return nil
}

// parseJWTIssuer reads
//
//	jwt_issuer <url> {
//		audience <aud>...
//		token_use access|id...
//	}
func parseJWTIssuer(d *caddyfile.Dispenser, m *Handler) error {
	var j middleware.JWTIssuer
	if err := oneArg(d, &j.Issuer); err != nil {
		return err
	}
	for _, prev := range m.JWTIssuers {
		if prev.Issuer == j.Issuer {
			return d.Errf("jwt_issuer %s: configured twice", j.Issuer)
		}
	}
	for n := d.Nesting(); d.NextBlock(n); {
		switch opt := d.Val(); opt {
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("audience: want at least one value")
			}
			j.Audiences = append(j.Audiences, args...)
		case "token_use":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("token_use: want access, id or both")
			}
			for _, u := range args {
				if u != "access" && u != "id" {
					return d.Errf("token_use %q: want access or id", u)
				}
			}
			j.TokenUse = args
		default:
			return d.Errf("unrecognized jwt_issuer option %q (want audience or token_use)", opt)
		}
	}
	m.JWTIssuers = append(m.JWTIssuers, j)
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

func positiveInt(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, strconv.ErrSyntax
	}
	return v, nil
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

// parseCookieOption reads the option d is on, one of the cookie and HTTPS
// options both site directives take (cookie_name, cookie_secure,
// cookie_host_prefix, hsts), into the directive's fields.
func parseCookieOption(d *caddyfile.Dispenser, name, secure *string, hostPrefix *bool, hsts **HSTS) error {
	switch d.Val() {
	case "cookie_name":
		return oneArg(d, name)
	case "cookie_secure":
		if err := oneArg(d, secure); err != nil {
			return err
		}
		if _, err := secureFunc(*secure); err != nil {
			return d.Errf("%v", err)
		}
	case "cookie_host_prefix":
		if d.NextArg() {
			return d.Errf("cookie_host_prefix: takes no value")
		}
		*hostPrefix = true
	case "hsts":
		h, err := parseHSTS(d)
		if err != nil {
			return err
		}
		*hsts = h
	}
	return nil
}

// parseCognito reads `cognito { pool_id <region>_<id>  region <region> }`.
func parseCognito(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if cfg.Cognito != nil {
		return d.Err("cognito: given twice")
	}
	c := &CognitoConfig{}
	for n := d.Nesting(); d.NextBlock(n); {
		switch d.Val() {
		case "pool_id":
			if err := oneArg(d, &c.PoolID); err != nil {
				return err
			}
		case "region":
			if err := oneArg(d, &c.Region); err != nil {
				return err
			}
		case "webauthn_origin":
			if err := oneArg(d, &c.WebAuthnOrigin); err != nil {
				return err
			}
		default:
			return d.Errf("cognito: unrecognized option %q (want pool_id, region or webauthn_origin)", d.Val())
		}
	}
	if err := cognito.CheckPoolID(c.PoolID, c.Region); err != nil {
		return d.Errf("cognito: %v", err)
	}
	cfg.Cognito = c
	return nil
}
