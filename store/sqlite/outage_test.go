package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TestLockedFileUnavailableWithinTimeout: while another connection (another
// process, in production) holds the file's write lock, a write fails with
// store.ErrUnavailable once the store's timeout passes, not after SQLite's
// longer busy timeout, and works again once the lock is released.
func TestLockedFileUnavailableWithinTimeout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pool.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetTimeout(300 * time.Millisecond)

	other, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}

	u := &store.User{ID: "u1", Email: "a@x.io", Status: store.StatusConfirmed, Enabled: true}
	start := time.Now()
	err = s.CreateUser(ctx, u)
	took := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateUser on a locked file: %v, want store.ErrUnavailable", err)
	}
	if took > 2*time.Second {
		t.Errorf("CreateUser on a locked file took %v, want about the 300ms timeout", took)
	}
	t.Logf("locked: %v after %v", err, took)

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser once the lock is released: %v", err)
	}
}
