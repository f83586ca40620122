package module_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// echoUpstream is an app behind the guarded sites that reads each request
// to its end and records what it received: the request target exactly as
// it came on the wire, the headers, and the trailers of the body.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []echoed
}

type echoed struct {
	Target  string      `json:"target"`
	Header  http.Header `json:"header"`
	Trailer http.Header `json:"trailer"`
	Body    string      `json:"body"`
}

func startEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // fills r.Trailer
		e := echoed{Target: r.RequestURI, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: string(body)}
		u.mu.Lock()
		u.seen = append(u.seen, e)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func (u *echoUpstream) last() echoed {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[len(u.seen)-1]
}

// echoSites is one Caddy with the default pool and a site per entry of
// blocks (the site's directives; UP is the upstream's address), all
// proxying to one echoUpstream.
type echoSites struct {
	up    *echoUpstream
	ports map[string]int
	pool  *module.Pool
}

func startEchoSites(t *testing.T, blocks map[string]string) *echoSites {
	t.Helper()
	dir := t.TempDir()
	e := &echoSites{up: startEchoUpstream(t), ports: map[string]int{}}
	var b strings.Builder
	fmt.Fprintf(&b, `{
	default_bind 127.0.0.1
	servers {
		protocols h1 h2c
	}
	gatehouse {
		pool default {
			store sqlite %s
			issuer https://auth.example.test
			%s
		}
	}
}
`, filepath.Join(dir, "gatehouse.db"), testenv.FastHash)
	addr := strings.TrimPrefix(e.up.URL, "http://")
	for name, block := range blocks {
		e.ports[name] = testenv.FreePort(t)
		fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n%s\n}\n", e.ports[name], strings.ReplaceAll(block, "UP", addr))
	}
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, b.String())
	for name := range blocks {
		testenv.WaitHTTP(t, e.url(name, "/_gatehouse/static/gatehouse.css"), 0)
	}
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if e.pool, err = module.OpenPool(context.Background(), "default", cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.pool.Close() })
	return e
}

func (e *echoSites) url(name, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", e.ports[name], path)
}

