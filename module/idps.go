package module

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/cli"
	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/logos"

	// The provider kinds built in: each registers gatehouse.idp.<kind>.
	// A kind from elsewhere is built in with xcaddy, as any Caddy module.
	_ "github.com/gatehouse-auth/gatehouse/federation/facebook"
	_ "github.com/gatehouse-auth/gatehouse/federation/github"
	_ "github.com/gatehouse-auth/gatehouse/federation/openid"
	_ "github.com/gatehouse-auth/gatehouse/federation/saml"
)

// IdentityProviderConfig is one outside identity provider of a pool,
// written `idp <name> <kind> { ... }` in the pool block.
type IdentityProviderConfig struct {
	// Name is the pool's name for the provider: the providerName of the
	// identities claim, the prefix of cognito:username, the start path's
	// last segment and identity_provider's value.
	Name string `json:"name"`
	// Provider is the kind's configuration (module gatehouse.idp.<kind>).
	Provider json.RawMessage `json:"provider" caddy:"namespace=gatehouse.idp inline_key=kind"`
}

// parseIdentityProvider reads `idp <name> <kind> { ... }`: the block goes to the kind's
// own UnmarshalCaddyfile, from the kind token on.
func parseIdentityProvider(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	if !d.NextArg() {
		return d.Err("idp: want `idp <name> <kind> { ... }`")
	}
	name := d.Val()
	if err := checkProviderName(name); err != nil {
		return d.Errf("idp %s: %v", name, err)
	}
	for _, ip := range cfg.IdentityProviders {
		if ip.Name == name {
			return d.Errf("idp %s: defined twice in this pool", name)
		}
	}
	if !d.NextArg() {
		return d.Errf("idp %s: want a kind after the name (known: %s)", name, strings.Join(providerKinds(), ", "))
	}
	kind := d.Val()
	id := federation.Namespace + "." + kind
	if _, err := caddy.GetModule(id); err != nil {
		return d.Errf("idp %s: unknown kind %q (known: %s)", name, kind, strings.Join(providerKinds(), ", "))
	}
	unm, err := caddyfile.UnmarshalModule(d, id)
	if err != nil {
		return fmt.Errorf("idp %s: %w", name, err)
	}
	cfg.IdentityProviders = append(cfg.IdentityProviders, IdentityProviderConfig{
		Name: name, Provider: caddyconfig.JSONModuleObject(unm, "kind", kind, nil),
	})
	return nil
}

// providerKinds lists the provider kinds built into this binary.
func providerKinds() []string {
	var kinds []string
	for _, m := range caddy.GetModules(federation.Namespace) {
		kinds = append(kinds, m.ID.Name())
	}
	sort.Strings(kinds)
	if len(kinds) == 0 {
		return []string{"none built in"}
	}
	return kinds
}

// checkProviderName applies Cognito's rules for a provider name: 1 to 32
// letters, digits, '_', '-' or '.', and not COGNITO, which names the
// pool's own users in identity_provider.
func checkProviderName(name string) error {
	if len(name) < 1 || len(name) > 32 {
		return errors.New("a provider name has 1 to 32 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("a provider name has only letters, digits, '_', '-' and '.' (found %q)", c)
		}
	}
	if strings.EqualFold(name, "COGNITO") {
		return errors.New("COGNITO names the pool's own users in identity_provider; choose another name")
	}
	return nil
}

// validateIdentityProviders checks the names without opening anything.
// The kinds' own configuration is checked when it is loaded (Provision):
// Caddy clears a module's JSON once it has loaded it, before Validate.
func validateIdentityProviders(c *PoolConfig) error {
	seen := map[string]bool{}
	for _, ip := range c.IdentityProviders {
		if err := checkProviderName(ip.Name); err != nil {
			return fmt.Errorf("idp %s: %w", ip.Name, err)
		}
		if seen[ip.Name] {
			return fmt.Errorf("idp %s: defined twice in this pool", ip.Name)
		}
		seen[ip.Name] = true
	}
	return nil
}

// providerTimeout bounds each request to an outside provider (discovery,
// token, userinfo, metadata): a provider that hangs gives its users an
// error page, not a page that never ends.
const providerTimeout = 10 * time.Second

// providerClient is the HTTP client connectors talk to providers with.
func providerClient() *http.Client {
	return &http.Client{
		Timeout: providerTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: providerTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// openProviders loads and opens the pool's identity providers, in the
// order written, once its store is open.
func (p *Pool) openProviders(ctx caddy.Context) error {
	if len(p.Config.IdentityProviders) == 0 {
		return nil
	}
	client := providerClient()
	for i := range p.Config.IdentityProviders {
		ip := &p.Config.IdentityProviders[i]
		mod, err := ctx.LoadModule(ip, "Provider")
		if err != nil {
			return fmt.Errorf("idp %s: %w", ip.Name, err)
		}
		prov, ok := mod.(federation.Provider)
		if !ok {
			return fmt.Errorf("idp %s: module %T is not a federation.Provider", ip.Name, mod)
		}
		conn, err := prov.Open(ctx, federation.Env{
			Name: ip.Name, Pool: p.Name, Issuer: p.Config.issuer(p.Name), Store: p.Store,
			HTTPClient: client, Logger: ctx.Logger().Named("idp").With(zap.String("provider", ip.Name)), Now: time.Now,
		})
		if err != nil {
			return fmt.Errorf("idp %s: %w", ip.Name, err)
		}
		if info := conn.Info(); info.Name != ip.Name {
			return fmt.Errorf("idp %s: the connector calls itself %q", ip.Name, info.Name)
		}
		p.Providers = append(p.Providers, conn)
	}
	return nil
}

// poolProviders are the providers a site shows: the pool's, on a site
// whose users sign in on the pool's pages (not an oidc_issuer site).
func (p *Pool) poolProviders(onPool bool) []federation.Connector {
	if !onPool {
		return nil
	}
	return p.Providers
}

// providerLogo is the embedded logo of a preset kind, for a provider whose
// connector gives none.
func providerLogo(kind string) []byte { return logos.For(kind) }

// providerTypes are Cognito's ProviderType of the kinds built in, for the
// CLI, which opens no connector (their secrets may be the server's alone).
var providerTypes = map[string]string{
	"google": "Google", "apple": "SignInWithApple", "facebook": "Facebook",
	"oidc": "OIDC", "microsoft": "OIDC", "github": "OIDC", "saml": "SAML",
}

// cliProviders names the pool's providers for `users link`, with the type
// and issuer the configuration tells without opening them ("" where only
// the provider knows: the command's --type and --issuer fill them in).
// A pool with no idp lines names none (nil): the command then takes any
// provider name, as for a link made before its provider is configured.
func cliProviders(cfg *PoolConfig) []cli.IdentityProvider {
	if len(cfg.IdentityProviders) == 0 {
		return nil
	}
	out := make([]cli.IdentityProvider, 0, len(cfg.IdentityProviders))
	for _, ip := range cfg.IdentityProviders {
		var conf struct {
			Kind   string `json:"kind"`
			Issuer string `json:"issuer"`
		}
		_ = json.Unmarshal(ip.Provider, &conf)
		p := cli.IdentityProvider{Name: ip.Name, Type: providerTypes[conf.Kind]}
		switch conf.Kind {
		case "oidc":
			p.Issuer = caddy.NewReplacer().ReplaceKnown(conf.Issuer, "")
		case "google":
			p.Issuer = "https://accounts.google.com"
		case "apple":
			p.Issuer = "https://appleid.apple.com"
		}
		out = append(out, p)
	}
	return out
}
