// Package bench measures Gatehouse's hot paths: the gateway's per-request
// work and the cost of a sign-in. See README.md for the figures.
package bench

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/middleware/albdata"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// fastHash keeps pool setup cheap where hashing is not what is measured.
var fastHash = pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

const password = "correct horse battery staple"

// env is a pool on a fresh SQLite store with one user in a few groups.
type env struct {
	store *sqlite.Store
	pool  *pool.Pool
	user  *store.User
}

func newEnv(b *testing.B, hash pool.HashParams) *env {
	b.Helper()
	ctx := b.Context()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, err := pool.New(ctx, st, pool.Config{Name: "bench", Hash: hash})
	if err != nil {
		b.Fatal(err)
	}
	u, err := p.CreateUser(ctx, pool.NewUser{Email: "ada@example.com", Password: password, Name: "Ada Lovelace", EmailVerified: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, g := range []string{"admins", "dev", "finance-readers"} {
		if err := p.AddToGroup(ctx, u.ID, g); err != nil {
			b.Fatal(err)
		}
	}
	if u, err = p.User(ctx, u.ID); err != nil {
		b.Fatal(err)
	}
	return &env{store: st, pool: p, user: u}
}

// newGateway returns a gateway on e's pool in mode, with the default plain
// headers, as the Caddy handler builds it.
// opts change the configuration before the gateway is made.
func (e *env) newGateway(b *testing.B, mode middleware.Mode, cacheSize int, opts ...func(*middleware.Config)) (*middleware.Gateway, *middleware.Codec) {
	b.Helper()
	keys, err := signing.Open(b.Context(), e.store, signing.Policy{})
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, middleware.CookieKeyLen)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	cookieKeys, err := middleware.NewCookieKeys([]middleware.CookieKey{{Material: key}})
	if err != nil {
		b.Fatal(err)
	}
	codec, err := middleware.NewCodec("gatehouse_session", cookieKeys, 7*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cfg := middleware.Config{
		Revocations: e.pool.DenyList(),
		Revoker:     e.pool,
		Source:      middleware.PoolSource{Pool: e.pool, SignInPath: "/_gatehouse/signin"},
		Codec:       codec,
		Data: &albdata.Signer{
			Keys:     keys,
			ARN:      albdata.DefaultARN("bench"),
			Issuer:   "https://auth.example.com",
			ClientID: "bench",
		},
		Mode:           mode,
		SessionTimeout: 7 * 24 * time.Hour,
		ClaimsRefresh:  time.Hour,
		Secure:         func(*http.Request) bool { return true },
		Unauthorized:   func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		SafeReturnTo:   func(s string) (string, bool) { return s, true },
		CacheSize:      cacheSize,
	}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := middleware.NewGateway(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g, codec
}

// startSession signs e's user in on g and returns the session cookie value.
func (e *env) startSession(b *testing.B, g *middleware.Gateway) string {
	b.Helper()
	rec := httptest.NewRecorder()
	if err := g.Start(rec, httptest.NewRequest(http.MethodPost, "https://app.example.com/_gatehouse/signin", nil), e.user, []string{"pwd"}); err != nil {
		b.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "gatehouse_session" {
		b.Fatalf("Start set %d cookies; the benchmarks assume one", len(cookies))
	}
	return cookies[0].Value
}

// browserRequest is a navigation as a browser sends it, with a few other
// cookies around the session one (empty session: no session cookie).
func browserRequest(session string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/reports/2024?page=2", nil)
	h := r.Header
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	h.Set("Accept-Encoding", "gzip, deflate, br")
	h.Set("Accept-Language", "en-GB,en;q=0.9")
	h.Set("Referer", "https://app.example.com/reports")
	h.Set("Sec-Fetch-Dest", "document")
	h.Set("Sec-Fetch-Mode", "navigate")
	h.Set("Sec-Fetch-Site", "same-origin")
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	h.Set("X-Forwarded-For", "203.0.113.7")
	h.Set("X-Forwarded-Proto", "https")
	cookie := "_ga=GA1.2.1234567890.1700000000; theme=dark"
	if session != "" {
		cookie += "; gatehouse_session=" + session
	}
	h.Set("Cookie", cookie+"; lang=en")
	return r
}

// discard is a ResponseWriter that keeps nothing, so the benchmarks do not
// measure a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func newDiscard() *discard { return &discard{h: http.Header{}} }
