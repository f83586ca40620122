// Package testenv starts the real parts Gatehouse's end-to-end tests talk
// to: a Caddy server with the Gatehouse modules loaded, from a Caddyfile,
// and an upstream that records what it was sent.
package testenv

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// The standard handlers (reverse_proxy, respond, ...) the test
	// Caddyfiles use, as in the gatehouse binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// caddyMu serializes Caddy instances: Caddy's running config is global to
// the process, so tests that start one must not overlap. That is why the
// module's end-to-end tests stay serial (they do not call t.Parallel), and
// so do the ones that only validate a config: caddy.Validate provisions it,
// which sets certmagic.Default.Storage, a global. The protocol tests of
// oidc run in parallel because they serve the provider with httptest, not
// Caddy.
var caddyMu sync.Mutex

// FastHash is a pool option block that makes argon2id cheap, for tests that
// sign in many times. Production defaults are tested separately.
const FastHash = `password_hash {
				memory_kib 64
				iterations 1
				parallelism 1
			}`

// handedOut holds every port FreePort has returned in this process, so
// that a test asking for several before binding any gets distinct ones.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a loopback TCP port that was free a moment ago and that
// no earlier call in this process has returned. It picks from below the
// kernel's ephemeral range: a port the kernel hands out for bind(":0") or
// for an outgoing connection could otherwise be taken by an httptest
// upstream, or by a client socket, between this call and the moment Caddy
// binds it. (Two calls once got the same kernel-chosen port in CI.)
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := pickPort(portRange())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// pickPort returns a port in [low, high) that it could bind on loopback and
// has not returned before.
func pickPort(low, high int) (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 1000 {
		port := low + rand.IntN(high-low)
		if handedOut.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use, by another test process perhaps
		}
		l.Close()
		handedOut.ports[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in [%d, %d)", low, high)
}

// portRange is where FreePort picks from: the 12 000 ports below the
// ephemeral range (32768 to 60999 by default on Linux).
func portRange() (low, high int) {
	high = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 14000 {
				high = n
			}
		}
	}
	return high - 12000, high
}

// StartCaddy adapts caddyfile, turns the admin endpoint off and loads it
// into this process, each SQLite store it names that does not exist yet
// seeded with a migrated copy (seedSQLiteStores). It fails the test on any
// adapt warning or load error.
// The returned function stops Caddy (a restart test calls it, then starts
// again); the test's cleanup stops it too if it is still running.
func StartCaddy(t testing.TB, caddyfile string) (stop func()) {
	t.Helper()
	cfgJSON := Adapt(t, caddyfile)
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	seedSQLiteStores(t, cfg)
	cfg["admin"] = map[string]any{"disabled": true}
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	caddyMu.Lock()
	if err := caddy.Load(body, true); err != nil {
		caddyMu.Unlock()
		t.Fatalf("loading Caddy config: %v\n%s", err, body)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			defer caddyMu.Unlock()
			if err := caddy.Stop(); err != nil {
				t.Errorf("stopping Caddy: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// seedSQLiteStores gives each SQLite store the config names (a "driver":
// "sqlite" object's "path", without placeholders) that does not exist yet
// a migrated copy (sqlitetest.Seed), as the store would be once opened:
// under -race, migrating a fresh file costs more CPU than most tests that
// start Caddy. A file that is there already is left as it is.
func seedSQLiteStores(t testing.TB, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if v["driver"] == "sqlite" {
			if path, ok := v["path"].(string); ok && path != "" && !strings.Contains(path, "{") {
				sqlitetest.Seed(t, path)
			}
		}
		for _, e := range v {
			seedSQLiteStores(t, e)
		}
	case []any:
		for _, e := range v {
			seedSQLiteStores(t, e)
		}
	}
}

// Adapt turns a Caddyfile into JSON, failing the test on errors or on
// warnings other than about formatting.
func Adapt(t testing.TB, caddyfile string) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		// Layout is not what these tests are about; every other warning is.
		if !strings.Contains(w.Message, "not formatted") {
			t.Fatalf("Caddyfile warning: %s", w.String())
		}
	}
	return out
}

// Upstream is a real HTTP server standing in for the app Gatehouse guards.
// It records every request's headers and answers 200 "upstream".
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

// StartUpstream starts an Upstream on loopback, closed when the test ends.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Clone(r.Context()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "upstream")
	}))
	t.Cleanup(u.Close)
	return u
}

// Addr returns host:port, for reverse_proxy.
func (u *Upstream) Addr() string { return strings.TrimPrefix(u.URL, "http://") }

// Last returns the last request the upstream received, or nil.
func (u *Upstream) Last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return nil
	}
	return u.requests[len(u.requests)-1]
}

// Since returns the requests the upstream received after its first n.
func (u *Upstream) Since(n int) []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n > len(u.requests) {
		return nil
	}
	return append([]*http.Request(nil), u.requests[n:]...)
}

// Count returns how many requests the upstream has received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

// Browser returns an HTTP client with a cookie jar that does not follow
// redirects, so tests see each hop as a browser would make it (web.Browser).
func Browser(t testing.TB) *http.Client {
	t.Helper()
	return web.Browser(t)
}

// WaitHTTP polls url until it answers or the timeout passes.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within %s: %v", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
