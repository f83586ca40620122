package openid

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// Microsoft's tenants that are not one directory.
const (
	TenantCommon        = "common"        // work, school and personal accounts
	TenantOrganizations = "organizations" // work and school accounts
	TenantConsumers     = "consumers"     // personal accounts
	// ConsumersTenantID is the tid of every personal Microsoft account.
	ConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// microsoftAttributes are the claims of Microsoft's v2.0 ID tokens.
var microsoftAttributes = map[string]string{
	"name":               "name",
	"given_name":         "given_name",
	"family_name":        "family_name",
	"preferred_username": "preferred_username",
}

// Microsoft is Microsoft Entra ID and personal Microsoft accounts (module
// gatehouse.idp.microsoft):
//
//	idp entra microsoft {
//		tenant           common|organizations|consumers|<tenant id>
//		client_id        ...
//		client_secret    {env.ENTRA_SECRET}
//		allowed_tenants  <tenant id...>
//	}
//
// The multi-tenant endpoints' issuer is
// https://login.microsoftonline.com/{tenantid}/v2.0: each ID token's iss
// must be that with the token's own tid, or a token of one tenant would
// pass for another's (they share signing keys).
//
// Microsoft's email claim is whatever the tenant's administrator typed and
// proves nothing (the nOAuth attack). An address counts as verified only
// when the token says Microsoft checked it: the xms_edov claim (the email
// domain's owner is verified; an optional claim to turn on in the app
// registration) is true, or the address is one of the
// verified_primary_email / verified_secondary_email claims.
type Microsoft struct {
	federation.Common
	ClientOptions
	// Tenant is common (default), organizations, consumers, or one tenant's
	// id (its GUID).
	Tenant string `json:"tenant,omitempty"`
	// AllowedTenants, when set, lets only users whose tid is one of these
	// sign in.
	AllowedTenants []string `json:"allowed_tenants,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Microsoft) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: federation.Namespace + ".microsoft", New: func() caddy.Module { return new(Microsoft) }}
}

// UnmarshalCaddyfile reads `microsoft { ... }`.
func (m *Microsoft) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseBlock(d, &m.Common, func(kind, opt string) (bool, error) {
		switch opt {
		case "tenant":
			v, err := oneArg(d, kind)
			m.Tenant = v
			return true, err
		case "allowed_tenants":
			ts := d.RemainingArgs()
			if len(ts) == 0 {
				return true, d.Errf("idp %s: allowed_tenants: want one or more tenant ids", kind)
			}
			m.AllowedTenants = append(m.AllowedTenants, ts...)
			return true, nil
		}
		return m.ClientOptions.parse(d, kind, true)
	})
}

func (m *Microsoft) tenant() string {
	if m.Tenant == "" {
		return TenantCommon
	}
	return strings.ToLower(m.Tenant)
}

// Validate checks the configuration (caddy.Validator).
func (m *Microsoft) Validate() error {
	t := m.tenant()
	switch t {
	case TenantCommon, TenantOrganizations, TenantConsumers:
	default:
		// A tenant named by its domain has a discovery document stating
		// the issuer of its id, which would not match the configured one.
		if !tenantGUID(t) {
			return fmt.Errorf("idp microsoft: tenant %q: want common, organizations, consumers or a tenant id (a GUID, not a domain)", m.Tenant)
		}
	}
	return m.ClientOptions.validate("microsoft", false)
}

// Open makes the connector (federation.Provider).
func (m *Microsoft) Open(ctx context.Context, env federation.Env) (federation.Connector, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if env.Name == "" {
		return nil, errNoName
	}
	tenant := m.tenant()
	cfg, err := m.clientConfig(env, "microsoft", "https://login.microsoftonline.com/"+tenant+"/v2.0", DefaultScopes)
	if err != nil {
		return nil, err
	}
	cfg.TenantClaim = "tid"
	client, err := newClient(env, "microsoft", cfg)
	if err != nil {
		return nil, err
	}
	c := &connector{
		info:     m.Common.Info(env.Name, "microsoft", "OIDC", "Microsoft"),
		client:   client,
		mapping:  m.Mapping(microsoftAttributes),
		verified: microsoftEmailVerified,
	}
	c.info.Protocol = federation.ProtocolOIDC
	allowed := lowerAll(m.AllowedTenants)
	c.check = func(claims map[string]any) error {
		tid, _ := claims["tid"].(string)
		tid = strings.ToLower(tid)
		if tid == "" {
			return federation.Invalid("the ID token has no tid")
		}
		var ok bool
		switch tenant {
		case TenantCommon:
			ok = true
		case TenantOrganizations:
			ok = tid != ConsumersTenantID
		case TenantConsumers:
			ok = tid == ConsumersTenantID
		default:
			ok = tid == tenant
		}
		if ok && len(allowed) > 0 {
			ok = slices.Contains(allowed, tid)
		}
		if !ok {
			return fmt.Errorf("%w: Microsoft tenant %q may not sign in here", federation.ErrDenied, tid)
		}
		return nil
	}
	return c, nil
}

// microsoftEmailVerified is the rule in Microsoft's doc comment.
func microsoftEmailVerified(claims map[string]any, email string) bool {
	if claimTrue(claims["xms_edov"]) {
		return true
	}
	for _, k := range []string{"verified_primary_email", "verified_secondary_email"} {
		switch v := claims[k].(type) {
		case string:
			if strings.EqualFold(v, email) {
				return true
			}
		case []any:
			for _, e := range v {
				if s, _ := e.(string); strings.EqualFold(s, email) {
					return true
				}
			}
		}
	}
	return false
}

// Interface guards
var (
	_ federation.Provider   = (*Microsoft)(nil)
	_ caddyfile.Unmarshaler = (*Microsoft)(nil)
	_ caddy.Validator       = (*Microsoft)(nil)
)

// tenantGUID reports whether s is a tenant id: a GUID, 8-4-4-4-12 hex.
func tenantGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if b != '-' {
				return false
			}
		} else if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f') {
			return false
		}
	}
	return true
}
