// Package saml is the SAML 2.0 service-provider connector of a pool
// (module gatehouse.idp.saml): `idp <name> saml { ... }` signs users in at
// a SAML identity provider (Entra ID, Okta, ADFS, Shibboleth, Keycloak,
// Google Workspace ...) with the Web Browser SSO profile: a signed
// AuthnRequest by HTTP-Redirect, the IdP's Response posted back to the
// assertion consumer service (federation.SAMLCallbackPath).
//
//	idp acme saml {
//		metadata_url https://idp.acme.com/metadata   # or metadata_file /etc/gatehouse/acme-idp.xml
//		domains acme.com acme.io
//	}
//
// # Options
//
//   - metadata_url <url> | metadata_file <path>: the IdP's metadata (one is
//     required). A URL must be https (http only to a loopback address); it
//     is fetched through the pool's HTTP client when first needed, again
//     every metadata_refresh (default 24h), and the last good copy is kept
//     while the IdP's server fails. A file is read when the config loads.
//     The metadata names the certificates trusted to sign, so whoever can
//     change it can sign anyone in: prefer a file you checked, or an https
//     URL of the IdP itself. It must list an HTTP-Redirect
//     SingleSignOnService and a signing certificate.
//   - idp_entity_id <id>: picks the IdP in a metadata aggregate
//     (EntitiesDescriptor); without it the document must hold one IdP.
//   - entity_id <uri>: the service provider's entity ID, which the IdP
//     puts in the assertion's Audience. Default: the pool's issuer followed
//     by federation.SAMLMetadataPath and the provider's name, e.g.
//     https://auth.example.com/saml2/metadata/acme, which is also where the
//     metadata is served (Cognito's would be urn:amazon:cognito:sp:<pool>;
//     set entity_id to keep one registered for Cognito).
//   - idp_initiated on|off: accept IdP-initiated sign-on (a Response no
//     AuthnRequest asked for). Off by default, as Cognito's: an unsolicited
//     Response has no request to bind it to the browser that sent it.
//   - sign_requests on|off: sign AuthnRequests (RSA-SHA256, the redirect
//     binding's query signature). On by default.
//   - require_signature either|assertion|response|both: what must carry
//     the IdP's valid signature. Default either: the assertion must be
//     covered by a valid signature, its own or the Response's. Whatever the
//     setting, a signature present is checked, an unsigned Response must
//     hold exactly one assertion, and the assertion is read from what the
//     signature covers, never from the document as received.
//   - allowed_clock_skew <duration>: the leeway for NotBefore, NotOnOrAfter
//     and IssueInstant, default 60s, at most 3m (the SAML library's own
//     bound). A Response older than 90s after its IssueInstant is refused
//     whatever the skew.
//   - name_id_format persistent|email|unspecified|transient|<URN>: the
//     NameIDPolicy asked for. Default unspecified (the IdP chooses).
//     A transient NameID is refused at sign-in whatever was asked: it
//     changes at every sign-in and cannot name a user, unless
//     subject_attribute names another attribute.
//   - subject_attribute <SAML attribute>: the user's stable id is this
//     attribute's value instead of the NameID (for IdPs that send only
//     transient NameIDs, e.g. an objectGUID or employee number).
//   - email_attribute <SAML attribute>: where the address is. Default:
//     mail, which also reads the attributes named email, urn:oid:
//     0.9.2342.19200300.100.1.3 and the emailaddress claim URI of ADFS and
//     Entra ID; without any of them, the NameID when its format is
//     emailAddress.
//   - trust_email domains|on|off: whether the address counts as verified
//     (which link_by_email needs). Default domains: only an address in one
//     of the provider's `domains`, since an IdP speaks for its own
//     organisation's addresses and not for any other; on trusts every
//     address, off none.
//   - the common options: display_name, domains, create_users,
//     link_by_email, attribute <pool attribute> <SAML attribute> (defaults:
//     given_name givenName, family_name sn, name displayName, each also
//     read from its urn:oid and claim-URI spellings).
//
// # Checks
//
// Complete checks, through the library: the signature (by a certificate in
// the IdP's metadata), the Issuer (the IdP's entity ID), Destination and the
// bearer SubjectConfirmation's Recipient (the ACS URL the request named),
// the Audience (the SP's entity ID), InResponseTo (the AuthnRequest's ID),
// NotBefore/NotOnOrAfter and IssueInstant, the status (not Success is
// federation.ErrDenied); it decrypts an EncryptedAssertion with the SP's
// encryption key. Then, here: the allowed_clock_skew, require_signature,
// RelayState against the request's state, and one-time use of the
// assertion's ID across every instance on the store (store.RateStore's
// CountHit), so a replayed Response is refused on any instance.
//
// # Keys
//
// The SP's signing and encryption keys (RSA-2048, with self-signed
// certificates, in the SP metadata) are made on first Open and kept in the
// store as one store.Key of kind "saml-sp" whose ID is the provider's name,
// so every instance and every restart publish the same. Deleting that key
// makes new ones at the next start; the IdP must then read the new
// metadata.
//
// # Library
//
// The XML, signatures and encryption are github.com/crewjam/saml's (with
// russellhaering/goxmldsig for XML-DSig): no signature is checked here.
// crewjam/saml was chosen over russellhaering/gosaml2 because:
//   - maintenance: it is released often (v0.6.x) with a stated security
//     policy, and both its past signature-wrapping and multiple-assertion
//     advisories (CVE-2020-27846 through goxmldsig, CVE-2022-41912) were
//     answered by reading the message only from the canonical bytes the
//     signature covers and refusing an unsigned Response with more than one
//     assertion; gosaml2 (one v0.x release line, its 2023 advisory a
//     crash on a crafted Response) moves slower;
//   - encrypted assertions (AES-GCM and CBC, RSA-OAEP), EncryptedID and
//     encrypted attributes, and separate signing and encryption keys;
//   - API fit: one ServiceProvider value builds signed HTTP-Redirect
//     AuthnRequests, the SP metadata and parses POSTed Responses with the
//     request IDs and ACS URL given per call, which suits a pool whose ACS
//     URL depends on the site; its per-value Clock lets time come from the
//     pool, and the assertion it returns has what one-time use needs.
//
// Single logout is not built.
package saml

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse-auth/gatehouse/federation"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Kind is the provider kind: `idp <name> saml { ... }`.
const Kind = "saml"

