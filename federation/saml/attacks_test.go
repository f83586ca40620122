package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// The known attacks on SAML service providers, each built from a real
// Response of the test IdP, and each refused for its own reason.

func readDoc(t *testing.T, s string) *etree.Document {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(s); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeDoc(t *testing.T, d *etree.Document) string {
	t.Helper()
	s, err := d.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// child returns el's first child element named tag.
func child(t *testing.T, el *etree.Element, tag string) *etree.Element {
	t.Helper()
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	t.Fatalf("<%s> has no <%s>", el.Tag, tag)
	return nil
}

// evilCopy is a copy of the assertion naming "admin", with a new ID and no
// signature: what an attacker writes.
func evilCopy(t *testing.T, assertion *etree.Element) *etree.Element {
	t.Helper()
	evil := assertion.Copy()
	for _, c := range evil.ChildElements() {
		if c.Tag == "Signature" {
			evil.RemoveChild(c)
		}
	}
	evil.CreateAttr("ID", "_evil")
	child(t, child(t, evil, "Subject"), "NameID").SetText("admin")
	return evil
}

func signedAssertionResponse(t *testing.T) (*setup, federation.Request, string) {
	t.Helper()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	s.form = form
	return s, req, responseXML(t, form)
}

func (s *setup) try(req federation.Request, doc string) (*federation.Identity, error) {
	return s.complete(req, withResponse(s.form, doc))
}

// XSW: an unsigned assertion beside the signed one, before or after it.
func TestXSWUnsignedAssertionBeside(t *testing.T) {
	t.Parallel()
	for _, before := range []bool{true, false} {
		t.Run(map[bool]string{true: "before", false: "after"}[before], func(t *testing.T) {
			t.Parallel()
			s, req, doc := signedAssertionResponse(t)
			d := readDoc(t, doc)
			signed := child(t, d.Root(), "Assertion")
			evil := evilCopy(t, signed)
			idx := signed.Index()
			if !before {
				idx++
			}
			d.Root().InsertChildAt(idx, evil)
			id, err := s.try(req, writeDoc(t, d))
			// An unsigned Response may hold one assertion only.
			wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrMalformedMessage)
			if id != nil {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// XSW: the signed assertion wrapped inside the attacker's (in its Advice),
// and moved out of the way into the Response's Extensions.
func TestXSWSignedAssertionWrappedOrMoved(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"advice", "extensions"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			s, req, doc := signedAssertionResponse(t)
			d := readDoc(t, doc)
			signed := child(t, d.Root(), "Assertion")
			evil := evilCopy(t, signed)
			idx := signed.Index()
			d.Root().RemoveChild(signed)
			switch where {
			case "advice":
				advice := etree.NewElement("saml:Advice")
				advice.AddChild(signed)
				cond := child(t, evil, "Conditions")
				evil.InsertChildAt(cond.Index()+1, advice)
			case "extensions":
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(signed)
				d.Root().InsertChildAt(child(t, d.Root(), "Issuer").Index()+1, ext)
				idx++
			}
			d.Root().InsertChildAt(idx, evil)
			_, err := s.try(req, writeDoc(t, d))
			// The assertion read is the attacker's, which no signature covers.
			wantErr(t, err, federation.ErrInvalidResponse, errUnsigned)
		})
	}
}

// XSW: the attacker's assertion takes the signed one's ID and its
// Signature, the original hidden inside that Signature (as a ds:Object).
func TestXSWSameIDWithCopiedSignature(t *testing.T) {
	t.Parallel()
	s, req, doc := signedAssertionResponse(t)
	d := readDoc(t, doc)
	signed := child(t, d.Root(), "Assertion")
	evil := evilCopy(t, signed)
	evil.CreateAttr("ID", signed.SelectAttrValue("ID", ""))
	sig := child(t, signed, "Signature").Copy()
	obj := etree.NewElement("ds:Object")
	obj.AddChild(signed.Copy())
	sig.AddChild(obj)
	evil.InsertChildAt(child(t, evil, "Issuer").Index()+1, sig)
	d.Root().InsertChildAt(signed.Index(), evil)
	d.Root().RemoveChild(signed)
	_, err := s.try(req, writeDoc(t, d))
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrInvalidSignature)
}

// XSW on a signed Response: the attacker's Response keeps the original's
// ID and Signature and carries the original inside; or an unsigned
// Response wraps the signed one; or an assertion is added to a signed
// Response.
func TestXSWSignedResponse(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		attack func(t *testing.T, d *etree.Document)
		want   error
	}{
		"same id, original inside": {
			attack: func(t *testing.T, d *etree.Document) {
				root := d.Root()
				original := root.Copy()
				a := child(t, root, "Assertion")
				child(t, child(t, a, "Subject"), "NameID").SetText("admin")
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(original)
				root.InsertChildAt(child(t, root, "Signature").Index()+1, ext)
			},
			want: crewjam.ErrInvalidSignature,
		},
		"unsigned wrapper": {
			attack: func(t *testing.T, d *etree.Document) {
				root := d.Root()
				original := root.Copy()
				root.CreateAttr("ID", "_evil-response")
				root.RemoveChild(child(t, root, "Signature"))
				a := child(t, root, "Assertion")
				child(t, child(t, a, "Subject"), "NameID").SetText("admin")
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(original)
				root.InsertChildAt(child(t, root, "Issuer").Index()+1, ext)
			},
			want: errUnsigned,
		},
		"assertion added": {
			attack: func(t *testing.T, d *etree.Document) {
				root := d.Root()
				root.AddChild(evilCopy(t, child(t, root, "Assertion")))
			},
			want: crewjam.ErrInvalidSignature,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, "response", ada)
			req, form := s.signIn()
			s.form = form
			d := readDoc(t, responseXML(t, form))
			tc.attack(t, d)
			_, err := s.try(req, writeDoc(t, d))
			wantErr(t, err, federation.ErrInvalidResponse, tc.want)
		})
	}
}

