package openid

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// GoogleIssuer is Google's issuer.
const GoogleIssuer = "https://accounts.google.com"

// googleAttributes are the claims Google puts in its ID tokens.
var googleAttributes = map[string]string{
	"name":        "name",
	"given_name":  "given_name",
	"family_name": "family_name",
	"picture":     "picture",
	"locale":      "locale",
}

// Google is Sign in with Google (module gatehouse.idp.google):
//
//	idp google google {
//		client_id      1234.apps.googleusercontent.com
//		client_secret  {env.GOOGLE_SECRET}
//		hosted_domain  example.com    # only this Google Workspace domain
//	}
type Google struct {
	federation.Common
	ClientOptions
	// HostedDomains, when set, lets only users of these Google Workspace
	// domains in: the ID token's hd claim must be one of them (a
	// consumer account has none). With one domain it is also sent as the
	// hd hint, so Google's account chooser offers only its accounts.
	HostedDomains []string `json:"hosted_domains,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Google) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: federation.Namespace + ".google", New: func() caddy.Module { return new(Google) }}
}

// UnmarshalCaddyfile reads `google { ... }`.
func (m *Google) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseBlock(d, &m.Common, func(kind, opt string) (bool, error) {
		if opt == "hosted_domain" {
			doms := d.RemainingArgs()
			if len(doms) == 0 {
				return true, d.Errf("idp %s: hosted_domain: want one or more domains", kind)
			}
			m.HostedDomains = append(m.HostedDomains, doms...)
			return true, nil
		}
		return m.ClientOptions.parse(d, kind, true)
	})
}

// Validate checks the configuration (caddy.Validator).
func (m *Google) Validate() error {
	for _, d := range m.HostedDomains {
		if !strings.Contains(d, ".") || strings.ContainsAny(d, "@/ *") {
			return fmt.Errorf("idp google: hosted_domain %q is not a domain name", d)
		}
	}
	return m.ClientOptions.validate("google", false)
}

// Open makes the connector (federation.Provider).
func (m *Google) Open(ctx context.Context, env federation.Env) (federation.Connector, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if env.Name == "" {
		return nil, errNoName
	}
	cfg, err := m.clientConfig(env, "google", GoogleIssuer, DefaultScopes)
	if err != nil {
		return nil, err
	}
	client, err := newClient(env, "google", cfg)
	if err != nil {
		return nil, err
	}
	c := &connector{
		info:     m.Common.Info(env.Name, "google", "Google", "Google"),
		client:   client,
		mapping:  m.Mapping(googleAttributes),
		verified: emailVerifiedClaim,
	}
	c.info.Protocol = federation.ProtocolOIDC
	if doms := lowerAll(m.HostedDomains); len(doms) > 0 {
		if len(doms) == 1 {
			c.authParams = []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("hd", doms[0])}
		}
		c.check = func(claims map[string]any) error {
			hd, _ := claims["hd"].(string)
			if !slices.Contains(doms, strings.ToLower(hd)) {
				return fmt.Errorf("%w: the Google account is not of the allowed Workspace domain (hd %q)", federation.ErrDenied, hd)
			}
			return nil
		}
	}
	return c, nil
}

// Interface guards
var (
	_ federation.Provider   = (*Google)(nil)
	_ caddyfile.Unmarshaler = (*Google)(nil)
	_ caddy.Validator       = (*Google)(nil)
)