// Defaults and bounds of the options.
const (
	DefaultClockSkew       = time.Minute
	MaxClockSkew           = 3 * time.Minute
	DefaultMetadataRefresh = 24 * time.Hour
	minMetadataRefresh     = time.Minute
)

// require_signature values.
const (
	SignedEither    = "either"
	SignedAssertion = "assertion"
	SignedResponse  = "response"
	SignedBoth      = "both"
)

// trust_email values.
const (
	TrustDomains = "domains"
	TrustAlways  = "on"
	TrustNever   = "off"
)

// Provider is the configuration of one SAML identity provider of a pool
// (module gatehouse.idp.saml); the package comment documents each option.
type Provider struct {
	federation.Common

	MetadataURL      string         `json:"metadata_url,omitempty"`
	MetadataFile     string         `json:"metadata_file,omitempty"`
	MetadataRefresh  caddy.Duration `json:"metadata_refresh,omitempty"`
	IdPEntityID      string         `json:"idp_entity_id,omitempty"`
	EntityID         string         `json:"entity_id,omitempty"`
	IdPInitiated     bool           `json:"idp_initiated,omitempty"`
	SignRequests     *bool          `json:"sign_requests,omitempty"`
	RequireSignature string         `json:"require_signature,omitempty"`
	AllowedClockSkew caddy.Duration `json:"allowed_clock_skew,omitempty"`
	NameIDFormat     string         `json:"name_id_format,omitempty"`
	SubjectAttribute string         `json:"subject_attribute,omitempty"`
	EmailAttribute   string         `json:"email_attribute,omitempty"`
	TrustEmail       string         `json:"trust_email,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  federation.Namespace + "." + Kind,
		New: func() caddy.Module { return new(Provider) },
	}
}

var (
	_ federation.Provider   = (*Provider)(nil)
	_ caddyfile.Unmarshaler = (*Provider)(nil)
)

// nameIDFormats are name_id_format's short names.
var nameIDFormats = map[string]crewjam.NameIDFormat{
	"persistent":  crewjam.PersistentNameIDFormat,
	"email":       crewjam.EmailAddressNameIDFormat,
	"unspecified": crewjam.UnspecifiedNameIDFormat,
	"transient":   crewjam.TransientNameIDFormat,
}

// UnmarshalCaddyfile reads `saml { ... }` (the kind, then the block).
func (p *Provider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the kind
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "metadata_url", "metadata_file", "idp_entity_id", "entity_id", "name_id_format",
			"subject_attribute", "email_attribute":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			switch opt {
			case "metadata_url":
				p.MetadataURL = v
			case "metadata_file":
				p.MetadataFile = v
			case "idp_entity_id":
				p.IdPEntityID = v
			case "entity_id":
				p.EntityID = v
			case "name_id_format":
				p.NameIDFormat = v
			case "subject_attribute":
				p.SubjectAttribute = v
			case "email_attribute":
				p.EmailAttribute = v
			}
		case "metadata_refresh", "allowed_clock_skew":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if opt == "metadata_refresh" {
				p.MetadataRefresh = caddy.Duration(dur)
			} else {
				p.AllowedClockSkew = caddy.Duration(dur)
			}
		case "idp_initiated", "sign_requests":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			on, err := onOff(v)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if opt == "idp_initiated" {
				p.IdPInitiated = on
			} else {
				p.SignRequests = &on
			}
		case "require_signature", "trust_email":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if opt == "require_signature" {
				p.RequireSignature = v
			} else {
				p.TrustEmail = v
			}
		default:
			if err := p.Common.ParseOptionOrRefuse(d, "saml"); err != nil {
				return err
			}
		}
	}
	if err := p.validate(); err != nil {
		return d.Errf("saml: %v", err)
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser) (string, error) {
	opt := d.Val()
	if !d.NextArg() {
		return "", d.Errf("%s: want one value", opt)
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s: want one value", opt)
	}
	return v, nil
}

func onOff(s string) (bool, error) {
	switch s {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q: want on or off", s)
}

// validate checks what can be checked without placeholders replaced.
func (p *Provider) validate() error {
	if (p.MetadataURL == "") == (p.MetadataFile == "") {
		return fmt.Errorf("want one of metadata_url or metadata_file")
	}
	switch p.RequireSignature {
	case "", SignedEither, SignedAssertion, SignedResponse, SignedBoth:
	default:
		return fmt.Errorf("require_signature %q: want either, assertion, response or both", p.RequireSignature)
	}
	switch p.TrustEmail {
	case "", TrustDomains, TrustAlways, TrustNever:
	default:
		return fmt.Errorf("trust_email %q: want domains, on or off", p.TrustEmail)
	}
	if skew := time.Duration(p.AllowedClockSkew); skew < 0 || skew > MaxClockSkew {
		return fmt.Errorf("allowed_clock_skew %s: want between 0 and %s", skew, MaxClockSkew)
	}
	if r := time.Duration(p.MetadataRefresh); r != 0 && r < minMetadataRefresh {
		return fmt.Errorf("metadata_refresh %s: want at least %s", r, minMetadataRefresh)
	}
	if p.MetadataRefresh != 0 && p.MetadataURL == "" {
		return fmt.Errorf("metadata_refresh applies to metadata_url only")
	}
	if _, err := nameIDFormat(p.NameIDFormat); err != nil {
		return err
	}
	return nil
}

func nameIDFormat(s string) (crewjam.NameIDFormat, error) {
	if s == "" {
		return crewjam.UnspecifiedNameIDFormat, nil
	}
	if f, ok := nameIDFormats[s]; ok {
		return f, nil
	}
	if strings.HasPrefix(s, "urn:") {
		return crewjam.NameIDFormat(s), nil
	}
	return "", fmt.Errorf("name_id_format %q: want persistent, email, unspecified, transient or a URN", s)
}

// metadataURL checks a metadata URL: https, or http to a loopback address
// only (a metadata document names the keys trusted to sign users in).
func metadataURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("metadata_url %q: not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("metadata_url %q: want https (http only to a loopback address)", raw)
		}
	default:
		return nil, fmt.Errorf("metadata_url %q: want an https URL", raw)
	}
	return u, nil
}

// Open makes the connector: the SP keys from the store (made on first
// use), the IdP's metadata (a file now, a URL when first needed).
func (p *Provider) Open(ctx context.Context, env federation.Env) (federation.Connector, error) {
	cfg := *p
	repl := caddy.NewReplacer()
	for _, s := range []*string{&cfg.MetadataURL, &cfg.MetadataFile, &cfg.EntityID, &cfg.IdPEntityID} {
		*s = strings.TrimSpace(repl.ReplaceKnown(*s, ""))
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("idp %s: saml: %w", env.Name, err)
	}
	return open(ctx, &cfg, env)
}

func readMetadataFile(path, entityID string) (*crewjam.EntityDescriptor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metadata_file: %w", err)
	}
	ed, err := parseIdPMetadata(data, entityID)
	if err != nil {
		return nil, fmt.Errorf("metadata_file %s: %w", path, err)
	}
	return ed, nil
}
