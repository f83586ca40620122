// Package github is the gatehouse.idp.github provider kind: "Sign in with
// GitHub" (github.com or GitHub Enterprise Server).
//
// GitHub is OAuth 2.0 without OpenID Connect: no ID token, no discovery.
// The connector runs the authorization code flow with state and PKCE
// (S256), exchanges the code for a token, and asks the REST API who the
// token belongs to (GET /user) and which addresses they have (GET
// /user/emails). The token is used for those calls and then dropped.
//
//	idp github github {
//		client_id     <OAuth app client ID>
//		client_secret <secret>                  # {env.GITHUB_SECRET}, {file./run/secrets/gh}
//		scopes        read:user user:email ...  # default read:user user:email
//		enterprise_url https://ghe.example.com  # GitHub Enterprise Server; default github.com
//		allowed_organizations acme id:1234567   # only members of these organizations
//		# common options: display_name, domains, create_users, link_by_email, attribute
//	}
//
// The subject is GitHub's numeric user id, which a user keeps when they
// rename their login (a login is free to be taken by someone else after).
// The address is the user's primary address, and only when GitHub says it
// is verified: an unverified address is anyone's to type, and trusting one
// would hand its owner's pool account to whoever typed it. A user whose
// primary address is unverified signs in without one (see primaryEmail for
// why another verified address is not taken instead).
//
// Cognito has no GitHub provider type; the identities claim says "GitHub".
package github

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/internal/oauthcall"
	"github.com/gatehouse-auth/gatehouse/federation/logos"
)

func init() {
	caddy.RegisterModule(GitHub{})
}

// Kind is the provider kind; Type is what the identities claim's
// providerType says (Cognito has none for GitHub).
const (
	Kind = "github"
	Type = "GitHub"
)

// github.com's own hosts; Enterprise Server serves both under one URL.
const (
	dotcomWeb = "https://github.com"
	dotcomAPI = "https://api.github.com"
)

// DefaultScopes read the profile and the address list. read:org is added
// when allowed_organizations is set, user:email when no scope grants it.
var DefaultScopes = []string{"read:user", "user:email"}

