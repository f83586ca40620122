package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// Each check of Complete, on a real Response changed only where the check
// looks.

func TestReplayRefused(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	if _, err := s.complete(req, form); err != nil {
		t.Fatal(err)
	}
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, errReplayed)
}

// A Response refused for another reason is not spent: the right one still
// passes once.
func TestRefusedResponseNotSpent(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	other := req
	other.RedirectURI = "https://other.example.test/saml2/idpresponse"
	_, err := s.complete(other, form)
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrDestinationMismatch)
	if _, err := s.complete(req, form); err != nil {
		t.Fatal(err)
	}
}

func TestAudienceOfAnotherSP(t *testing.T) {
	t.Parallel()
	ours := newConnector(t, "assertion", ada)
	theirs := newConnector(t, "assertion", ada)
	req, form := theirs.signIn()
	_, err := ours.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrAudienceMismatch)
}

func TestExpired(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	s.setNow(time.Now().Add(10 * time.Minute))
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrExpired)
}

// An IdP whose clock is 30s ahead passes with the default skew (60s) and
// not with allowed_clock_skew 10s.
func TestAllowedClockSkew(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{0, 10 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) { p.AllowedClockSkew = caddyDuration(skew) })
			req, form := s.signIn()
			s.setNow(time.Now().Add(-30 * time.Second))
			_, err := s.complete(req, form)
			if skew == 0 {
				if err != nil {
					t.Fatalf("default skew: %v", err)
				}
				return
			}
			wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrNotYetValid, errNotYetValid)
		})
	}
}

func TestWrongInResponseTo(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	req.RequestID = "id-forged"
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrRequestIDMismatch)
}

// A Response addressed to another ACS (another host of the pool, another
// SP) is refused by its Destination.
func TestWrongDestination(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "response", ada)
	req, form := s.signIn()
	req.RedirectURI = "https://evil.example.test/saml2/idpresponse"
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrDestinationMismatch)
}

func TestRelayStateMismatch(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	form.Set("RelayState", "someone-else")
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrInvalidResponse, errRelayState)
}

func TestStatusNotSuccessIsDenied(t *testing.T) {
	t.Parallel()
	denied := ada
	denied.Status = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	s := newConnector(t, "response", denied)
	req, form := s.signIn()
	_, err := s.complete(req, form)
	wantErr(t, err, federation.ErrDenied)
}

func (s *setup) unsolicitedForm() url.Values {
	s.t.Helper()
	return s.idpForm(s.idp.base + "/initiate?sp=" + url.QueryEscape(s.c.EntityID()) + "&RelayState=" + url.QueryEscape("/app"))
}

func TestIdPInitiated(t *testing.T) {
	t.Parallel()
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "assertion", ada)
		form := s.unsolicitedForm()
		_, err := s.c.CompleteUnsolicited(t.Context(), form, testACS)
		wantErr(t, err, federation.ErrInvalidResponse, errUnsolicited)
		// Nor does it pass as the answer to a sign-in.
		req := s.begin()
		form.Set("RelayState", req.State)
		_, err = s.complete(req, form)
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrRequestIDMismatch)
	})
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) { p.IdPInitiated = true })
		form := s.unsolicitedForm()
		id, err := s.c.CompleteUnsolicited(t.Context(), form, testACS)
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "ada-7f3a" {
			t.Fatalf("identity %+v", id)
		}
		_, err = s.c.CompleteUnsolicited(t.Context(), form, testACS)
		wantErr(t, err, federation.ErrInvalidResponse, errReplayed)
		// An answer to a sign-in cannot be passed off as unsolicited.
		_, solicited := s.signIn()
		_, err = s.c.CompleteUnsolicited(t.Context(), solicited, testACS)
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrRequestIDMismatch)
		// Audience and recipient still hold.
		_, err = s.c.CompleteUnsolicited(t.Context(), s.unsolicitedForm(), "https://evil.example.test/saml2/idpresponse")
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrDestinationMismatch)
	})
}

