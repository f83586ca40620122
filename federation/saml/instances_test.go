package saml

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
)

// openConnector opens a connector without putting keys in its store first.
func openConnector(t *testing.T, p *Provider, env federation.Env) *Connector {
	t.Helper()
	c, err := p.Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector)
}

func testEnv(name string, st store.Store) federation.Env {
	return federation.Env{
		Name:       name,
		Pool:       "default",
		Issuer:     testIssuer,
		Store:      st,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
}

// spCerts reads the signing and encryption certificates from the SP's
// metadata.
func spCerts(t *testing.T, c *Connector) (signing, encryption string) {
	t.Helper()
	md, err := c.Metadata(t.Context(), testACS)
	if err != nil {
		t.Fatal(err)
	}
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		cert := kd.KeyInfo.X509Data.X509Certificates[0].Data
		switch kd.Use {
		case "signing":
			signing = cert
		case "encryption":
			encryption = cert
		}
	}
	if signing == "" || encryption == "" || signing == encryption {
		t.Fatalf("metadata certificates: signing %q, encryption %q", signing, encryption)
	}
	return signing, encryption
}

// Two instances opening at once on one store make keys once between them;
// a later Open reads the same.
func TestKeysMadeOnFirstOpenAndShared(t *testing.T) {
	t.Parallel()
	ip := theIdP(t)
	st := newStore(t)
	p := &Provider{MetadataURL: ip.base + "/metadata"}
	conns := make([]*Connector, 2)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Open(context.Background(), testEnv("fresh", st))
			if err != nil {
				t.Error(err)
				return
			}
			conns[i] = c.(*Connector)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	conns = append(conns, openConnector(t, p, testEnv("fresh", st)))
	s0, e0 := spCerts(t, conns[0])
	for _, c := range conns[1:] {
		if s, e := spCerts(t, c); s != s0 || e != e0 {
			t.Fatal("instances on one store publish different certificates")
		}
	}
	keys, err := st.Keys(t.Context(), KeyKind)
	if err != nil || len(keys) != 1 || keys[0].ID != "fresh" {
		t.Fatalf("stored keys %v, %v; want one of kind %s for the provider", keys, err, KeyKind)
	}
	// Another provider of the pool has keys of its own.
	if s, _ := spCerts(t, openConnector(t, p, testEnv("other", st))); s == s0 {
		t.Fatal("two providers share keys")
	}
}

