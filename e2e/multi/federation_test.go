package multi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// startProvider runs oidc-provider (module/testdata/oidc-provider/
// federation.mjs) on port for the redirect URIs, or skips the test (fails
// it under CI=true) without node or the npm package.
func startProvider(t *testing.T, port int, redirectURIs ...string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "node_modules", "oidc-provider", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the federation test needs node and node_modules/oidc-provider: %v", err)
		}
		t.Skipf("the federation test needs node and node_modules/oidc-provider: %v", err)
	}
	cmd := exec.Command(node, filepath.Join(root, "module", "testdata", "oidc-provider", "federation.mjs"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("OP_PORT=%d", port), "OP_CLIENT_ID=gatehouse-fed",
		"OP_CLIENT_SECRET=federation client secret 0123456789", "OP_REDIRECT_URIS="+strings.Join(redirectURIs, ","))
	return testenv.StartListening(t, "the provider", cmd)
}

// fedInstance is an instance whose pool has the provider at issuer as
// `idp corp oidc`.
func fedInstance(t *testing.T, dir, name, dsn, upstream, issuer string, port int) *instance {
	t.Helper()
	in := &instance{t: t, name: name, port: port, log: &syncBuffer{}}
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	in.file = filepath.Join(home, "Caddyfile")
	caddyfile := fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store postgres {env.GATEHOUSE_DATABASE_URL}
			%s
			idp corp oidc {
				issuer %s
				client_id gatehouse-fed
				client_secret "federation client secret 0123456789"
			}
		}
	}
}

http://127.0.0.1:%d {
	gatehouse {
		pool default
	}
	reverse_proxy %s {
		header_up %s %s
	}
}
`, testenv.FastHash, issuer, in.port, upstream, instanceHdr, name)
	if err := os.WriteFile(in.file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	in.env = append(os.Environ(), "GATEHOUSE_DATABASE_URL="+dsn, "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	return in
}

var opLogin = regexp.MustCompile(`<form method="post" action="(/interaction/[^"]+/login)"`)

// atProvider signs in as grace at the provider from authURL and returns the
// URL the provider sends the browser back to.
func atProvider(t *testing.T, c *http.Client, issuer, authURL string) string {
	t.Helper()
	next, form := authURL, url.Values(nil)
	for hop := 0; hop < 10; hop++ {
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = c.PostForm(next, form)
		} else {
			resp, err = c.Get(next)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		form = nil
		switch m := opLogin.FindStringSubmatch(string(body)); {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(loc.String(), issuer+"/") {
				return loc.String()
			}
			next = loc.String()
		case m != nil:
			next, form = issuer+m[1], url.Values{"login": {"grace@navy.example"}, "password": {"correct horse"}}
		default:
			t.Fatalf("at the provider: %d:\n%s", resp.StatusCode, body)
		}
	}
	t.Fatal("no way back from the provider")
	return ""
}

// TestTwoInstancesFederation: a sign-in at an outside provider started on
// one instance finishes on the other (as behind a load balancer), and its
// answer, with a copy of the flow cookie, is refused on the first: the flow
// is spent in the shared store.
func TestTwoInstancesFederation(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	gatehouse(t)
	dir := t.TempDir()
	up := testenv.StartUpstream(t)
	pa, pb := testenv.FreePort(t), testenv.FreePort(t)
	cb := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/_gatehouse/oauth2/idpresponse", port) }
	issuer := startProvider(t, testenv.FreePort(t), cb(pa), cb(pb))
	a := fedInstance(t, dir, "a", dsn, up.Addr(), issuer, pa)
	b := fedInstance(t, dir, "b", dsn, up.Addr(), issuer, pb)
	a.start()
	b.start()

	c := testenv.Browser(t)
	resp, err := c.Get(a.url("/_gatehouse/federate/corp?rd=/report"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start on a: %d", resp.StatusCode)
	}
	flowCookies := c.Jar.Cookies(mustURL(t, a.url("/_gatehouse/")))
	back := atProvider(t, c, issuer, resp.Header.Get("Location"))
	if !strings.HasPrefix(back, cb(pa)+"?") {
		t.Fatalf("the provider sent the browser to %q, want a's callback", back)
	}
	onB := strings.Replace(back, fmt.Sprintf(":%d/", pa), fmt.Sprintf(":%d/", pb), 1)
	resp, err = c.Get(onB)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/report" {
		t.Fatalf("a's flow finished on b: %d to %q, want 303 to /report\nb's log:\n%s", resp.StatusCode, resp.Header.Get("Location"), b.log.String())
	}
	resp, err = c.Get(b.url("/report"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in on b: /report gave %d", resp.StatusCode)
	}

	thief := testenv.Browser(t)
	thief.Jar.SetCookies(mustURL(t, a.url("/_gatehouse/")), flowCookies)
	resp, err = thief.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "finished already") {
		t.Fatalf("the same answer replayed on a: %d, want 400 (spent on b):\n%s", resp.StatusCode, body)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
