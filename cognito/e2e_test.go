package cognito_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	_ "github.com/gatehouse-auth/gatehouse/module" // the Caddy modules
)

const (
	poolID       = "us-east-1_GateHouse1"
	publicApp    = "spa"
	secretApp    = "webapp"
	webappSecret = "webapp-secret-0123456789abcdef"
)

// site is a real Caddy serving a pool's issuer site with the Cognito API
// on, and the real SMTP server the pool mails through.
type site struct {
	base string
	smtp *testenv.SMTPServer
	// db is the pool's SQLite file.
	db string
}

// startSite starts Caddy (serially: its config is process-global) with
// extra pool options.
func startSite(t *testing.T, extra string) *site {
	t.Helper()
	return startSiteWith(t, extra, "")
}

// startSiteWith is startSite with options for the cognito block too.
func startSiteWith(t *testing.T, extra, cognitoExtra string) *site {
	t.Helper()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	dir := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer %s
			%s
			signup open
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			cognito {
				pool_id %s
				region us-east-1
				%s
			}
			client %s {
				public
				redirect_uri https://spa.example.test/cb
				auth_flows ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH ALLOW_USER_SRP_AUTH
			}
			client %s {
				secret %s
				redirect_uri https://app.example.test/cb
				auth_flows ALLOW_USER_PASSWORD_AUTH ALLOW_REFRESH_TOKEN_AUTH
			}
			client hostedonly {
				public
				redirect_uri https://other.example.test/cb
			}
			%s
		}
	}
}

%s {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}
`, filepath.Join(dir, "gatehouse.db"), base, testenv.FastHash, smtp.URL(), poolID, cognitoExtra, publicApp, secretApp, webappSecret, extra, base)
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, base+"/.well-known/openid-configuration", 5*time.Second)
	return &site{base: base, smtp: smtp, db: filepath.Join(dir, "gatehouse.db")}
}

// call posts one API call as the SDKs do and returns status, headers and
// the decoded body.
func (s *site) call(t *testing.T, action string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return s.raw(t, "AWSCognitoIdentityProviderService."+action, "application/x-amz-json-1.1", b)
}

func (s *site) raw(t *testing.T, target, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: answer is not JSON (%d %s): %q", target, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	return resp.StatusCode, resp.Header, out
}

// codeBridge lets the node script read what only Go reaches: the codes
// mailed to the real SMTP server, and an authenticator app's codes.
//
//	GET /mail?to=<address>&n=<count>  the code of the n-th mail to address
//	GET /totp?secret=<base32>&steps=<k> the code k steps from now
func codeBridge(t *testing.T, s *site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mail", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		m := s.smtp.WaitFor(t, r.URL.Query().Get("to"), n, 5*time.Second)
		_, _ = io.WriteString(w, m.Code(t))
	})
	mux.HandleFunc("/mailcount", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strconv.Itoa(s.smtp.CountTo(r.URL.Query().Get("to"))))
	})
	mux.HandleFunc("/totp", func(w http.ResponseWriter, r *http.Request) {
		k, _ := strconv.Atoi(r.URL.Query().Get("steps"))
		code, err := testenv.TOTPCode(r.URL.Query().Get("secret"), time.Now().Add(time.Duration(k)*30*time.Second))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, code)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// needNode returns node and the repository root, or skips (fails under
// CI=true) when node or the npm packages are missing.
func needNode(t *testing.T, packages ...string) (string, string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	var missing []string
	if err != nil {
		missing = append(missing, "node")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(root, "node_modules", p, "package.json")); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, "node_modules/"+p)
		}
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	return node, root
}

// TestAWSSDK runs the AWS SDK for JavaScript v3's Cognito client, its
// endpoint pointed at a real Caddy, through an app's whole life
// (testdata/sdk.mjs says each step): sign-up, confirmation with the mailed
// code, password sign-in, tokens verified with aws-jwt-verify, GetUser,
// TOTP set-up and a sign-in with it, refresh, global sign-out, password
// reset, and the errors as the SDK surfaces them.
func TestAWSSDK(t *testing.T) {
	node, root := needNode(t, "@aws-sdk/client-cognito-identity-provider", "aws-jwt-verify")
	s := startSite(t, "throttle off\n\t\t\tmfa optional")
	bridge := codeBridge(t, s)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "sdk.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"ENDPOINT="+s.base, "BRIDGE="+bridge, "POOL_ID="+poolID,
		"PUBLIC_CLIENT="+publicApp, "SECRET_CLIENT="+secretApp, "CLIENT_SECRET="+webappSecret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sdk.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("sdk.mjs did not finish:\n%s\n%s", stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}

// TestIdentityJS runs amazon-cognito-identity-js (testdata/identityjs.mjs)
// with USER_PASSWORD_AUTH: sign-up, confirmation, sign-in, attributes,
// TOTP set-up and sign-in, refresh, global sign-out, password reset.
func TestIdentityJS(t *testing.T) {
	node, root := needNode(t, "amazon-cognito-identity-js")
	s := startSite(t, "throttle off\n\t\t\tmfa optional")
	bridge := codeBridge(t, s)
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "identityjs.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+bridge, "POOL_ID="+poolID, "PUBLIC_CLIENT="+publicApp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("identityjs.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
}
