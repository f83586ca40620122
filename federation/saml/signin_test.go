package saml

import (
	"github.com/beevik/etree"
	"slices"
	"strings"
	"testing"
)

// A real IdP's answers are accepted whichever way it protects them.
func TestSignInWithRealIdP(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"response", "assertion", "both", "encrypted"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, mode, ada)
			req, form := s.signIn()
			if form.Get("RelayState") != req.State {
				t.Fatalf("RelayState %q, want the request's state", form.Get("RelayState"))
			}
			doc := responseXML(t, form)
			if enc := mode == "encrypted"; enc != strings.Contains(doc, "EncryptedAssertion") {
				t.Fatalf("mode %s: encrypted assertion = %v in %s", mode, !enc, doc)
			}
			// The IdP signed what the mode says (the encrypted assertion's
			// signature is inside the encryption).
			respSigned, err := responseHasSignature([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			assertionSigned := mode == "encrypted" || signedChild(t, doc, "Assertion")
			if respSigned != slices.Contains([]string{"response", "both"}, mode) ||
				assertionSigned != slices.Contains([]string{"assertion", "both", "encrypted"}, mode) {
				t.Fatalf("mode %s: response signed %v, assertion signed %v:\n%s", mode, respSigned, assertionSigned, doc)
			}
			id, err := s.complete(req, form)
			if err != nil {
				t.Fatalf("Complete: %v\n%s", err, doc)
			}
			if id.Subject != "ada-7f3a" || id.Issuer != s.idp.base+"/metadata" || id.Type != "SAML" || id.Provider != s.c.Info().Name {
				t.Fatalf("identity %+v", id)
			}
			if id.Email != "ada@acme.example" || id.EmailVerified {
				t.Fatalf("email %q verified %v; want ada@acme.example, unverified (no domains)", id.Email, id.EmailVerified)
			}
			want := map[string]string{"given_name": "Ada", "family_name": "Lovelace"}
			for k, v := range want {
				if id.Attributes[k] != v {
					t.Fatalf("attributes %v; want %s=%s", id.Attributes, k, v)
				}
			}
		})
	}
}

// signedChild reports whether the Response's child element tag has an
// XML-DSig Signature child.
func signedChild(t *testing.T, doc, tag string) bool {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	for _, el := range d.Root().ChildElements() {
		if el.Tag != tag {
			continue
		}
		for _, c := range el.ChildElements() {
			if c.Tag == "Signature" && c.NamespaceURI() == dsigNS {
				return true
			}
		}
	}
	return false
}
