package saml

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/federation"
)

func TestCaddyfile(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`saml {
		metadata_url https://idp.acme.example/metadata
		metadata_refresh 6h
		idp_entity_id https://idp.acme.example/
		entity_id urn:amazon:cognito:sp:eu-west-1_abc
		idp_initiated on
		sign_requests off
		require_signature both
		allowed_clock_skew 30s
		name_id_format persistent
		subject_attribute employeeNumber
		email_attribute corpMail
		trust_email on
		display_name "Acme SSO"
		domains acme.example @Acme.IO
		create_users off
		link_by_email
		attribute custom:dept department
	}`)
	var p Provider
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	no := false
	want := Provider{
		Common: federation.Common{
			DisplayName: "Acme SSO",
			Domains:     []string{"acme.example", "acme.io"},
			CreateUsers: &no,
			LinkByEmail: true,
			Attributes:  map[string]string{"custom:dept": "department"},
		},
		MetadataURL:      "https://idp.acme.example/metadata",
		MetadataRefresh:  caddy.Duration(6 * time.Hour),
		IdPEntityID:      "https://idp.acme.example/",
		EntityID:         "urn:amazon:cognito:sp:eu-west-1_abc",
		IdPInitiated:     true,
		SignRequests:     &no,
		RequireSignature: SignedBoth,
		AllowedClockSkew: caddy.Duration(30 * time.Second),
		NameIDFormat:     "persistent",
		SubjectAttribute: "employeeNumber",
		EmailAttribute:   "corpMail",
		TrustEmail:       TrustAlways,
	}
	got, _ := json.Marshal(p)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("parsed\n%s\nwant\n%s", got, exp)
	}
	// The module's JSON is the same configuration.
	var back Provider
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(back); string(again) != string(exp) {
		t.Fatalf("JSON round trip: %s", again)
	}
	mi, err := caddy.GetModule("gatehouse.idp.saml")
	if err != nil {
		t.Fatalf("not registered: %v", err)
	}
	if _, ok := mi.New().(federation.Provider); !ok {
		t.Fatalf("gatehouse.idp.saml is a %T, not a federation.Provider", mi.New())
	}
}

func TestCaddyfileErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"saml { metadata_url https://a/m \n metadata_file /x \n}":        "one of metadata_url or metadata_file",
		"saml { domains acme.example \n}":                                "one of metadata_url or metadata_file",
		"saml { metadata_url https://a/m \n colour blue \n}":             `unknown option "colour"`,
		"saml { metadata_url https://a/m \n require_signature maybe \n}": "require_signature",
		"saml { metadata_url https://a/m \n trust_email sometimes \n}":   "trust_email",
		"saml { metadata_url https://a/m \n allowed_clock_skew 10m \n}":  "allowed_clock_skew",
		"saml { metadata_url https://a/m \n allowed_clock_skew soon \n}": "allowed_clock_skew",
		"saml { metadata_url https://a/m \n idp_initiated perhaps \n}":   "idp_initiated",
		"saml { metadata_url https://a/m \n name_id_format nickname \n}": "name_id_format",
		"saml { metadata_url https://a/m \n entity_id \n}":               "entity_id: want one value",
		"saml { metadata_file /x \n metadata_refresh 1h \n}":             "metadata_refresh applies to metadata_url",
		"saml { metadata_url https://a/m \n metadata_refresh 1s \n}":     "metadata_refresh",
		"saml { metadata_url https://a/m \n attribute email mail \n}":    "attribute email",
		"saml extra { metadata_url https://a/m \n}":                      "wrong argument count",
	}
	for in, want := range cases {
		var p Provider
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v; want one saying %q", in, err, want)
		}
	}
}

// Open refuses what only it can check: a metadata URL that is not https
// (http to loopback only), a metadata file that is missing or not an IdP's.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notIdP := filepath.Join(dir, "sp.xml")
	s := newConnector(t, "assertion", ada)
	md, err := s.c.Metadata(t.Context(), testACS)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notIdP, md, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]*Provider{
		"want https":               {MetadataURL: "http://idp.acme.example/metadata"},
		"not an absolute URL":      {MetadataURL: "/metadata"},
		"no such file":             {MetadataFile: filepath.Join(dir, "missing.xml")},
		"not an identity provider": {MetadataFile: notIdP},
	}
	for want, p := range cases {
		_, err := p.Open(t.Context(), testEnv("bad", newStore(t)))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "idp bad") {
			t.Errorf("%+v: error %v; want one naming the provider and saying %q", p, err, want)
		}
	}
}

// metadata_file (with {env.X} replaced) signs in as metadata_url does.
func TestMetadataFile(t *testing.T) { // not parallel: t.Setenv
	ip := theIdP(t)
	resp, err := http.Get(ip.base + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	path := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(path, md, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_TEST_SAML_IDP_METADATA", path)
	s := newConnector(t, "encrypted", ada, func(p *Provider, _ *federation.Env) {
		p.MetadataURL, p.MetadataFile = "", "{env.GATEHOUSE_TEST_SAML_IDP_METADATA}"
	})
	req, form := s.signIn()
	if _, err := s.complete(req, form); err != nil {
		t.Fatal(err)
	}
}