// GitHub is the configuration of one GitHub provider.
type GitHub struct {
	federation.Common
	// ClientID and ClientSecret are the OAuth app's (placeholders such as
	// {env.X} and {file.X} are replaced when the pool opens).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes replace DefaultScopes.
	Scopes []string `json:"scopes,omitempty"`
	// EnterpriseURL is a GitHub Enterprise Server's URL: the web flow is
	// under <url>/login/oauth/ and the API under <url>/api/v3/.
	EnterpriseURL string `json:"enterprise_url,omitempty"`
	// AllowedOrganizations, when set, admit only active members of one of
	// them: an organization's login (case-insensitive), or id:<number>
	// for its numeric id, which survives a rename of the organization.
	AllowedOrganizations []string `json:"allowed_organizations,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (GitHub) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  federation.Namespace + "." + Kind,
		New: func() caddy.Module { return new(GitHub) },
	}
}

// UnmarshalCaddyfile reads `github { ... }` (the kind, then the block).
func (g *GitHub) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the kind
	if d.NextArg() {
		return d.Errf("github: unexpected argument %q (options go in the block)", d.Val())
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "client_id", "client_secret", "enterprise_url":
			if !d.NextArg() {
				return d.Errf("github: %s needs a value", opt)
			}
			v := d.Val()
			if d.NextArg() {
				return d.Errf("github: %s takes one value", opt)
			}
			switch opt {
			case "client_id":
				g.ClientID = v
			case "client_secret":
				g.ClientSecret = v
			case "enterprise_url":
				if _, err := oauthcall.BaseURL(v); err != nil {
					return d.Errf("github: enterprise_url: %v", err)
				}
				g.EnterpriseURL = v
			}
		case "scopes":
			g.Scopes = d.RemainingArgs()
			if len(g.Scopes) == 0 {
				return d.Err("github: scopes needs one or more scopes")
			}
		case "allowed_organizations":
			orgs := d.RemainingArgs()
			if len(orgs) == 0 {
				return d.Err("github: allowed_organizations needs one or more organizations")
			}
			for _, o := range orgs {
				if _, err := parseOrg(o); err != nil {
					return d.Errf("github: allowed_organizations: %v", err)
				}
			}
			g.AllowedOrganizations = append(g.AllowedOrganizations, orgs...)
		default:
			if err := g.ParseOptionOrRefuse(d, "github"); err != nil {
				return err
			}
		}
	}
	if g.ClientID == "" || g.ClientSecret == "" {
		return d.Err("github: client_id and client_secret are required")
	}
	return nil
}

// Open checks the configuration and makes the connector.
func (g *GitHub) Open(_ context.Context, env federation.Env) (federation.Connector, error) {
	repl := caddy.NewReplacer()
	clientID := repl.ReplaceKnown(g.ClientID, "")
	secret := repl.ReplaceKnown(g.ClientSecret, "")
	if clientID == "" || secret == "" {
		return nil, fmt.Errorf("github %s: client_id and client_secret are required (is the variable set?)", env.Name)
	}
	web, api := dotcomWeb, dotcomAPI
	if g.EnterpriseURL != "" {
		base, err := oauthcall.BaseURL(repl.ReplaceKnown(g.EnterpriseURL, ""))
		if err != nil {
			return nil, fmt.Errorf("github %s: enterprise_url: %v", env.Name, err)
		}
		web, api = base, base+"/api/v3"
	}
	var orgs []org
	for _, o := range g.AllowedOrganizations {
		parsed, err := parseOrg(o)
		if err != nil {
			return nil, fmt.Errorf("github %s: allowed_organizations: %v", env.Name, err)
		}
		orgs = append(orgs, parsed)
	}
	logger := env.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	info := g.Info(env.Name, Kind, Type, "GitHub")
	info.Protocol = federation.ProtocolOIDC
	info.Logo = logos.For(Kind)
	return &connector{
		info:     info,
		clientID: clientID,
		secret:   secret,
		scopes:   scopes(g.Scopes, len(orgs) > 0),
		authURL:  web + "/login/oauth/authorize",
		tokenURL: web + "/login/oauth/access_token",
		apiURL:   api,
		issuer:   web,
		noreply:  "@users.noreply." + hostOf(web),
		orgs:     orgs,
		mapping:  g.Mapping(DefaultAttributes),
		client:   oauthcall.Client(env.HTTPClient),
		logger:   logger,
	}, nil
}

// DefaultAttributes map pool attributes to the fields of GET /user.
var DefaultAttributes = map[string]string{
	"name":               "name",
	"preferred_username": "login",
	"nickname":           "login",
	"picture":            "avatar_url",
	"profile":            "html_url",
	"website":            "blog",
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// org is one entry of allowed_organizations.
type org struct {
	login string // lower case; "" when matched by id
	id    int64
}

// GitHub logins: alphanumerics and single hyphens, at most 39.
var loginPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)

func parseOrg(s string) (org, error) {
	if rest, ok := strings.CutPrefix(s, "id:"); ok {
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || id <= 0 {
			return org{}, fmt.Errorf("%q: want id:<number>", s)
		}
		return org{id: id}, nil
	}
	if !loginPattern.MatchString(s) {
		return org{}, fmt.Errorf("%q is not an organization's login (or id:<number>)", s)
	}
	return org{login: strings.ToLower(s)}, nil
}

// scopes returns the scopes to ask for: the operator's (or the defaults),
// with what the connector cannot work without added.
func scopes(configured []string, orgs bool) []string {
	s := slices.Clone(configured)
	if len(s) == 0 {
		s = slices.Clone(DefaultScopes)
	}
	if !slices.Contains(s, "user") && !slices.Contains(s, "user:email") {
		s = append(s, "user:email")
	}
	if orgs && !slices.Contains(s, "read:org") && !slices.Contains(s, "write:org") && !slices.Contains(s, "admin:org") {
		s = append(s, "read:org")
	}
	return s
}

// Interface guards
var (
	_ federation.Provider   = (*GitHub)(nil)
	_ caddyfile.Unmarshaler = (*GitHub)(nil)
)
