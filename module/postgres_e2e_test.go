package module_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
)

// TestPostgresStore runs a gateway on `store postgres <dsn>`, with the DSN
// from an {env.*} placeholder as an operator would write it, and a second
// handle on the same schema standing in for the CLI or another gateway: the
// user it creates can sign in, the session survives a restart because the
// keys are in the store, and a revocation it makes reaches the gateway.
func TestPostgresStore(t *testing.T) {
	t.Setenv("GATEHOUSE_E2E_DATABASE_URL", testenv.PostgresDSN(t))
	s := startSiteWithStore(t, "store postgres {env.GATEHOUSE_E2E_DATABASE_URL}", "",
		map[string]string{"app": "pool default"})
	if _, ok := s.pool.Store.(*postgres.Store); !ok {
		t.Fatalf("pool store is %T, want *postgres.Store", s.pool.Store)
	}
	ada := createAda(t, s, "admins")
	base := s.url("app", "")
	c := testenv.Browser(t)

	signIn(t, c, base, "/reports", adaEmail, adaPassword)
	resp, body := get(t, c, base+"/reports", nil)
	if resp.StatusCode != http.StatusOK || body != "upstream" {
		t.Fatalf("signed in: status %d, body %q", resp.StatusCode, body)
	}
	if got := s.upstream.Last().Header.Get("X-Amzn-Oidc-Identity"); got != ada.ID {
		t.Errorf("X-Amzn-Oidc-Identity = %q, want %q", got, ada.ID)
	}

	// A fresh instance on the same database takes the session made by the
	// first: cookie keys are read from the store, not made per process.
	s.stop()
	s.start()
	if resp, _ := get(t, c, base+"/after-restart", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after restart: status %d, want 200", resp.StatusCode)
	}

	if err := s.pool.Pool.SetEnabled(context.Background(), ada.ID, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get(t, c, base+"/", nil)
		if resp.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled user still served after 5s (status %d)", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresStoreConfig covers the `store postgres` line from Caddyfile to
// validated config, without a database.
func TestPostgresStoreConfig(t *testing.T) {
	caddyfile := func(storeLine string) string {
		return "{\n\tgatehouse {\n\t\tpool default {\n\t\t\t" + storeLine + "\n\t\t}\n\t}\n}\n"
	}
	var cfg struct {
		Apps struct {
			Gatehouse module.App `json:"gatehouse"`
		} `json:"apps"`
	}
	raw := testenv.Adapt(t, caddyfile("store postgres {env.DATABASE_URL}"))
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	pc := cfg.Apps.Gatehouse.Pools["default"]
	if pc == nil || pc.Store != (module.StoreConfig{Driver: "postgres", DSN: "{env.DATABASE_URL}"}) {
		t.Fatalf("pool default = %+v, want store postgres {env.DATABASE_URL}", pc)
	}
	if err := pc.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := (&module.PoolConfig{Store: module.StoreConfig{Driver: "postgres"}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "store postgres") {
		t.Errorf("Validate without a DSN: %v, want an error naming store postgres", err)
	}

	for _, line := range []string{"store postgres", "store postgres a b", "store mysql x"} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile(line)), map[string]any{"filename": "Caddyfile"})
		if err == nil || !strings.Contains(err.Error(), "store") {
			t.Errorf("%q: err = %v, want a store error", line, err)
		}
	}

	// An empty variable is reported as such, before any connection.
	t.Setenv("GATEHOUSE_E2E_UNSET_DSN", "")
	_, err := module.OpenPool(context.Background(), "default",
		&module.PoolConfig{Store: module.StoreConfig{Driver: "postgres", DSN: "{env.GATEHOUSE_E2E_UNSET_DSN}"}})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("OpenPool with an empty DSN variable: %v", err)
	}
}
