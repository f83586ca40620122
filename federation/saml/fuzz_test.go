package saml

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/store"
)

// FuzzComplete posts arbitrary documents as the SAMLResponse: none may
// sign anyone in (nothing the fuzzer writes is signed by the IdP's key), and
// every refusal is one the pages know (or a denial, which an unsigned
// Response may say).
func FuzzComplete(f *testing.F) {
	key, cert, err := selfSigned("fuzz IdP")
	if err != nil {
		f.Fatal(err)
	}
	mdURL, _ := url.Parse("https://idp.fuzz.example/metadata")
	ssoURL, _ := url.Parse("https://idp.fuzz.example/sso")
	ed := (&crewjam.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *mdURL, SSOURL: *ssoURL}).Metadata()
	md, err := xml.Marshal(ed)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "idp.xml")
	if err := os.WriteFile(path, md, 0o600); err != nil {
		f.Fatal(err)
	}
	st := newStoreTB(f)
	if err := st.AddKey(f.Context(), store.Key{Kind: KeyKind, ID: "fuzz", Material: spMaterial()}); err != nil {
		f.Fatal(err)
	}
	conn, err := (&Provider{MetadataFile: path}).Open(f.Context(), testEnv("fuzz", st))
	if err != nil {
		f.Fatal(err)
	}
	c := conn.(*Connector)

	f.Add(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="` + testACS + `" InResponseTo="id-1"><saml:Issuer>https://idp.fuzz.example/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>https://idp.fuzz.example/metadata</saml:Issuer><saml:Subject><saml:NameID>admin</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>`)
	f.Add(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"/></samlp:Status></samlp:Response>`)
	f.Add(`<x/>`)
	f.Add(``)
	req := federation.Request{State: "s", RequestID: "id-1", RedirectURI: testACS}
	f.Fuzz(func(t *testing.T, doc string) {
		params := url.Values{"RelayState": {"s"}, "SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(doc))}}
		id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		if id != nil || err == nil {
			t.Fatalf("signed in %+v from %q", id, doc)
		}
		if !errors.Is(err, federation.ErrInvalidResponse) && !errors.Is(err, federation.ErrDenied) {
			t.Fatalf("error %v is neither invalid nor denied", err)
		}
	})
}