// A comment inside the NameID leaves the signature valid (canonical XML
// drops comments); the subject must still be the whole signed text, not the
// part before the comment.
func TestCommentInNameID(t *testing.T) {
	t.Parallel()
	evil := user{
		NameID:       "user@evil.com.attacker",
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
	}
	for _, mode := range []string{"assertion", "response"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, mode, evil, withDomains("evil.com"))
			req, form := s.signIn()
			doc := responseXML(t, form)
			cut := strings.Replace(doc, ">user@evil.com.attacker<", ">user@evil.com<!---->.attacker<", 1)
			if cut == doc {
				t.Fatalf("no NameID to cut in %s", doc)
			}
			id, err := s.complete(req, withResponse(form, cut))
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if id.Subject != "user@evil.com.attacker" || id.Email != "user@evil.com.attacker" || id.EmailVerified {
				t.Fatalf("subject %q email %q verified %v; want the whole signed NameID, unverified",
					id.Subject, id.Email, id.EmailVerified)
			}
		})
	}
}

// With no signature at all, or a signed element changed, nothing passes.
func TestUnsignedOrTamperedRefused(t *testing.T) {
	t.Parallel()
	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		s, req, doc := signedAssertionResponse(t)
		d := readDoc(t, doc)
		a := child(t, d.Root(), "Assertion")
		a.RemoveChild(child(t, a, "Signature"))
		_, err := s.try(req, writeDoc(t, d))
		wantErr(t, err, federation.ErrInvalidResponse, errUnsigned)
	})
	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		s, req, doc := signedAssertionResponse(t)
		d := readDoc(t, doc)
		a := child(t, d.Root(), "Assertion")
		child(t, child(t, a, "Subject"), "NameID").SetText("admin")
		_, err := s.try(req, writeDoc(t, d))
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrInvalidSignature)
	})
}

// resign replaces the assertion's signature with one made by key and cert.
func resign(t *testing.T, d *etree.Document, key *rsa.PrivateKey, cert *x509.Certificate) {
	t.Helper()
	a := child(t, d.Root(), "Assertion")
	a.RemoveChild(child(t, a, "Signature"))
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore{Certificate: [][]byte{cert.Raw}, PrivateKey: key})
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(a)
	if err != nil {
		t.Fatal(err)
	}
	d.Root().InsertChildAt(a.Index(), signed)
	d.Root().RemoveChild(a)
}