// Two instances on one PostgreSQL database: keys made once between them
// (an encrypted assertion made for one's metadata decrypts on the other),
// and a Response accepted by one is refused as a replay by the other.
func TestReplayAcrossInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	ip := theIdP(t)
	dsn := testenv.PostgresDSN(t)
	stores := make([]store.Store, 2)
	for i := range stores {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		stores[i] = st
	}
	p := &Provider{MetadataURL: ip.base + "/metadata"}
	var a, b *Connector
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = openConnector(t, p, testEnv("corp", stores[0])) }()
	go func() { defer wg.Done(); b = openConnector(t, p, testEnv("corp", stores[1])) }()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	s := &setup{t: t, idp: ip, c: a, store: stores[0]}
	s.register("encrypted", ada)
	req, form := s.signIn()
	id, err := b.Complete(t.Context(), federation.Callback{Request: req, Params: form})
	if err != nil {
		t.Fatalf("the other instance: %v", err)
	}
	if id.Subject != "ada-7f3a" {
		t.Fatalf("identity %+v", id)
	}
	_, err = a.Complete(t.Context(), federation.Callback{Request: req, Params: form})
	wantErr(t, err, federation.ErrInvalidResponse, errReplayed)
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	off := false
	cases := map[string]struct {
		opt                      option
		entityID                 string
		requestsSigned, wantSign bool
	}{
		"defaults":             {nil, testIssuer + "/saml2/metadata/", true, true},
		"entity_id":            {func(p *Provider, _ *federation.Env) { p.EntityID = "urn:amazon:cognito:sp:eu-west-1_abc" }, "urn:amazon:cognito:sp:eu-west-1_abc", true, true},
		"sign_requests off":    {func(p *Provider, _ *federation.Env) { p.SignRequests = &off }, testIssuer + "/saml2/metadata/", false, true},
		"require response sig": {func(p *Provider, _ *federation.Env) { p.RequireSignature = SignedResponse }, testIssuer + "/saml2/metadata/", true, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opts []option
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			s := newConnector(t, "assertion", ada, opts...)
			const acs = "https://app.example.test" + federation.SiteSAMLCallbackPath
			md, err := s.c.Metadata(t.Context(), acs)
			if err != nil {
				t.Fatal(err)
			}
			var ed crewjam.EntityDescriptor
			if err := xml.Unmarshal(md, &ed); err != nil {
				t.Fatal(err)
			}
			want := tc.entityID
			if strings.HasSuffix(want, "/") {
				want += s.c.Info().Name
			}
			if ed.EntityID != want || s.c.EntityID() != want {
				t.Fatalf("entity ID %q, want %q", ed.EntityID, want)
			}
			if !ed.ValidUntil.IsZero() || ed.CacheDuration <= 0 {
				t.Fatalf("validUntil %v cacheDuration %v; want a cacheDuration only", ed.ValidUntil, ed.CacheDuration)
			}
			sp := ed.SPSSODescriptors[0]
			if len(sp.AssertionConsumerServices) != 1 || sp.AssertionConsumerServices[0].Location != acs ||
				sp.AssertionConsumerServices[0].Binding != crewjam.HTTPPostBinding {
				t.Fatalf("ACS %+v; want %s by HTTP-POST only", sp.AssertionConsumerServices, acs)
			}
			if *sp.AuthnRequestsSigned != tc.requestsSigned || *sp.WantAssertionsSigned != tc.wantSign {
				t.Fatalf("AuthnRequestsSigned %v WantAssertionsSigned %v", *sp.AuthnRequestsSigned, *sp.WantAssertionsSigned)
			}
			uses := map[string]bool{}
			for _, kd := range sp.KeyDescriptors {
				uses[kd.Use] = true
			}
			if !uses["encryption"] || uses["signing"] != tc.requestsSigned {
				t.Fatalf("key uses %v", uses)
			}
		})
	}
}

// The IdP's metadata comes from its URL when first needed, is refreshed
// after metadata_refresh, and is kept while the URL fails.
func TestIdPMetadataRefresh(t *testing.T) {
	t.Parallel()
	ip := theIdP(t)
	resp, err := http.Get(ip.base + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	original := string(raw)
	var served atomic.Value // string; "" fails
	served.Store(original)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		doc := served.Load().(string)
		if doc == "" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)

	s := newConnector(t, "assertion", ada, func(p *Provider, _ *federation.Env) {
		p.MetadataURL = srv.URL
		p.MetadataRefresh = caddyDuration(time.Hour)
	})
	s.begin()
	if !strings.HasPrefix(s.lastURL, ip.base+"/sso?") {
		t.Fatalf("Begin sent to %s", s.lastURL)
	}

	// Down: the last copy is kept, past the refresh time too.
	served.Store("")
	s.setNow(time.Now().Add(2 * time.Hour))
	before := hits.Load()
	waitFor(t, func() bool {
		s.begin()
		return hits.Load() > before
	})
	s.begin()
	if !strings.HasPrefix(s.lastURL, ip.base+"/sso?") {
		t.Fatalf("after a failed refresh, Begin sent to %s", s.lastURL)
	}
	if _, form := s.signIn(); form.Get("SAMLResponse") == "" {
		t.Fatal("no response")
	}

	// Back, with another SSO location: the next refresh takes it.
	served.Store(strings.Replace(original, ip.base+"/sso", ip.base+"/sso-moved", 1))
	s.setNow(time.Now().Add(4 * time.Hour))
	waitFor(t, func() bool {
		s.begin()
		return strings.HasPrefix(s.lastURL, ip.base+"/sso-moved?")
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An IdP whose metadata cannot be fetched: Open succeeds (the pool starts),
// Begin says the provider cannot be reached.
func TestIdPMetadataUnavailable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := openConnector(t, &Provider{MetadataURL: srv.URL + "/metadata"}, testEnv("down", newStore(t)))
	_, err := c.Begin(t.Context(), federation.Request{State: "s", RedirectURI: testACS})
	wantErr(t, err, federation.ErrUnavailable)
	// Not asked again at once.
	_, err = c.Begin(t.Context(), federation.Request{State: "s", RedirectURI: testACS})
	wantErr(t, err, federation.ErrUnavailable)
}
