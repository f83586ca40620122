package saml

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// replayKey names an assertion in the store's shared counter: hashed, so
// that an IdP's long IDs make keys of one size.
func replayKey(provider, issuer, assertionID string) string {
	h := sha256.Sum256([]byte(issuer + "\x00" + assertionID))
	return "saml-assertion:" + provider + ":" + hex.EncodeToString(h[:])
}

// aliases are the other spellings of the attributes the defaults read, as
// LDAP (urn:oid), ADFS / Entra ID (claim URIs) and others send them. An
// alias fills a name only when the assertion does not carry that name.
var aliases = map[string][]string{
	"mail": {
		"email", "emailaddress", "emailAddress",
		"urn:oid:0.9.2342.19200300.100.1.3",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
	},
	"givenName": {
		"given_name", "firstName",
		"urn:oid:2.5.4.42",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
	},
	"sn": {
		"surname", "family_name", "lastName",
		"urn:oid:2.5.4.4",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
	},
	"displayName": {
		"urn:oid:2.16.840.1.113730.3.1.241",
		"http://schemas.microsoft.com/identity/claims/displayname",
	},
}

// claims are the assertion's attributes by Name and by FriendlyName, a
// single value as a string and several as a []string (which Mapping joins).
func claims(a *crewjam.Assertion) map[string]any {
	values := map[string][]string{}
	friendly := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			var vs []string
			for _, v := range attr.Values {
				if !v.Nil && v.Value != "" {
					vs = append(vs, v.Value)
				}
			}
			values[attr.Name] = append(values[attr.Name], vs...)
			if attr.FriendlyName != "" {
				friendly[attr.FriendlyName] = append(friendly[attr.FriendlyName], vs...)
			}
		}
	}
	for name, vs := range friendly {
		if _, ok := values[name]; !ok {
			values[name] = vs
		}
	}
	for name, others := range aliases {
		if _, ok := values[name]; ok {
			continue
		}
		for _, o := range others {
			if vs, ok := values[o]; ok {
				values[name] = vs
				break
			}
		}
	}
	out := make(map[string]any, len(values))
	for name, vs := range values {
		switch len(vs) {
		case 0:
		case 1:
			out[name] = vs[0]
		default:
			out[name] = vs
		}
	}
	return out
}

// identity is who the assertion names. Subject is the NameID (or
// subject_attribute's value); a transient NameID is refused since it
// changes at every sign-in.
func (c *Connector) identity(issuer string, a *crewjam.Assertion) (*federation.Identity, error) {
	cl := claims(a)
	var nameID *crewjam.NameID
	if a.Subject != nil {
		nameID = a.Subject.NameID
	}
	subject := ""
	if c.subjectAttr != "" {
		subject = first(cl[c.subjectAttr])
	} else if nameID != nil {
		if nameID.Format == string(crewjam.TransientNameIDFormat) {
			return nil, fmt.Errorf("%w (ask the IdP for a persistent NameID, or set subject_attribute)", errTransient)
		}
		subject = strings.TrimSpace(nameID.Value)
	}
	if subject == "" {
		return nil, errNoSubject
	}

	attrs := c.mapping.Apply(cl)
	// The address and the subject follow the rules above, never a
	// mapping (a JSON config can write one the Caddyfile refuses).
	for _, k := range []string{"email", "email_verified", "sub"} {
		delete(attrs, k)
	}

	email := normalEmail(first(cl[c.emailAttr]))
	if email == "" && nameID != nil && nameID.Format == string(crewjam.EmailAddressNameIDFormat) {
		email = normalEmail(nameID.Value)
	}
	return &federation.Identity{
		Provider:      c.name,
		Type:          c.info.Type,
		Issuer:        issuer,
		Subject:       subject,
		Email:         email,
		EmailVerified: email != "" && c.trusts(email),
		Attributes:    attrs,
	}, nil
}

func first(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// normalEmail is the address lower-cased, or "" when it is not a bare
// address (a display name, several, or none).
func normalEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return ""
	}
	return s
}

// trusts applies trust_email to an address.
func (c *Connector) trusts(email string) bool {
	switch c.trustEmail {
	case TrustAlways:
		return true
	case TrustNever:
		return false
	}
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(c.info.Domains, email[at+1:])
}