func TestRequireSignature(t *testing.T) {
	t.Parallel()
	cases := []struct {
		require, mode string
		ok            bool
	}{
		{SignedAssertion, "assertion", true},
		{SignedAssertion, "encrypted", true},
		{SignedAssertion, "response", false},
		{SignedResponse, "response", true},
		{SignedResponse, "assertion", false},
		{SignedBoth, "both", true},
		{SignedBoth, "assertion", false},
		{SignedBoth, "response", false},
	}
	for _, tc := range cases {
		t.Run(tc.require+"/"+tc.mode, func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, tc.mode, ada, func(p *Provider, _ *federation.Env) { p.RequireSignature = tc.require })
			req, form := s.signIn()
			_, err := s.complete(req, form)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, federation.ErrInvalidResponse, errSignaturePolicy)
		})
	}
}

func TestTrustEmail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		trust    string
		domains  []string
		verified bool
	}{
		{"", []string{"acme.example"}, true},
		{"", []string{"other.example"}, false},
		{"", nil, false},
		{TrustNever, []string{"acme.example"}, false},
		{TrustAlways, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.trust+"/"+strings.Join(tc.domains, ","), func(t *testing.T) {
			t.Parallel()
			s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) {
				p.TrustEmail, p.Domains = tc.trust, tc.domains
			})
			req, form := s.signIn()
			id, err := s.complete(req, form)
			if err != nil {
				t.Fatal(err)
			}
			if id.Email != "ada@acme.example" || id.EmailVerified != tc.verified {
				t.Fatalf("email %q verified %v; want ada@acme.example verified %v", id.Email, id.EmailVerified, tc.verified)
			}
		})
	}
}

func TestTransientNameID(t *testing.T) {
	t.Parallel()
	transient := ada
	transient.NameID = "_4f8a0b1c"
	transient.NameIDFormat = string(crewjam.TransientNameIDFormat)
	transient.Attributes = map[string][]string{"employeeNumber": {"E-1815"}, "mail": {"ada@acme.example"}}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "assertion", transient)
		req, form := s.signIn()
		_, err := s.complete(req, form)
		wantErr(t, err, federation.ErrInvalidResponse, errTransient)
	})
	t.Run("subject_attribute", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "assertion", transient, func(p *Provider, _ *federation.Env) { p.SubjectAttribute = "employeeNumber" })
		req, form := s.signIn()
		id, err := s.complete(req, form)
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "E-1815" || id.Email != "ada@acme.example" {
			t.Fatalf("identity %+v", id)
		}
	})
}

// The email, attributes and their defaults: the NameID is the address when
// its format says so and no attribute gives one; several values are joined.
func TestAttributes(t *testing.T) {
	t.Parallel()
	u := user{
		NameID:       "grace@navy.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
		Attributes: map[string][]string{
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": {"Grace"},
			"urn:oid:2.5.4.4": {"Hopper"},
			"http://schemas.microsoft.com/identity/claims/displayname": {"Grace Hopper"},
			"department": {"cobol", "navy"},
		},
	}
	s := newConnector(t, "assertion", u, func(p *Provider, _ *federation.Env) {
		p.Attributes = map[string]string{"custom:dept": "department", "name": "", "email": "department", "email_verified": "department"}
	})
	req, form := s.signIn()
	id, err := s.complete(req, form)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"given_name": "Grace", "family_name": "Hopper", "custom:dept": "cobol,navy"}
	if id.Email != "grace@navy.example" || id.Subject != "grace@navy.example" || len(id.Attributes) != len(want) {
		t.Fatalf("identity %+v", id)
	}
	for k, v := range want {
		if id.Attributes[k] != v {
			t.Fatalf("attributes %v; want %s=%q", id.Attributes, k, v)
		}
	}
}

