// Package sqlitetest gives tests a fresh SQLite store without migrating
// each one: the first call in a test process migrates a template database
// (with sqlite.Open, so with every migration the package has), and every
// call seeds its file with a copy of it. Under -race the migrations cost
// more than most tests that use the store; what a fresh store holds is the
// same either way, and sqlite.Open on a copy finds nothing left to apply.
//
// Tests about opening and migrating themselves (package sqlite's) open
// fresh files with sqlite.Open directly.
package sqlitetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

var template struct {
	once sync.Once
	db   []byte // the migrated database file, checkpointed
	err  error
}

// migrated returns the bytes of a freshly migrated database file, made once.
func migrated() ([]byte, error) {
	template.once.Do(func() {
		template.db, template.err = makeTemplate()
	})
	return template.db, template.err
}

func makeTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-sqlite-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	// Closing the last connection checkpoints the WAL into the file and
	// removes it, so the one file is the whole database.
	if err := s.Close(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("sqlitetest: the template's WAL was not checkpointed (%d bytes)", fi.Size())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return os.ReadFile(path)
}

// Seed writes a freshly migrated database at path, unless a file is there
// already (a second view of one database keeps the first's data).
func Seed(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	db, err := migrated()
	if err != nil {
		t.Fatalf("sqlitetest: migrating the template database: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Open opens the store at path, seeding it first when new, and closes it
// when the test ends. An empty path is a new file in the test's temporary
// directory.
func Open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gatehouse.db")
	}
	Seed(t, path)
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
