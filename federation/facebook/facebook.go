// Package facebook is the gatehouse.idp.facebook provider kind: "Continue
// with Facebook" through Facebook Login's manual flow (the Graph API's
// dialog/oauth, oauth/access_token and /me).
//
//	idp fb facebook {
//		client_id     <app ID>
//		client_secret <app secret>     # {env.FB_SECRET}, {file./run/secrets/fb}
//		scopes        public_profile email   # the default
//		api_version   v23.0            # default: the app's own version (unversioned calls)
//		# for tests and egress proxies only:
//		web_url   https://www.facebook.com
//		graph_url https://graph.facebook.com
//		# common options: display_name, domains, create_users, link_by_email, attribute
//	}
//
// The subject is the app-scoped user id Facebook gives this app (another
// app sees another id for the same person). Facebook returns the email
// field only when the user granted the email permission and Facebook has
// an address for them that it has confirmed ("will not be returned if no
// valid email address is available"), so an address it returns is taken
// as verified; a user who declines the permission signs in without one.
// Every Graph call carries appsecret_proof, so a stolen token is useless
// to anyone without the app secret when the app requires it.
package facebook

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/internal/oauthcall"
	"github.com/gatehouse-auth/gatehouse/federation/logos"
)

func init() {
	caddy.RegisterModule(Facebook{})
}

// Kind is the provider kind; Type is Cognito's ProviderType.
const (
	Kind = "facebook"
	Type = "Facebook"
)

const (
	defaultWeb   = "https://www.facebook.com"
	defaultGraph = "https://graph.facebook.com"
)

// DefaultScopes are Facebook Login's permissions for a name and an address.
var DefaultScopes = []string{"public_profile", "email"}

// DefaultAttributes map pool attributes to /me's fields ("picture" is the
// profile picture's URL, absent for Facebook's default silhouette).
var DefaultAttributes = map[string]string{
	"name":        "name",
	"given_name":  "first_name",
	"family_name": "last_name",
	"picture":     "picture",
}

// Facebook is the configuration of one Facebook provider.
type Facebook struct {
	federation.Common
	// ClientID and ClientSecret are the app's ID and secret
	// (placeholders are replaced when the pool opens).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes replace DefaultScopes.
	Scopes []string `json:"scopes,omitempty"`
	// APIVersion pins the Graph API version ("v23.0"); empty uses the
	// version set for the app in its dashboard.
	APIVersion string `json:"api_version,omitempty"`
	// WebURL and GraphURL replace https://www.facebook.com and
	// https://graph.facebook.com (tests, egress proxies).
	WebURL   string `json:"web_url,omitempty"`
	GraphURL string `json:"graph_url,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Facebook) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  federation.Namespace + "." + Kind,
		New: func() caddy.Module { return new(Facebook) },
	}
}

var (
	versionPattern = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)
	// Graph field names; a mapped field is asked for by name.
	fieldPattern = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
)

// UnmarshalCaddyfile reads `facebook { ... }` (the kind, then the block).
func (f *Facebook) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the kind
	if d.NextArg() {
		return d.Errf("facebook: unexpected argument %q (options go in the block)", d.Val())
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "client_id", "client_secret", "api_version", "web_url", "graph_url":
			if !d.NextArg() {
				return d.Errf("facebook: %s needs a value", opt)
			}
			v := d.Val()
			if d.NextArg() {
				return d.Errf("facebook: %s takes one value", opt)
			}
			switch opt {
			case "client_id":
				f.ClientID = v
			case "client_secret":
				f.ClientSecret = v
			case "api_version":
				if !versionPattern.MatchString(v) {
					return d.Errf("facebook: api_version %q: want a Graph API version such as v23.0", v)
				}
				f.APIVersion = v
			case "web_url", "graph_url":
				if _, err := oauthcall.BaseURL(v); err != nil {
					return d.Errf("facebook: %s: %v", opt, err)
				}
				if opt == "web_url" {
					f.WebURL = v
				} else {
					f.GraphURL = v
				}
			}
		case "scopes":
			f.Scopes = d.RemainingArgs()
			if len(f.Scopes) == 0 {
				return d.Err("facebook: scopes needs one or more permissions")
			}
		default:
			if err := f.ParseOptionOrRefuse(d, "facebook"); err != nil {
				return err
			}
		}
	}
	if f.ClientID == "" || f.ClientSecret == "" {
		return d.Err("facebook: client_id and client_secret are required")
	}
	return nil
}

// Open checks the configuration and makes the connector.
func (f *Facebook) Open(_ context.Context, env federation.Env) (federation.Connector, error) {
	repl := caddy.NewReplacer()
	clientID := repl.ReplaceKnown(f.ClientID, "")
	secret := repl.ReplaceKnown(f.ClientSecret, "")
	if clientID == "" || secret == "" {
		return nil, fmt.Errorf("facebook %s: client_id and client_secret are required (is the variable set?)", env.Name)
	}
	if f.APIVersion != "" && !versionPattern.MatchString(f.APIVersion) {
		return nil, fmt.Errorf("facebook %s: api_version %q: want a Graph API version such as v23.0", env.Name, f.APIVersion)
	}
	web, graph := defaultWeb, defaultGraph
	for _, o := range []struct {
		name, raw string
		dst       *string
	}{{"web_url", f.WebURL, &web}, {"graph_url", f.GraphURL, &graph}} {
		if o.raw == "" {
			continue
		}
		b, err := oauthcall.BaseURL(repl.ReplaceKnown(o.raw, ""))
		if err != nil {
			return nil, fmt.Errorf("facebook %s: %s: %v", env.Name, o.name, err)
		}
		*o.dst = b
	}
	mapping := f.Mapping(DefaultAttributes)
	fields := []string{"id", "email"}
	for _, claim := range mapping {
		if !fieldPattern.MatchString(claim) {
			return nil, fmt.Errorf("facebook %s: attribute field %q is not a Graph API field name", env.Name, claim)
		}
		if !slices.Contains(fields, claim) {
			fields = append(fields, claim)
		}
	}
	slices.Sort(fields[2:]) // a stable URL
	versioned := func(base string) string {
		if f.APIVersion == "" {
			return base
		}
		return base + "/" + f.APIVersion
	}
	scopes := slices.Clone(f.Scopes)
	if len(scopes) == 0 {
		scopes = slices.Clone(DefaultScopes)
	}
	logger := env.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	info := f.Info(env.Name, Kind, Type, "Facebook")
	info.Protocol = federation.ProtocolOIDC
	info.Logo = logos.For(Kind)
	return &connector{
		info:     info,
		clientID: clientID,
		secret:   secret,
		scopes:   scopes,
		dialog:   versioned(web) + "/dialog/oauth",
		token:    versioned(graph) + "/oauth/access_token",
		me:       versioned(graph) + "/me",
		fields:   strings.Join(fields, ","),
		issuer:   web,
		mapping:  mapping,
		client:   oauthcall.Client(env.HTTPClient),
		logger:   logger,
	}, nil
}

// Interface guards
var (
	_ federation.Provider   = (*Facebook)(nil)
	_ caddyfile.Unmarshaler = (*Facebook)(nil)
)
