package cognito_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// The in-process API of the protocol tests and the fuzz target: a real
// pool on SQLite, a real provider, the handler, no Caddy (so these run in
// parallel). Made once per test process: its keys take a moment.

var (
	apiOnce    sync.Once
	apiHandler *cognito.Handler
	apiPool    *pool.Pool
	apiConfig  cognito.Config
	apiErr     error
	apiDir     string
)

// noSessions: the API reads no browser session; the provider needs one.
type noSessions struct{}

func (noSessions) Current(*http.Request) (oidc.SessionInfo, bool) { return oidc.SessionInfo{}, false }
func (noSessions) End(http.ResponseWriter, *http.Request) error   { return nil }

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{apiDir, srpDir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

func inProcessAPI(t testing.TB) (*cognito.Handler, *pool.Pool) {
	t.Helper()
	apiOnce.Do(func() { apiHandler, apiPool, apiErr = buildAPI() })
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiHandler, apiPool
}

func buildAPI() (*cognito.Handler, *pool.Pool, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cognito-api-test")
	if err != nil {
		return nil, nil, err
	}
	apiDir = dir
	s, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, nil, err
	}
	pl, err := pool.New(ctx, s, pool.Config{
		Name: "default",
		Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		MFA:  pool.MFAConfig{Issuer: "Example Corp"},
	})
	if err != nil {
		return nil, nil, err
	}
	keys, err := signing.Open(ctx, s, signing.Policy{Algs: []string{signing.ES256, signing.RS256}})
	if err != nil {
		return nil, nil, err
	}
	marker := make([]byte, 64)
	_, _ = rand.Read(marker)
	provider, err := oidc.NewProvider(oidc.Config{
		Issuer: "https://auth.example.test", Pool: pl, Store: s, Keys: keys, Sessions: noSessions{}, MarkerKey: marker,
		Clients: []*oidc.Client{
			{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserPassword, oidc.AuthFlowRefreshToken}},
			{ID: "webapp", Secret: "webapp-secret-0123456789abcdef", RedirectURIs: []string{"https://app.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserPassword}},
			// A client of choice-based sign-in (USER_AUTH, admin too).
			{ID: "choice", Public: true, RedirectURIs: []string{"https://choice.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserAuth}},
			// A client allowed SRP in a pool without it.
			{ID: "srpwanted", Public: true, RedirectURIs: []string{"https://srp.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserSRP}},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	h, err := cognito.New(cognito.Config{PoolID: "eu-west-1_Test1", Pool: pl, Provider: provider, SealKey: marker})
	if err != nil {
		return nil, nil, err
	}
	apiConfig = h.Config()
	return h, pl, nil
}

// serve runs one request through the handler.
func serve(h http.Handler, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
