package pool

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/store"
)

// lockFile holds path's write lock from a connection of its own, as another
// process would, until the returned func releases it.
func lockFile(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditKeptWhileStoreUnavailable: events the store cannot take (its
// file locked past the timeout) are kept, not lost; later ones queue behind
// them without waiting on the store; the upkeep writes them all, in order,
// once the store answers.
func TestAuditKeptWhileStoreUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openSQLite(t, path)
	s.SetTimeout(200 * time.Millisecond)
	core, logs := observer.New(zap.InfoLevel)
	p := newPoolOn(t, s, Config{AuditLog: zap.New(core)})
	ctx := context.Background()
	u := &store.User{ID: "u1", Email: "ada@example.com", Status: store.StatusConfirmed, Enabled: true}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	release := lockFile(t, path)
	p.SignedIn(ctx, u, []string{"pwd"})
	start := time.Now()
	p.auditUser(ctx, AuditPasswordChanged, u.ID)
	p.auditUser(ctx, AuditSignedOutEverywhere, u.ID)
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("events behind a kept one took %v: they waited on the store", took)
	}
	if n := p.PendingAudit(); n != 3 {
		t.Fatalf("pending = %d, want 3", n)
	}
	if got := brief(trail(t, p)); len(got) != 0 {
		t.Fatalf("stored while locked: %v", got)
	}
	up := &Upkeep{Pool: p, Interval: time.Second, Log: zap.NewNop()}
	up.Once(ctx) // still locked: kept
	if n := p.PendingAudit(); n != 3 {
		t.Fatalf("pending after a flush on a locked store = %d, want 3", n)
	}

	release()
	up.Once(ctx)
	if n := p.PendingAudit(); n != 0 {
		t.Errorf("pending after the store answers = %d, want 0", n)
	}
	want := []string{AuditSignIn, AuditPasswordChanged, AuditSignedOutEverywhere}
	es := trail(t, p)
	if got := brief(es); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stored = %v, want %v", got, want)
	}
	for _, e := range es {
		if e.Login != u.Email || e.UserID != u.ID {
			t.Errorf("stored %s: login %q user %q, want %q %q", e.Type, e.Login, e.UserID, u.Email, u.ID)
		}
	}
	if logs.FilterMessage("audit events kept while the store was unavailable are stored").Len() != 1 {
		t.Errorf("no log line of the events written late")
	}
}

// TestAuditQueueBounded: past the bound the oldest events go, and how many
// is logged, never silently.
func TestAuditQueueBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openSQLite(t, path)
	s.SetTimeout(200 * time.Millisecond)
	core, logs := observer.New(zap.InfoLevel)
	p := newPoolOn(t, s, Config{AuditLog: zap.New(core)})
	p.pending.max = 3
	ctx := context.Background()

	release := lockFile(t, path)
	for _, typ := range []string{AuditUserDisabled, AuditUserEnabled, AuditMFAReset, AuditUserDeleted, AuditPasswordReset} {
		p.audit(ctx, store.AuditEvent{Type: typ, UserID: "u1", Login: "ada@example.com"})
	}
	if n := p.PendingAudit(); n != 3 {
		t.Fatalf("pending = %d, want the bound, 3", n)
	}
	release()
	if err := p.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{AuditMFAReset, AuditUserDeleted, AuditPasswordReset}
	if got := brief(trail(t, p)); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("stored = %v, want the newest three %v", got, want)
	}
	dropped := logs.FilterFieldKey("dropped").All()
	if len(dropped) != 1 || dropped[0].ContextMap()["dropped"] != int64(2) {
		t.Errorf("dropped log lines = %v, want one with dropped=2", dropped)
	}
	// Every event, dropped or not, was logged when it happened.
	for _, typ := range []string{AuditUserDisabled, AuditUserEnabled} {
		if logs.FilterMessage(typ).Len() != 1 {
			t.Errorf("dropped event %s was not logged when it happened", typ)
		}
	}
}