// The IdP verifies the AuthnRequest's signature: an unsigned request, or a
// signed one whose RelayState was changed, is turned away there.
func TestAuthnRequestSigned(t *testing.T) {
	t.Parallel()
	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		off := false
		s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) { p.SignRequests = &off })
		s.begin()
		if strings.Contains(s.lastURL, "Signature=") {
			t.Fatalf("sign_requests off, yet %s", s.lastURL)
		}
		wantIdPRefusal(t, s.lastURL)
	})
	t.Run("changed", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "assertion", ada)
		req := s.begin()
		if !strings.Contains(s.lastURL, "SigAlg=") || !strings.Contains(s.lastURL, "RelayState="+req.State) {
			t.Fatalf("not a signed redirect with the state: %s", s.lastURL)
		}
		wantIdPRefusal(t, strings.Replace(s.lastURL, "RelayState="+req.State, "RelayState=changed", 1))
	})
}

func wantIdPRefusal(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the IdP answered %s; want 400 for a request without a good signature", resp.Status)
	}
}

// An encrypted assertion is read only with the SP's own key: one made for
// the same entity ID with other keys (another store) does not decrypt, and
// a changed ciphertext is refused.
func TestEncryptedAssertionKeys(t *testing.T) {
	t.Parallel()
	t.Run("other keys", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "encrypted", ada)
		req, form := s.signIn()
		other := openConnector(t, &Provider{MetadataURL: s.idp.base + "/metadata"}, testEnv(s.c.Info().Name, newStore(t)))
		if other.EntityID() != s.c.EntityID() {
			t.Fatal("not the same entity ID")
		}
		_, err := other.Complete(t.Context(), federation.Callback{Request: req, Params: form})
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrDecryptionFailed)
	})
	t.Run("changed ciphertext", func(t *testing.T) {
		t.Parallel()
		s := newConnector(t, "encrypted", ada)
		req, form := s.signIn()
		d := readDoc(t, responseXML(t, form))
		values := d.FindElements("//CipherValue")
		if len(values) < 2 {
			t.Fatalf("no encrypted data in %s", responseXML(t, form))
		}
		data := values[len(values)-1] // the assertion's, after its key's
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data.Text()))
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0x40
		data.SetText(base64.StdEncoding.EncodeToString(raw))
		_, err = s.complete(req, withResponse(form, writeDoc(t, d)))
		wantErr(t, err, federation.ErrInvalidResponse, crewjam.ErrDecryptionFailed)
		if _, err := s.complete(req, form); err != nil {
			t.Fatalf("the unchanged Response: %v", err)
		}
	})
}

// The AuthnRequest names this SP, the site's ACS by HTTP-POST, the IdP's
// SSO service as Destination, and the NameIDPolicy asked for.
func TestAuthnRequestContents(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) { p.NameIDFormat = "persistent" })
	req := s.begin()
	u, err := url.Parse(s.lastURL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	xmlDoc, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var ar crewjam.AuthnRequest
	if err := xml.Unmarshal(xmlDoc, &ar); err != nil {
		t.Fatal(err)
	}
	if ar.ID != req.RequestID || ar.Issuer.Value != s.c.EntityID() || ar.AssertionConsumerServiceURL != testACS ||
		ar.ProtocolBinding != crewjam.HTTPPostBinding || ar.Destination != s.idp.base+"/sso" ||
		*ar.NameIDPolicy.Format != string(crewjam.PersistentNameIDFormat) {
		t.Fatalf("AuthnRequest %s", xmlDoc)
	}
	if u.Query().Get("RelayState") != req.State || u.Query().Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" {
		t.Fatalf("redirect %s", s.lastURL)
	}
}

// Posted at once many times, a Response signs in once.
func TestReplayRace(t *testing.T) {
	t.Parallel()
	s := newConnector(t, "assertion", ada)
	req, form := s.signIn()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.complete(req, form)
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errReplayed):
			t.Errorf("refused for another reason: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d posts signed in; want 1", ok, n)
	}
}
