package module_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TestAuditRetention: the pool's upkeep forgets audit events older than
// audit_retention (a year by default) and keeps the rest; `forever` keeps
// everything.
func TestAuditRetention(t *testing.T) {
	t.Parallel() // no Caddy, so it may overlap the other tests that start none
	now := time.Now()
	ages := []time.Duration{400 * 24 * time.Hour, 40 * 24 * time.Hour, 20 * 24 * time.Hour, 0}
	for _, tc := range []struct {
		name, option string
		kept         int // how many of ages survive, youngest first
	}{
		{"default: a year", "", 3},
		{"30d", "audit_retention 30d", 2},
		{"forever", "audit_retention forever", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "Caddyfile")
			caddyfile := "{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite " + filepath.Join(dir, "gh.db") + "\n\t\t\t" + tc.option + "\n\t\t}\n\t}\n}\n"
			if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
				t.Fatal(err)
			}
			p := openPoolFile(t, file)
			for _, age := range ages {
				if err := p.Store.AppendAudit(t.Context(), store.AuditEvent{At: now.Add(-age), Type: "sign_in", Login: "ada@example.com"}); err != nil {
					t.Fatal(err)
				}
			}
			p.MaintainOnce(t.Context())
			got, err := p.Store.AuditEvents(t.Context(), store.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.kept {
				t.Fatalf("%d events kept, want %d", len(got), tc.kept)
			}
			for i, e := range got {
				if want := now.Add(-ages[len(ages)-1-i]); e.At.Sub(want).Abs() > time.Second {
					t.Errorf("event %d at %v, want the one at %v", i, e.At, want)
				}
			}
		})
	}

	t.Run("bad values", func(t *testing.T) {
		pool := func(opt string) string {
			return "{\n\tgatehouse {\n\t\tpool default {\n\t\t\tstore sqlite " + filepath.Join(t.TempDir(), "gh.db") + "\n\t\t\t" + opt + "\n\t\t}\n\t}\n}\n"
		}
		if _, _, err := caddyconfigAdapt(pool("audit_retention soon")); err == nil || !strings.Contains(err.Error(), "audit_retention") {
			t.Errorf("not a duration: adapt error %v", err)
		}
		if _, _, err := caddyconfigAdapt(pool("audit_retention 0s")); err == nil || !strings.Contains(err.Error(), "audit_retention") {
			t.Errorf("zero: adapt error %v", err)
		}
		if _, _, err := caddyconfigAdapt(pool("audit_retention 5m")); err == nil || !strings.Contains(err.Error(), "at least an hour") {
			t.Errorf("5m: adapt error %v, want one asking for at least an hour", err)
		}
	})
}
