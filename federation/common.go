package federation

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Common is the part of every provider's configuration that is not about
// its protocol. Kinds embed it and call ParseOption for the options they do
// not know themselves, so every kind reads these alike.
type Common struct {
	// DisplayName is the button's label; default: the kind's (Google) or
	// the provider's name.
	DisplayName string `json:"display_name,omitempty"`
	// Domains are email domains routed straight to this provider.
	Domains []string `json:"domains,omitempty"`
	// CreateUsers: nil means true (a first sign-in creates the user).
	CreateUsers *bool `json:"create_users,omitempty"`
	// LinkByEmail links a first sign-in to the confirmed pool user of the
	// provider's verified address. Off by default.
	LinkByEmail bool `json:"link_by_email,omitempty"`
	// Attributes maps pool attributes to the provider's claims (OpenID)
	// or attribute names (SAML); it is added to the kind's defaults, and
	// an empty claim removes a default.
	Attributes map[string]string `json:"attributes,omitempty"`
}

// ParseOptionOrRefuse is what a kind's parser does with an option it does
// not know itself: read it as a common option, or refuse it as unknown,
// naming the kind ("github", "idp oidc").
func (c *Common) ParseOptionOrRefuse(d *caddyfile.Dispenser, kind string) error {
	opt := d.Val()
	ok, err := c.ParseOption(d)
	if err != nil {
		return err
	}
	if !ok {
		return d.Errf("%s: unknown option %q", kind, opt)
	}
	return nil
}

// ParseOption reads one common option at d's cursor: it reports false for
// an option that is not common (the kind's own, or unknown).
//
//	display_name <label>
//	domains <domain...>
//	create_users on|off
//	link_by_email [on|off]
//	attribute <pool attribute> <claim or SAML attribute name>
func (c *Common) ParseOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "display_name":
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		c.DisplayName = d.Val()
		if d.NextArg() {
			return true, d.ArgErr()
		}
	case "domains":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.Err("domains: want one or more email domains")
		}
		for _, a := range args {
			dom := strings.ToLower(strings.TrimPrefix(a, "@"))
			if dom == "" || strings.ContainsAny(dom, "@/ ") || !strings.Contains(dom, ".") {
				return true, d.Errf("domains: %q is not a domain name", a)
			}
			if !slices.Contains(c.Domains, dom) {
				c.Domains = append(c.Domains, dom)
			}
		}
	case "create_users", "link_by_email":
		opt := d.Val()
		on := true
		if d.NextArg() {
			v, err := parseOnOff(d.Val())
			if err != nil {
				return true, d.Errf("%s: %v", opt, err)
			}
			on = v
			if d.NextArg() {
				return true, d.ArgErr()
			}
		} else if opt == "create_users" {
			return true, d.Err("create_users: want on or off")
		}
		if opt == "create_users" {
			c.CreateUsers = &on
		} else {
			c.LinkByEmail = on
		}
	case "attribute":
		args := d.RemainingArgs()
		if len(args) != 1 && len(args) != 2 {
			return true, d.Err("attribute: want `attribute <pool attribute> <claim>` (no claim removes a default)")
		}
		if args[0] == "email" || args[0] == "email_verified" || args[0] == "sub" {
			return true, d.Errf("attribute %s: the address and the subject come from the provider's own rules, not a mapping", args[0])
		}
		if c.Attributes == nil {
			c.Attributes = map[string]string{}
		}
		claim := ""
		if len(args) == 2 {
			claim = args[1]
		}
		c.Attributes[args[0]] = claim
	default:
		return false, nil
	}
	return true, nil
}

func parseOnOff(s string) (bool, error) {
	switch s {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	if b, err := strconv.ParseBool(s); err == nil {
		return b, nil
	}
	return false, fmt.Errorf("%q: want on or off", s)
}

// Info fills the common part of a connector's Info.
func (c *Common) Info(name, kind, typ, defaultLabel string) Info {
	label := c.DisplayName
	if label == "" {
		label = defaultLabel
	}
	if label == "" {
		label = name
	}
	return Info{
		Name:        name,
		Kind:        kind,
		Type:        typ,
		DisplayName: label,
		Domains:     slices.Clone(c.Domains),
		CreateUsers: c.CreateUsers == nil || *c.CreateUsers,
		LinkByEmail: c.LinkByEmail,
	}
}

// Mapping returns defaults with the operator's attribute lines applied.
func (c *Common) Mapping(defaults map[string]string) Mapping {
	m := Mapping{}
	for k, v := range defaults {
		m[k] = v
	}
	for k, v := range c.Attributes {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// Mapping maps pool attribute names to a provider's claim names.
type Mapping map[string]string

// Apply returns the pool attributes that claims give: strings as they are,
// numbers and booleans written out, lists joined with ","; claims that are
// absent, empty or objects give nothing.
func (m Mapping) Apply(claims map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for attr, claim := range m {
		v, ok := claims[claim]
		if !ok {
			continue
		}
		if s := claimString(v); s != "" {
			out[attr] = s
		}
	}
	return out
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case []string:
		return strings.Join(v, ",")
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s := claimString(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ",")
	}
	return ""
}