// addUser creates a confirmed user in groups and signs them in on site,
// returning their cookies as one Cookie header value.
func (e *echoSites) addUser(t *testing.T, site, email string, groups ...string) (sub, cookie string) {
	t.Helper()
	ctx := context.Background()
	u, err := e.pool.Pool.CreateUser(ctx, pool.NewUser{Email: email, Password: adaPassword, EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := e.pool.Pool.AddToGroup(ctx, u.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	c := testenv.Browser(t)
	signIn(t, c, e.url(site, ""), "/", email, adaPassword)
	var parts []string
	for _, ck := range c.Jar.Cookies(mustParseURL(t, e.url(site, "/"))) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return u.ID, strings.Join(parts, "; ")
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// rawRequest writes req to the site byte for byte, as no Go client would
// (unescaped targets, dot segments, trailers), and reads the answer.
func rawRequest(t *testing.T, port int, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func rawGet(t *testing.T, port int, target string, header ...string) (*http.Response, string) {
	t.Helper()
	req := "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: text/html\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	return rawRequest(t, port, req+"\r\n")
}

// pathSites guard an app whose /admin/* area needs the admins group: one
// with public paths that otherwise needs a sign-in, one open to everyone.
var pathSites = map[string]string{
	"guarded": `gatehouse {
		allow anonymous /public/* *.css /healthz
	}
	handle /admin/* {
		gatehouse {
			require group admins
		}
		reverse_proxy UP
	}
	reverse_proxy UP`,
	"open": `gatehouse {
		on_unauthenticated allow
	}
	handle /admin/* {
		gatehouse {
			require group admins
		}
		reverse_proxy UP
	}
	reverse_proxy UP`,
}

// ambiguousTargets could each be read as a path the checks did not see,
// by Tomcat or Spring (;params), by a router that decodes %2F or decodes
// twice, by a Windows server (\, trailing dots and spaces), by an old
// decoder (overlong UTF-8), or by one that does not decode at all.
var ambiguousTargets = []string{
	// The report's forms.
	"/public/..;/private/x",
	"/public/%2e%2e;/private/x",
	"/private/secret;.css",
	"/private/secret;x=.css",
	"/private/..%2Fpublic/x",
	"/private/secret%3F.css",
	// More of each class.
	"/public/..;/admin/x",
	"/public/x;jsessionid=1",
	"/public/%3b/../private",
	"/public/../private/x",
	"/public/./x",
	"/public/.%2e/private/x",
	"/public/%2E%2E/private/x",
	"/public/%2e./private/x",
	"/public//../private/x",
	"//public/x",
	"/public//x",
	"/public%2F..%2Fprivate",
	"/public/x%2fy",
	"/public/..%5Cprivate",
	"/public\\..\\private",
	"/public/%252e%252e/private",
	"/public/%25",
	"/%70ublic/x",
	"/private/x%2Ecss",
	"/private/secret%00.css",
	"/public/x%00/../../private",
	"/private/secret%23.css",
	"/private/secret.css.",
	"/private./x",
	"/private%20/x",
	"/public/%C0%AE%C0%AE/private",
	"/public/%E0%80%AE%E0%80%AE/private",
	"/public/%C0%AF",
	"/public/%FF",
	"/public/%EF%BC%8E%EF%BC%8E/private", // fullwidth dots, NFKC ..
	"/private/secret%EF%BC%9B.css",       // fullwidth ;
	"/public/%u002e%u002e/private",       // not percent-encoding: Go refuses it
	"/public/%2",
	// Against the /admin/* block's rule.
	"/admin;x/",
	"/admin;x/secret",
	"/%61dmin/",
	"//admin/",
	"/admin/./x",
	"/x/../admin/",
	"/admin%2Fx",
	"/admin%5Cx",
	"/admin./x",
	"/admin%20/x",
}

// TestAmbiguousPathsNeverReachTheUpstream sends every ambiguous form to a
// real Caddy, anonymous and signed in as a user outside the admins group:
// each is answered 400 (by Gatehouse, or by Go's parser for a % that is not
// an escape) and the upstream never sees it. Legitimate public paths still
// reach it with the target as sent, and the /admin/* block still holds for
// the case and encoding variants Caddy's matcher folds.
func TestAmbiguousPathsNeverReachTheUpstream(t *testing.T) {
	e := startEchoSites(t, pathSites)
	_, member := e.addUser(t, "guarded", "member@example.com", "staff")
	_, admin := e.addUser(t, "guarded", "admin@example.com", "admins")

	for _, site := range []string{"guarded", "open"} {
		for _, who := range []struct{ name, cookie string }{{"anonymous", ""}, {"member", member}, {"admin", admin}} {
			for _, target := range ambiguousTargets {
				before := e.up.count()
				var extra []string
				if who.cookie != "" {
					extra = append(extra, "Cookie: "+who.cookie)
				}
				resp, body := rawGet(t, e.ports[site], target, extra...)
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s, %s, %s: status %d, want 400", site, who.name, target, resp.StatusCode)
				}
				if n := e.up.count() - before; n != 0 {
					t.Errorf("%s, %s, %s: reached the upstream as %q", site, who.name, target, e.up.last().Target)
				}
				goRefuses := strings.Contains(target, "%u") || strings.HasSuffix(target, "%2")
				if !goRefuses && !strings.Contains(body, "could read as a different page") {
					t.Errorf("%s: the 400 does not say why: %.300s", target, body)
				}
			}
		}
	}

	// An API client gets the refusal as JSON.
	resp, body := rawRequest(t, e.ports["guarded"], "GET /public/..;/private/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: application/json\r\n\r\n")
	var refusal struct{ Error, Message string }
	if err := json.Unmarshal([]byte(body), &refusal); err != nil || resp.StatusCode != http.StatusBadRequest ||
		refusal.Error != "bad_request" || !strings.Contains(refusal.Message, "semicolon") {
		t.Errorf("JSON refusal: %d %q (%v)", resp.StatusCode, body, err)
	}

	// What passes, and what each identity gets where.
	for _, tc := range []struct {
		site, target, cookie string
		status               int // 200: reached the upstream with target as sent
	}{
		{"guarded", "/public/a.css", "", 200},
		{"guarded", "/public/x%20y", "", 200},
		{"guarded", "/public/caf%C3%A9/%7Eu?q=..;/x&r=%2F", "", 200},
		{"guarded", "/static/site.css", "", 200},
		{"guarded", "/healthz", "", 200},
		{"guarded", "/private/x", "", http.StatusFound},
		{"guarded", "/PUBLIC/a.js", "", http.StatusFound}, // public paths are case-sensitive
		{"guarded", "/private/x", member, 200},
		{"guarded", "/admin/x", member, http.StatusForbidden},
		{"guarded", "/ADMIN/x", member, http.StatusForbidden}, // Caddy's matcher folds case
		{"guarded", "/Admin/x.css", "", http.StatusFound},
		{"guarded", "/admin/x", admin, 200},
		{"open", "/anything", "", 200},
		{"open", "/admin/x", "", http.StatusFound},
		{"open", "/aDmIn/x", member, http.StatusForbidden},
		{"open", "/admin/x", admin, 200},
	} {
		before := e.up.count()
		var extra []string
		if tc.cookie != "" {
			extra = append(extra, "Cookie: "+tc.cookie)
		}
		resp, body := rawGet(t, e.ports[tc.site], tc.target, extra...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d: %.200s", tc.site, tc.target, resp.StatusCode, tc.status, body)
			continue
		}
		reached := e.up.count() - before
		switch {
		case tc.status == 200 && (reached != 1 || e.up.last().Target != tc.target):
			t.Errorf("%s %s: upstream got %d requests, last %q", tc.site, tc.target, reached, e.up.last().Target)
		case tc.status != 200 && reached != 0:
			t.Errorf("%s %s: refused with %d but reached the upstream", tc.site, tc.target, tc.status)
		}
	}
}

// headerSites send the default identity headers, none, or the operator's
// own; each has a public path for anonymous requests.
var headerSites = map[string]string{
	"default": `gatehouse {
		allow anonymous /public/*
	}
	reverse_proxy UP`,
	"off": `gatehouse {
		header off
		allow anonymous /public/*
	}
	reverse_proxy UP`,
	"custom": `gatehouse {
		header X-App-User {sub}
		header X-App-Mail "mail {email}"
		allow anonymous /public/*
	}
	reverse_proxy UP`,
}

// forgedIdentity are identity headers a client sends, each with a value
// containing "forged": the family apps behind auth proxies trust, in
// several spellings, and the custom site's own names.
var forgedIdentity = []string{
	"X-Auth-Request-User: forged",
	"X-Auth-Request-Email: forged@example.com",
	"X-Auth-Request-Groups: forged-admins",
	"X-Auth-Request-Preferred-Username: forged",
	"x-auth-request-access-token: forged",
	"X-Forwarded-User: forged",
	"X-Forwarded-Email: forged@example.com",
	"X-Forwarded-Groups: forged-admins",
	"X-Forwarded-Preferred-Username: forged",
	"X_Forwarded_User: forged",
	"Remote-User: forged",
	"Remote-Email: forged@example.com",
	"Remote-Groups: forged-admins",
	"Remote-Name: forged",
	"X-Remote-User: forged",
	"X-Remote-Group: forged-admins",
	"X-Amzn-Oidc-Identity: forged",
	"X-Amzn-Oidc-Data: forged.jwt.x",
	"X-Amzn-Oidc-Accesstoken: forged.jwt.x",
	"X-Amzn-Oidc-Anything: forged",
	"X-Gatehouse-Role: forged-admin",
	"X-Webauth-User: forged",
	"X-Authentik-Username: forged",
	"X-Ms-Client-Principal-Name: forged",
	"Cf-Access-Authenticated-User-Email: forged@example.com",
	"X-Auth-Username: forged",
	"X-Consumer-Username: forged",
	"X-Vouch-User: forged",
	"OIDC_CLAIM_email: forged@example.com",
	"X-App-User: forged",
	"x-app-mail: forged@example.com",
	"Forwarded: for=192.0.2.1;proto=https;user=forged",
}

// TestClientIdentityHeadersNeverReachTheUpstream: whatever identity
// headers a guarded site sends itself, none that a client sent reaches
// the upstream, anonymous or signed in, as headers or as trailers of a
// chunked body; unrelated headers and trailers pass.
func TestClientIdentityHeadersNeverReachTheUpstream(t *testing.T) {
	e := startEchoSites(t, headerSites)
	sub, cookie := e.addUser(t, "default", "ada@example.com", "staff")

	for _, site := range []string{"default", "off", "custom"} {
		for _, signedIn := range []bool{false, true} {
			target, extra := "/public/x", []string{"X-Keep: yes", "Forwarded: for=192.0.2.9;proto=https"}
			if signedIn {
				target = "/private/x"
				extra = append(extra, "Cookie: "+cookie)
			}
			name := fmt.Sprintf("%s, signed in %v", site, signedIn)
			// X-App-* are identity headers only where the site sends them;
			// elsewhere they are the client's own and pass.
			forged := slices.Clone(forgedIdentity)
			if site != "custom" {
				for i, h := range forged {
					if strings.HasPrefix(strings.ToLower(h), "x-app-") {
						forged[i] = strings.Replace(h, "forged", "client's own", 1)
					}
				}
			}

			// As headers. (A Forwarded naming a user takes the whole header
			// with it, so the unnamed one is sent in a request of its own.)
			check := func(what string, resp *http.Response, body string, forwarded string) {
				t.Helper()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s, %s: status %d: %s", name, what, resp.StatusCode, body)
				}
				got := e.up.last()
				for k, vv := range got.Header {
					for _, v := range vv {
						if strings.Contains(v, "forged") {
							t.Errorf("%s, %s: %s: %q reached the upstream", name, what, k, v)
						}
					}
				}
				for k, vv := range got.Trailer {
					for _, v := range vv {
						if strings.Contains(v, "forged") {
							t.Errorf("%s, %s: trailer %s: %q reached the upstream", name, what, k, v)
						}
					}
				}
				if got.Header.Get("X-Keep") != "yes" {
					t.Errorf("%s, %s: an unrelated header was lost: %v", name, what, got.Header)
				}
				if got.Header.Get("Forwarded") != forwarded {
					t.Errorf("%s, %s: Forwarded %q, want %q", name, what, got.Header.Get("Forwarded"), forwarded)
				}
				var own map[string]string
				switch {
				case !signedIn:
				case site == "default":
					own = map[string]string{"X-Auth-Request-User": sub, "X-Auth-Request-Email": "ada@example.com", "X-Amzn-Oidc-Identity": sub}
				case site == "off":
					own = map[string]string{"X-Auth-Request-User": "", "X-Amzn-Oidc-Identity": sub}
				case site == "custom":
					own = map[string]string{"X-App-User": sub, "X-App-Mail": "mail ada@example.com", "X-Auth-Request-User": ""}
				}
				for k, want := range own {
					if got := strings.Join(got.Header.Values(k), ","); got != want {
						t.Errorf("%s, %s: %s = %q, want %q", name, what, k, got, want)
					}
				}
				if !signedIn && got.Header.Get("X-Amzn-Oidc-Identity") != "" {
					t.Errorf("%s: anonymous request got an identity", name)
				}
			}
			resp, body := rawGet(t, e.ports[site], target, extra...)
			check("no forgeries", resp, body, "for=192.0.2.9;proto=https")
			resp, body = rawGet(t, e.ports[site], target, append(append([]string{"X-Keep: yes"}, forged...), extra[2:]...)...)
			check("forged headers", resp, body, "")

			// As trailers of a chunked body: some declared, some not, in
			// another letter case, next to a trailer that must pass.
			var trailers strings.Builder
			for _, h := range forged {
				trailers.WriteString(h + "\r\n")
			}
			req := "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAccept: text/html\r\n" +
				"X-Keep: yes\r\nTransfer-Encoding: chunked\r\n" +
				"Trailer: X-Checksum, X-Auth-Request-User, x-forwarded-user, Remote-User, X-App-User, X-Amzn-Oidc-Identity\r\n"
			for _, h := range extra[2:] {
				req += h + "\r\n"
			}
			req += "\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n" + trailers.String() + "\r\n"
			resp, body = rawRequest(t, e.ports[site], req)
			check("forged trailers", resp, body, "")
			got := e.up.last()
			if site != "custom" && got.Trailer.Get("X-App-User") != "client's own" {
				t.Errorf("%s: a trailer this site does not send was stripped: %v", name, got.Trailer)
			}
			if got.Body != "hello" || got.Trailer.Get("X-Checksum") != "abc" {
				t.Errorf("%s: body %q, trailers %v: the legitimate trailer did not arrive", name, got.Body, got.Trailer)
			}
			// Not even declared (a key without a value): the upstream's
			// Trailer header names none of them.
			for _, h := range forged {
				k := http.CanonicalHeaderKey(strings.ReplaceAll(h[:strings.IndexByte(h, ':')], "_", "-"))
				if _, ok := got.Trailer[k]; ok && strings.Contains(h, "forged") {
					t.Errorf("%s: the upstream was told of a trailer %s: %q", name, k, got.Trailer[k])
				}
			}
		}
	}
}

// TestClientIdentityTrailersOverHTTP2: over HTTP/2 (h2c here), where a
// request's trailers are those its headers declared, identity names
// declared and sent as trailers never reach the upstream either.
func TestClientIdentityTrailersOverHTTP2(t *testing.T) {
	e := startEchoSites(t, map[string]string{"default": headerSites["default"]})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &protocols}, Timeout: 15 * time.Second}
	for _, tc := range []struct{ name, declared, sent string }{
		{"canonical", "X-Auth-Request-User", "X-Auth-Request-User"},
		{"family", "Remote-User", "Remote-User"},
		{"oauth2-proxy", "X-Forwarded-Email", "X-Forwarded-Email"},
	} {
		pr, pw := io.Pipe()
		req, err := http.NewRequest(http.MethodPost, e.url("default", "/public/upload"), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Trailer = http.Header{tc.declared: nil, "X-Checksum": nil}
		go func() {
			io.WriteString(pw, "hello")
			req.Trailer.Set(tc.sent, "forged")
			req.Trailer.Set("X-Checksum", "abc")
			pw.Close()
		}()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("%s: status %d over %s", tc.name, resp.StatusCode, resp.Proto)
		}
		got := e.up.last()
		if got.Body != "hello" || got.Trailer.Get("X-Checksum") != "abc" {
			t.Errorf("%s: body %q, trailers %v: the legitimate trailer did not arrive", tc.name, got.Body, got.Trailer)
		}
		if v, ok := got.Trailer[http.CanonicalHeaderKey(tc.sent)]; ok {
			t.Errorf("%s: trailer %s = %q reached the upstream", tc.name, tc.sent, v)
		}
	}
}
