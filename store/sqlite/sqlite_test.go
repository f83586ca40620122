package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/migration"
	"github.com/gatehouse-auth/gatehouse/store/storetest"
)

// helperEnv, when set to a database path, turns the test binary into a
// stand-in for a second process (the CLI beside the server); see TestMain.
const helperEnv = "GATEHOUSE_SQLITE_TEST_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		if err := helperProcess(path, os.Getenv(helperEnv+"_NAME")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperProcess opens path, writes users of its own, then races the other
// helpers for one key id and prints whether it won.
func helperProcess(path, name string) error {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer s.Close()
	for i := range 10 {
		id := fmt.Sprintf("%s-%d", name, i)
		u := &store.User{ID: id, Email: id + "@x.io", Status: store.StatusConfirmed, Enabled: true}
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := s.AddToGroup(ctx, id, "procs"); err != nil {
			return err
		}
	}
	err = s.AddKey(ctx, store.Key{Kind: "cookie", ID: "shared", Material: []byte(name)})
	switch {
	case err == nil:
		fmt.Println("won")
	case errors.Is(err, store.ErrConflict):
		fmt.Println("conflict")
	default:
		return err
	}
	return nil
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBackend runs the conformance suite and storetest's backend tests on
// SQLite files.
func TestBackend(t *testing.T) {
	storetest.RunBackend(t, storetest.Backend{
		Fresh:    func(t testing.TB) string { return filepath.Join(t.TempDir(), "gatehouse.db") },
		Migrated: migratedCopy,
		Open:     func(ctx context.Context, path string) (store.Store, error) { return Open(ctx, path) },
		// Times are fixed-width text with nanoseconds, years 0000-9999.
		Precision: time.Nanosecond,
		MaxYear:   9999,
		// Converting a fresh file to WAL ignores busy_timeout, so without
		// ensureWAL's retry about one round in twenty fails (measured).
		OpenRounds: 40,
		OpenDB:     openDB,
		Dialect:    dialect{},
		Migrations: migrationFiles,
	})
}

// migrated is a database file migrated once, for migratedCopy.
var migrated = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-sqlite-migrated-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gatehouse.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	// Closing the last connection checkpoints the WAL into the file.
	if err := s.Close(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the migrated file's WAL was not checkpointed (%d bytes)", fi.Size())
	}
	return os.ReadFile(path)
})

// migratedCopy is a new file holding a copy of migrated: the conformance
// suite's stores start from it rather than migrating each (package
// sqlitetest does the same for other packages' tests; this one cannot
// import it).
func migratedCopy(t testing.TB) string {
	t.Helper()
	db, err := migrated()
	if err != nil {
		t.Fatalf("migrating the template database: %v", err)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPragmasApplied(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "p.db"))
	// Several at once so that the pool has to hand out more than one
	// connection: each must have had the DSN's pragmas applied.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ctx := context.Background()
			conn, err := s.db.Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for pragma, want := range map[string]string{
				"journal_mode": "wal",
				"busy_timeout": "10000",
				"foreign_keys": "1",
				"synchronous":  "1", // NORMAL
			} {
				var got string
				if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Errorf("PRAGMA %s: %v", pragma, err)
				} else if got != want {
					t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
				}
			}
		})
	}
	wg.Wait()
}

// TestSeveralProcesses is the real thing behind storetest's
// TwoStoresSameDatabase:
// separate processes, each with its own SQLite library state and file locks,
// open one fresh file at the same moment, migrate it, and write to it.
func TestSeveralProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "procs.db")
	const n = 4
	var wg sync.WaitGroup
	outs := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+path, fmt.Sprintf("%s_NAME=proc%d", helperEnv, i))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			outs[i] = strings.TrimSpace(string(out))
			if err != nil {
				errs[i] = fmt.Errorf("%w: %s", err, stderr.String())
			}
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("process %d: %v", i, errs[i])
			continue
		}
		switch outs[i] {
		case "won":
			wins++
		case "conflict":
		default:
			t.Errorf("process %d printed %q", i, outs[i])
		}
	}
	if wins != 1 {
		t.Errorf("%d processes won the key, want 1", wins)
	}

	s := openAt(t, path)
	us, err := s.ListUsers(context.Background(), store.ListOptions{})
	if err != nil || len(us) != 10*n {
		t.Fatalf("ListUsers: %v, %d users, want %d", err, len(us), 10*n)
	}
	for _, u := range us {
		if len(u.Groups) != 1 || u.Groups[0] != "procs" {
			t.Errorf("user %s groups = %q", u.ID, u.Groups)
		}
	}
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != len(ms) {
		t.Errorf("%v, %d migrations recorded, want %d", err, applied, len(ms))
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "parent")
	path := filepath.Join(dir, "gatehouse.db")
	s := openAt(t, path)
	// A write makes sure the -wal and -shm files exist too.
	if err := s.AddKey(context.Background(), store.Key{Kind: "cookie", ID: "k", Material: []byte("secret")}); err != nil {
		t.Fatal(err)
	}
	check := func(p string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat: %v", err)
			return
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(p), got, want)
		}
	}
	check(dir, 0o700)
	check(filepath.Dir(dir), 0o700)
	check(path, 0o600)
	check(path+"-wal", 0o600)
	check(path+"-shm", 0o600)
}

func TestAwkwardPath(t *testing.T) {
	// '?' would cut a plain DSN short; '#', '%' and ' ' need escaping in a URI.
	path := filepath.Join(t.TempDir(), "we?ird #dir% x", "db?name#1%20.db")
	s := openAt(t, path)
	if err := s.CreateUser(context.Background(), &store.User{ID: "u", Email: "u@x.io"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at the given path: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "db?name#1%20.db") {
			t.Errorf("stray file %q beside the database", e.Name())
		}
	}
}