// An assertion validly signed by the IdP's key but issued in another
// entity's name is refused by its Issuer. (Re-signed unchanged, it passes:
// the test's signing is sound.)
func TestIssuerOfAnotherEntity(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"unchanged", "assertion", "both"} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			s, req, doc := signedAssertionResponse(t)
			d := readDoc(t, doc)
			if change != "unchanged" {
				child(t, child(t, d.Root(), "Assertion"), "Issuer").SetText("https://other-idp.example/")
			}
			if change == "both" {
				child(t, d.Root(), "Issuer").SetText("https://other-idp.example/")
			}
			resign(t, d, s.idp.key, s.idp.cert)
			_, err := s.try(req, writeDoc(t, d))
			if change == "unchanged" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrIssuerMismatch)
		})
	}
}

// An assertion signed by a key that is not in the IdP's metadata, with its
// certificate in KeyInfo, is refused.
func TestSignedByAnotherKey(t *testing.T) {
	t.Parallel()
	s, req, doc := signedAssertionResponse(t)
	key, cert, err := selfSigned("attacker")
	if err != nil {
		t.Fatal(err)
	}
	d := readDoc(t, doc)
	child(t, child(t, child(t, d.Root(), "Assertion"), "Subject"), "NameID").SetText("admin")
	resign(t, d, key, cert)
	_, err = s.try(req, writeDoc(t, d))
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrInvalidSignature, crewjam.ErrUntrustedCertificate)
}

// Assertions the IdP's key signed with a condition that fails: each is
// refused by that condition alone.
func TestSignedButOutOfBounds(t *testing.T) {
	t.Parallel()
	expiredAgo := func(ago time.Duration) func(t *testing.T, a *etree.Element) {
		return func(t *testing.T, a *etree.Element) {
			past := time.Now().Add(-ago).UTC().Format(time.RFC3339)
			child(t, a, "Conditions").CreateAttr("NotOnOrAfter", past)
			scd := child(t, child(t, child(t, a, "Subject"), "SubjectConfirmation"), "SubjectConfirmationData")
			scd.CreateAttr("NotOnOrAfter", past)
		}
	}
	cases := map[string]struct {
		change func(t *testing.T, a *etree.Element)
		want   error
	}{
		// Past the default allowed_clock_skew (60s), within the library's.
		"NotOnOrAfter 2m ago": {change: expiredAgo(2 * time.Minute), want: errExpiredWithSkew},
		// Past the library's too.
		"NotOnOrAfter 5m ago": {change: expiredAgo(5 * time.Minute), want: crewjam.ErrExpired},
		"Recipient of another ACS": {
			change: func(t *testing.T, a *etree.Element) {
				scd := child(t, child(t, child(t, a, "Subject"), "SubjectConfirmation"), "SubjectConfirmationData")
				scd.CreateAttr("Recipient", "https://evil.example.test/saml2/idpresponse")
			},
			want: crewjam.ErrDestinationMismatch,
		},
		"no AudienceRestriction": {
			change: func(t *testing.T, a *etree.Element) {
				cond := child(t, a, "Conditions")
				cond.RemoveChild(child(t, cond, "AudienceRestriction"))
			},
			want: crewjam.ErrAudienceMismatch,
		},
		"InResponseTo of another request": {
			change: func(t *testing.T, a *etree.Element) {
				scd := child(t, child(t, child(t, a, "Subject"), "SubjectConfirmation"), "SubjectConfirmationData")
				scd.CreateAttr("InResponseTo", "id-another")
			},
			want: crewjam.ErrRequestIDMismatch,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, req, doc := signedAssertionResponse(t)
			d := readDoc(t, doc)
			tc.change(t, child(t, d.Root(), "Assertion"))
			resign(t, d, s.idp.key, s.idp.cert)
			_, err := s.try(req, writeDoc(t, d))
			wantErr(t, err, federation.ErrInvalidResponse, tc.want)
		})
	}
}
