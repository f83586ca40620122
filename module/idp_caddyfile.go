package module

import (
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/signing"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("gatehouse_idp", parseIDP)
	// Just before forward_auth, and so before gatehouse (just after it),
	// handle, respond and reverse_proxy: the provider's paths and the issuer
	// site's sign-in pages must be answered by the provider even on an issuer
	// site that is also guarded, responds or proxies. Ordering relative to
	// gatehouse itself is not allowed (only standard directives), hence the
	// two neighbours of forward_auth.
	httpcaddyfile.RegisterDirectiveOrder("gatehouse_idp", httpcaddyfile.Before, "forward_auth")
}

// parseIDP reads the site directive:
//
//	gatehouse_idp {
//		pool <name>
//		session_timeout <duration>
//		cookie_name <name>
//		cookie_secure auto|always|never
//		cookie_host_prefix
//		hsts off | max-age <duration> [include_subdomains]
//	}
func parseIDP(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := &IDP{}
	return m, m.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens.
func (m *IDP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
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
		case "session_timeout":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("session_timeout %q: want a positive duration such as 7d or 12h", s)
			}
			m.SessionTimeout = caddy.Duration(dur)
		case "cookie_name", "cookie_secure", "cookie_host_prefix", "hsts":
			if err := parseCookieOption(d, &m.CookieName, &m.CookieSecure, &m.CookieHostPrefix, &m.HSTS); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized gatehouse_idp option %q (want pool, session_timeout, cookie_name, cookie_secure, cookie_host_prefix or hsts)", d.Val())
		}
	}
	if _, _, _, err := cookieSetup(m.CookieName, m.CookieSecure, m.CookieHostPrefix); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// parseClient reads one app client of a pool block, the cursor on `client`:
//
//	client <id> {
//		redirect_uri <uri>...
//		post_logout_redirect_uri <uri>...
//		secret <secret or {env.X}>
//		public
//		scopes <scope>...
//		grant_types <grant>...
//		id_token_ttl <duration>
//		access_token_ttl <duration>
//		refresh_token_ttl <duration>
//		refresh_token_rotation off | on [grace <duration>]
//		signing_alg ES256|RS256
//		auth_flows ALLOW_USER_PASSWORD_AUTH ...   # the Cognito API's flows; default
//		                                          # ALLOW_USER_SRP_AUTH ALLOW_REFRESH_TOKEN_AUTH
//	}
func parseClient(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("client: want `client <id> { ... }`, got %d arguments", len(args))
	}
	c := ClientConfig{ID: args[0]}
	for n := d.Nesting(); d.NextBlock(n); {
		opt := d.Val()
		switch opt {
		case "redirect_uri", "post_logout_redirect_uri", "scopes", "grant_types", "auth_flows":
			vals := d.RemainingArgs()
			if len(vals) == 0 {
				return d.Errf("client %s: %s: want at least one value", c.ID, opt)
			}
			switch opt {
			case "redirect_uri":
				c.RedirectURIs = append(c.RedirectURIs, vals...)
			case "post_logout_redirect_uri":
				c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, vals...)
			case "scopes":
				c.Scopes = append(c.Scopes, vals...)
			case "grant_types":
				c.GrantTypes = append(c.GrantTypes, vals...)
			case "auth_flows":
				c.AuthFlows = append(c.AuthFlows, vals...)
			}
		case "secret":
			if err := oneArg(d, &c.Secret); err != nil {
				return err
			}
		case "public":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Public = true
		case "id_token_ttl", "access_token_ttl", "refresh_token_ttl":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("client %s: %s %q: want a positive duration such as 1h or 30d", c.ID, opt, s)
			}
			switch opt {
			case "id_token_ttl":
				c.IDTokenTTL = caddy.Duration(dur)
			case "access_token_ttl":
				c.AccessTokenTTL = caddy.Duration(dur)
			case "refresh_token_ttl":
				c.RefreshTokenTTL = caddy.Duration(dur)
			}
		case "refresh_token_rotation":
			if err := parseRotation(d, &c); err != nil {
				return err
			}
		case "signing_alg":
			if err := oneArg(d, &c.SigningAlg); err != nil {
				return err
			}
		case "branding":
			if err := parseBranding(d, &c.Branding); err != nil {
				return err
			}
		default:
			return d.Errf("client %s: unrecognized option %q (want redirect_uri, post_logout_redirect_uri, secret, public, scopes, grant_types, id_token_ttl, access_token_ttl, refresh_token_ttl, refresh_token_rotation, signing_alg, auth_flows or branding)", c.ID, opt)
		}
	}
	if slices.ContainsFunc(cfg.Clients, func(o ClientConfig) bool { return o.ID == c.ID }) {
		return d.Errf("client %s: defined twice", c.ID)
	}
	if err := c.client(c.Secret).Validate(); err != nil {
		return d.Errf("client %s: %v", c.ID, err)
	}
	cfg.Clients = append(cfg.Clients, c)
	return nil
}

// parseRotation reads `refresh_token_rotation off | on [grace <duration>]`,
// the cursor on the option; `grace 0` means none.
func parseRotation(d *caddyfile.Dispenser, c *ClientConfig) error {
	args := d.RemainingArgs()
	if len(args) == 0 || (args[0] != oidc.RotationOn && args[0] != oidc.RotationOff) {
		return d.Errf("client %s: refresh_token_rotation: want `off` or `on [grace <duration>]`", c.ID)
	}
	c.RefreshTokenRotation = args[0]
	switch {
	case len(args) == 1:
		return nil
	case args[0] == oidc.RotationOff:
		return d.Errf("client %s: refresh_token_rotation off takes no grace (nothing is retired)", c.ID)
	case len(args) != 3 || args[1] != "grace":
		return d.Errf("client %s: refresh_token_rotation: want `on grace <duration>`", c.ID)
	}
	dur, err := caddy.ParseDuration(args[2])
	if err != nil || dur < 0 || dur > oidc.MaxRefreshGrace {
		return d.Errf("client %s: refresh_token_rotation grace %q: want a duration from 0 (none) to %s, such as 10s", c.ID, args[2], oidc.MaxRefreshGrace)
	}
	if dur == 0 {
		dur = -1 // none, not the default
	}
	c.RefreshTokenGrace = caddy.Duration(dur)
	return nil
}

// parseKeyRotation reads `key_rotation <duration>`.
func parseKeyRotation(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < signing.MinRotation {
		return d.Errf("key_rotation %q: want a duration of at least %s, such as 30d", s, signing.MinRotation)
	}
	cfg.KeyRotation = caddy.Duration(dur)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*IDP)(nil)
