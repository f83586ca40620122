package module_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/module"
)

// TestCognitoConfig reads `cognito { pool_id ... region ... }` in a pool
// block and a client's auth_flows, refusing what Cognito clients could not
// be configured with.
func TestCognitoConfig(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + filepath.Join(t.TempDir(), "gh.db") + `
			issuer https://auth.example.test
			` + opts + `
		}
	}
}
`
	}
	out, _, err := caddyconfigAdapt(pool("cognito {\npool_id us-east-1_AbCdEf123\nregion us-east-1\n}\n" +
		"client spa {\npublic\nredirect_uri https://spa.example.test/cb\nauth_flows ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH\n}"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			Gatehouse struct {
				Pools map[string]*module.PoolConfig `json:"pools"`
			} `json:"gatehouse"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	pc := cfg.Apps.Gatehouse.Pools["default"]
	if pc.Cognito == nil || pc.Cognito.PoolID != "us-east-1_AbCdEf123" || pc.Cognito.Region != "us-east-1" ||
		len(pc.Clients) != 1 || strings.Join(pc.Clients[0].AuthFlows, " ") != "ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH" {
		t.Fatalf("adapted %+v", pc)
	}
	if err := pc.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	pc.Issuer = ""
	pc.Clients = nil
	if err := pc.Validate(); err == nil || !strings.Contains(err.Error(), "cognito: the pool needs an issuer") {
		t.Fatalf("without an issuer: %v", err)
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"no pool id", "cognito {\nregion us-east-1\n}", "pool_id \"\": want <region>_<id>"},
		{"malformed pool id", "cognito {\npool_id AbCdEf123\n}", "want <region>_<id>"},
		{"region not the prefix", "cognito {\npool_id us-east-1_AbC\nregion eu-west-1\n}", "its region us-east-1 is not region eu-west-1"},
		{"unknown option", "cognito {\npool_id us-east-1_AbC\nendpoint x\n}", `unrecognized option "endpoint"`},
		{"twice", "cognito {\npool_id us-east-1_AbC\n}\ncognito {\npool_id us-east-1_AbC\n}", "cognito: given twice"},
		{"argument", "cognito us-east-1_AbC", "wrong argument count"},
		{"unknown flow", "client spa {\npublic\nredirect_uri https://spa.example.test/cb\nauth_flows ALLOW_MAGIC_LINK_AUTH\n}", `auth_flows: unknown flow "ALLOW_MAGIC_LINK_AUTH"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestCognitoAPIOptIn: a pool without a cognito block leaves the issuer
// site's "/" to the next handler, X-Amz-Target or not.
func TestCognitoAPIOptIn(t *testing.T) {
	s := startIDP(t, "")
	req, err := http.NewRequest(http.MethodPost, s.issuer+"/", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "issuer home" || resp.Header.Get("x-amzn-RequestId") != "" {
		t.Fatalf("POST / without the cognito block: %d %q", resp.StatusCode, body)
	}
}
