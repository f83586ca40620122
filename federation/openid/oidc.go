package openid

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/federation"
)

func init() {
	caddy.RegisterModule(OIDC{})
	caddy.RegisterModule(Google{})
	caddy.RegisterModule(Microsoft{})
	caddy.RegisterModule(Apple{})
}

// DefaultScopes are asked for when a provider names none.
var DefaultScopes = []string{"openid", "email", "profile"}

// DefaultAttributes map the standard OpenID claims to the pool attributes
// of the same names (the address is never mapped: it has its own rule).
var DefaultAttributes = map[string]string{
	"name":               "name",
	"given_name":         "given_name",
	"family_name":        "family_name",
	"middle_name":        "middle_name",
	"nickname":           "nickname",
	"preferred_username": "preferred_username",
	"profile":            "profile",
	"picture":            "picture",
	"website":            "website",
	"gender":             "gender",
	"birthdate":          "birthdate",
	"zoneinfo":           "zoneinfo",
	"locale":             "locale",
}

// OIDC is any OpenID Connect provider (module gatehouse.idp.oidc):
//
//	idp corp oidc {
//		issuer         https://sso.corp.example
//		client_id      gatehouse
//		client_secret  {env.CORP_SECRET}
//		scopes         openid email profile
//		response_mode  query|form_post
//		trust_email    on    # dangerous, see TrustEmail
//	}
type OIDC struct {
	federation.Common
	ClientOptions
	// ResponseMode is "query" (default) or "form_post" (the answer comes
	// as a cross-site POST).
	ResponseMode string `json:"response_mode,omitempty"`
	// TrustEmail takes every address the provider gives as verified, even
	// without email_verified true. DANGEROUS: with link_by_email, anyone
	// who can set an address at the provider takes over the pool user of
	// that address. Only for a provider that lets no user choose one.
	TrustEmail bool `json:"trust_email,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (OIDC) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: federation.Namespace + ".oidc", New: func() caddy.Module { return new(OIDC) }}
}

// UnmarshalCaddyfile reads `oidc { ... }`.
func (m *OIDC) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseBlock(d, &m.Common, func(kind, opt string) (bool, error) {
		switch opt {
		case "response_mode":
			v, err := oneArg(d, kind)
			if err != nil {
				return true, err
			}
			if v != "query" && v != "form_post" {
				return true, d.Errf("idp %s: response_mode %q: want query or form_post", kind, v)
			}
			m.ResponseMode = v
			return true, nil
		case "trust_email":
			on, err := onOff(d, kind)
			m.TrustEmail = on
			return true, err
		}
		return m.ClientOptions.parse(d, kind, true)
	})
}

// Validate checks the configuration (caddy.Validator).
func (m *OIDC) Validate() error {
	if m.ResponseMode != "" && m.ResponseMode != "query" && m.ResponseMode != "form_post" {
		return fmt.Errorf("idp oidc: response_mode %q: want query or form_post", m.ResponseMode)
	}
	return m.ClientOptions.validate("oidc", true)
}

// Open makes the connector (federation.Provider).
func (m *OIDC) Open(ctx context.Context, env federation.Env) (federation.Connector, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if env.Name == "" {
		return nil, errNoName
	}
	cfg, err := m.clientConfig(env, "oidc", "", DefaultScopes)
	if err != nil {
		return nil, err
	}
	client, err := newClient(env, "oidc", cfg)
	if err != nil {
		return nil, err
	}
	c := &connector{
		info:     m.Common.Info(env.Name, "oidc", "OIDC", ""),
		client:   client,
		mapping:  m.Mapping(DefaultAttributes),
		verified: emailVerifiedClaim,
	}
	c.info.Protocol = federation.ProtocolOIDC
	if m.ResponseMode == "form_post" {
		c.responseMode = "form_post"
		c.info.FormPost = true
	}
	if m.TrustEmail {
		c.verified = func(map[string]any, string) bool { return true }
	}
	return c, nil
}

// Interface guards
var (
	_ federation.Provider   = (*OIDC)(nil)
	_ caddyfile.Unmarshaler = (*OIDC)(nil)
	_ caddy.Validator       = (*OIDC)(nil)
)
