package module_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/store"
)

// startSAMLIdP runs samlify's identity provider (federation/saml/testdata/
// idp.mjs) with a fresh key, and returns its base URL.
func startSAMLIdP(t *testing.T, node, root string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "node_modules", "samlify", "package.json")); errors.Is(err, os.ErrNotExist) {
		msg := "the SAML test needs node_modules/samlify (npm ci at the repository root)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test IdP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile, certFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, "federation", "saml", "testdata", "idp.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IDP_KEY_FILE="+keyFile, "IDP_CERT_FILE="+certFile)
	return testenv.StartListening(t, "the SAML IdP", cmd)
}

// TestFederationSAML signs in at a real SAML 2.0 IdP (samlify) through
// Caddy on the issuer site, at Cognito's paths: the SP metadata served per
// provider and host, the IdP's cross-site POST relayed, the user created.
func TestFederationSAML(t *testing.T) {
	node, root := opPrereqs(t)
	idpBase := startSAMLIdP(t, node, root)
	dir := t.TempDir()
	issPort, appPort := testenv.FreePort(t), testenv.FreePort(t)
	iss, app := fmt.Sprintf("http://127.0.0.1:%d", issPort), fmt.Sprintf("http://127.0.0.1:%d", appPort)
	upstream := testenv.StartUpstream(t)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			signup off
			%s
			idp acme saml {
				metadata_url %s/metadata
				display_name "Acme SSO"
				domains acme.example
			}
			idp partner saml {
				metadata_url %s/metadata
				display_name "Partner portal"
				domains partner.example
				idp_initiated on
			}
		}
	}
}

%s {
	gatehouse_idp
}

%s {
	gatehouse {
		pool default
	}
	reverse_proxy %s
}
`, filepath.Join(dir, "gatehouse.db"), iss, testenv.FastHash, idpBase, idpBase, iss, app, upstream.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, iss+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	testenv.WaitHTTP(t, app+"/_gatehouse/static/gatehouse.css", 10*time.Second)
	p := openPoolFile(t, file)
	c := testenv.Browser(t)

	var metadata string
	t.Run("SP metadata per host", func(t *testing.T) {
		resp, body := get(t, c, iss+"/saml2/metadata/acme", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" ||
			!strings.Contains(body, `Location="`+iss+`/saml2/idpresponse"`) || !strings.Contains(body, `entityID="`+iss+`/saml2/metadata/acme"`) {
			t.Fatalf("issuer site metadata: %d %q:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		metadata = body
		resp, body = get(t, c, app+"/_gatehouse/saml2/metadata/acme", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `Location="`+app+`/_gatehouse/saml2/idpresponse"`) {
			t.Fatalf("gateway site metadata: %d:\n%s", resp.StatusCode, body)
		}
		if resp, _ := get(t, c, iss+"/saml2/metadata/nosuch", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("metadata of no provider: %d", resp.StatusCode)
		}
	})

	t.Run("sign in at the IdP, back through the relay page", func(t *testing.T) {
		reg, _ := json.Marshal(map[string]any{"metadata": metadata, "mode": "encrypted", "user": map[string]any{
			"nameID": "ada-saml-1", "nameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			"attributes": map[string][]string{"mail": {"ada@acme.example"}, "displayName": {"Ada Lovelace"}},
		}})
		resp, err := http.Post(idpBase+"/sp", "application/json", bytes.NewReader(reg))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("registering the SP at the IdP: %s", resp.Status)
		}
		sso := startAt(t, c, iss+"/_gatehouse/federate/acme?rd=/_gatehouse/account")
		if !strings.HasPrefix(sso, idpBase+"/sso?") || !strings.Contains(sso, "Signature=") {
			t.Fatalf("sent to %q, want the IdP's SSO with a signed AuthnRequest", sso)
		}
		resp2, page := get(t, c, sso, nil)
		m := opPostForm.FindStringSubmatch(page)
		if resp2.StatusCode != http.StatusOK || m == nil || m[1] != iss+"/saml2/idpresponse" {
			t.Fatalf("the IdP's answer: %d:\n%s", resp2.StatusCode, page)
		}
		cb := fedCallback{Method: http.MethodPost, URL: m[1], Form: map[string][]string{}}
		for _, in := range opPostInput.FindAllStringSubmatch(page, -1) {
			cb.Form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		bare := &http.Client{CheckRedirect: c.CheckRedirect}
		if resp, body := deliver(t, bare, cb); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="relay"`) {
			t.Fatalf("the IdP's cross-site POST: %d, want the relay page:\n%s", resp.StatusCode, body)
		}
		cb.Form.Set("gh_relay", "1")
		resp, body := deliver(t, c, cb)
		if to := web.ContinuePage(t, "SAML sign-in", resp, body); to != "/_gatehouse/account" {
			t.Fatalf("continues to %q", to)
		}
		u, err := p.Store.(store.IdentityStore).UserByIdentity(t.Context(), "acme", "ada-saml-1")
		if err != nil || u.Status != store.StatusExternalProvider || u.Email != "ada@acme.example" || u.Name != "Ada Lovelace" {
			t.Fatalf("SAML user: %+v %v", u, err)
		}
		// The same Response again: its flow is spent.
		if resp, _ := deliver(t, c, cb); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed SAML Response: %d, want 400", resp.StatusCode)
		}
	})

	// IdP-initiated sign-on: a Response no flow asked for, taken only by a
	// provider with idp_initiated on.
	initiated := func(t *testing.T, provider, nameID string) (*http.Response, string) {
		t.Helper()
		_, md := get(t, c, iss+"/saml2/metadata/"+provider, nil)
		reg, _ := json.Marshal(map[string]any{"metadata": md, "mode": "both", "user": map[string]any{
			"nameID": nameID, "nameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			"attributes": map[string][]string{"mail": {nameID + "@partner.example"}},
		}})
		resp, err := http.Post(idpBase+"/sp", "application/json", bytes.NewReader(reg))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		_, page := get(t, c, idpBase+"/initiate?sp="+url.QueryEscape(iss+"/saml2/metadata/"+provider), nil)
		m := opPostForm.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the IdP's unsolicited answer:\n%s", page)
		}
		cb := fedCallback{Method: http.MethodPost, URL: m[1], Form: url.Values{}}
		for _, in := range opPostInput.FindAllStringSubmatch(page, -1) {
			cb.Form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		return deliver(t, testenv.Browser(t), cb)
	}
	t.Run("IdP-initiated sign-on only where turned on", func(t *testing.T) {
		if resp, body := initiated(t, "acme", "ada-unsolicited"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Go to sign in") {
			t.Errorf("unsolicited Response for a provider without idp_initiated: %d, want 400:\n%s", resp.StatusCode, body)
		}
		resp, body := initiated(t, "partner", "pat-1")
		if to := web.ContinuePage(t, "IdP-initiated sign-on", resp, body); to != "/" {
			t.Errorf("continues to %q, want /", to)
		}
		if _, err := p.Store.(store.IdentityStore).UserByIdentity(t.Context(), "partner", "pat-1"); err != nil {
			t.Errorf("no user for the IdP-initiated sign-on: %v", err)
		}
	})
}
