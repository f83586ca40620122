package sqlite

import (
	"github.com/gatehouse-auth/gatehouse/store/migration"

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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
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

type appliedMigration struct{ version, name, appliedAt string }

func appliedMigrations(t *testing.T, s *Store) []appliedMigration {
	t.Helper()
	rows, err := s.db.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.version, &m.name, &m.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func embeddedMigrations(t *testing.T) []migration.Step {
	t.Helper()
	ms, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	return ms
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	now := time.Now()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "u1", Email: "a@x.io", Status: store.StatusConfirmed, Enabled: true,
		Attributes: map[string]string{"custom:tenant": "acme"}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToGroup(ctx, "u1", "admins"); err != nil {
		t.Fatal(err)
	}
	key := store.Key{Kind: "cookie", ID: "k1", Material: []byte{1, 2, 3}, CreatedAt: now}
	if err := s.AddKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, store.Revocation{SessionID: "s1", At: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, s)
	if len(first) != len(embeddedMigrations(t)) {
		t.Fatalf("%d migrations recorded, want %d", len(first), len(embeddedMigrations(t)))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := openAt(t, path)
	got, err := s2.UserByID(ctx, "u1")
	if err != nil {
		t.Fatalf("UserByID after reopen: %v", err)
	}
	if got.Email != "a@x.io" || got.Attributes["custom:tenant"] != "acme" ||
		len(got.Groups) != 1 || got.Groups[0] != "admins" || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("user after reopen = %+v", got)
	}
	if ks, err := s2.Keys(ctx, "cookie"); err != nil || len(ks) != 1 || string(ks[0].Material) != "\x01\x02\x03" {
		t.Errorf("keys after reopen: %v, %+v", err, ks)
	}
	if rs, err := s2.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].SessionID != "s1" {
		t.Errorf("revocations after reopen: %v, %+v", err, rs)
	}
	// Same rows with the same applied_at: nothing was applied a second time.
	second := appliedMigrations(t, s2)
	if fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("schema_migrations changed on reopen:\nbefore %v\nafter  %v", first, second)
	}
}

func TestTwoStoresSameFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	server, cli := openAt(t, path), openAt(t, path)

	if err := server.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	got, err := cli.UserByEmail(ctx, "a@x.io")
	if err != nil || got.ID != "u1" {
		t.Fatalf("cli does not see server's user: %v, %+v", err, got)
	}
	if err := cli.SetEnabled(ctx, "u1", false); err != nil {
		t.Fatal(err)
	}
	if err := cli.AddToGroup(ctx, "u1", "admins"); err != nil {
		t.Fatal(err)
	}
	got, err = server.UserByID(ctx, "u1")
	if err != nil || got.Enabled || len(got.Groups) != 1 {
		t.Errorf("server does not see cli's writes: %v, %+v", err, got)
	}
	if err := cli.Revoke(ctx, store.Revocation{UserID: "u1", At: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rs, err := server.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].UserID != "u1" {
		t.Errorf("server does not see cli's revocation: %v, %+v", err, rs)
	}

	// Both writing at once: every distinct write lands, and a shared email
	// is won by exactly one of them.
	var wg sync.WaitGroup
	const n = 10
	errs := make([]error, 2*n)
	raceErrs := make([]error, 2)
	for i, s := range []*Store{server, cli} {
		wg.Go(func() {
			raceErrs[i] = s.CreateUser(ctx, &store.User{ID: fmt.Sprintf("race-%d", i), Email: "race@x.io"})
		})
		for j := range n {
			wg.Go(func() {
				id := fmt.Sprintf("p%d-%d", i, j)
				errs[i*n+j] = s.CreateUser(ctx, &store.User{ID: id, Email: id + "@x.io"})
			})
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	wins := 0
	for _, err := range raceErrs {
		if err == nil {
			wins++
		} else if !errors.Is(err, store.ErrConflict) {
			t.Errorf("race: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d stores won the shared email, want 1", wins)
	}
	for _, s := range []*Store{server, cli} {
		if us, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(us) != 2*n+2 {
			t.Errorf("ListUsers: %v, %d users, want %d", err, len(us), 2*n+2)
		}
	}
}

// TestConcurrentOpenOfFreshFile opens fresh files from several Stores at
// once, many times over: converting a fresh file to WAL ignores busy_timeout,
// so without ensureWAL's retry about one round in twenty fails (measured).
func TestConcurrentOpenOfFreshFile(t *testing.T) {
	const rounds, n = 40, 4
	for round := range rounds {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("fresh%d.db", round))
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(context.Background(), path) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, Open %d: %v", round, i, err)
			} else {
				defer stores[i].Close()
			}
		}
		if t.Failed() {
			return
		}
		if got, want := len(appliedMigrations(t, stores[0])), len(embeddedMigrations(t)); got != want {
			t.Errorf("round %d: %d migrations recorded, want %d", round, got, want)
		}
	}
}

// TestSeveralProcesses is the real thing behind TestTwoStoresSameFile:
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
	if got, want := len(appliedMigrations(t, s)), len(embeddedMigrations(t)); got != want {
		t.Errorf("%d migrations recorded, want %d", got, want)
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

func TestTimesRoundTripNanoseconds(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "t.db"))
	at := time.Date(2031, 7, 4, 12, 30, 45, 123456789, time.FixedZone("X", -7*3600))
	k := store.Key{Kind: "k", ID: "1", Material: []byte("m"), CreatedAt: at, NotAfter: at.Add(time.Nanosecond)}
	if err := s.AddKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ks, err := s.Keys(ctx, "k")
	if err != nil || len(ks) != 1 {
		t.Fatalf("Keys: %v, %+v", err, ks)
	}
	if !ks[0].CreatedAt.Equal(k.CreatedAt) || !ks[0].NotAfter.Equal(k.NotAfter) {
		t.Errorf("times = %v, %v; want %v, %v", ks[0].CreatedAt, ks[0].NotAfter, k.CreatedAt, k.NotAfter)
	}

	// Years far apart must still order correctly (fixed-width text).
	for _, y := range []int{1, 999, 2262, 9999} {
		k := store.Key{Kind: "years", ID: fmt.Sprint(y), CreatedAt: time.Date(y, 1, 2, 0, 0, 0, 0, time.UTC)} // Jan 1 of year 1 is the zero time
		if err := s.AddKey(ctx, k); err != nil {
			t.Fatalf("AddKey year %d: %v", y, err)
		}
	}
	ks, err = s.Keys(ctx, "years")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != "9999,2262,999,1" {
		t.Errorf("keys by year = %v, want 9999,2262,999,1", ids)
	}
	if err := s.AddKey(ctx, store.Key{Kind: "years", ID: "10000", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("AddKey with year 10000 succeeded, want an error")
	}
}

func TestKeyCreatedAtDefaultsToNow(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "k.db"))
	before := time.Now()
	if err := s.AddKey(ctx, store.Key{Kind: "cookie", ID: "k"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	ks, err := s.Keys(ctx, "cookie")
	if err != nil || len(ks) != 1 {
		t.Fatalf("Keys: %v, %+v", err, ks)
	}
	if ks[0].CreatedAt.Before(before) || ks[0].CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", ks[0].CreatedAt, before, after)
	}
	if ks[0].Material == nil || len(ks[0].Material) != 0 {
		t.Errorf("Material = %#v, want empty non-nil", ks[0].Material)
	}
}

func TestRevocationZeroExpiresNeverExpires(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "r.db"))
	if err := s.Revoke(ctx, store.Revocation{UserID: "u1", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeRevocations(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	rs, err := s.RevocationsSince(ctx, time.Time{})
	if err != nil || len(rs) != 1 || rs[0].UserID != "u1" || !rs[0].Expires.IsZero() {
		t.Errorf("RevocationsSince: %v, %+v; want the one entry with zero Expires", err, rs)
	}
}

func TestInvalidInputRejected(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "v.db"))
	now := time.Now()
	cases := []struct {
		name string
		call func() error
	}{
		{"revocation with both ids", func() error {
			return s.Revoke(ctx, store.Revocation{SessionID: "s", UserID: "u", At: now})
		}},
		{"revocation with neither id", func() error {
			return s.Revoke(ctx, store.Revocation{At: now})
		}},
		{"user without id", func() error {
			return s.CreateUser(ctx, &store.User{Email: "a@x.io"})
		}},
		{"user without email", func() error {
			return s.CreateUser(ctx, &store.User{ID: "u"})
		}},
		{"attribute with invalid UTF-8", func() error {
			return s.CreateUser(ctx, &store.User{ID: "u", Email: "a@x.io",
				Attributes: map[string]string{"custom:x": "\xff"}})
		}},
		{"key without kind", func() error {
			return s.AddKey(ctx, store.Key{ID: "k"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("err = %v, want a plain validation error", err)
			}
		})
	}
	if us, _ := s.ListUsers(ctx, store.ListOptions{}); len(us) != 0 {
		t.Errorf("%d users stored by rejected calls", len(us))
	}
	if rs, _ := s.RevocationsSince(ctx, time.Time{}); len(rs) != 0 {
		t.Errorf("%d revocations stored by rejected calls", len(rs))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', '')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open of a database with an unknown newer migration succeeded")
	} else if !strings.Contains(err.Error(), "9999") {
		t.Errorf("err = %v, want it to name version 9999", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "m.db"))
	ms := append(embeddedMigrations(t),
		migration.Step{Version: 900, Name: "0900_ok.sql", SQL: "CREATE TABLE extra (x INTEGER) STRICT"},
		migration.Step{Version: 901, Name: "0901_bad.sql", SQL: "CREATE TABLE broken (x"})
	if err := migrate(context.Background(), s.db, ms); err == nil {
		t.Fatal("migrate with a broken migration succeeded")
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'extra'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table from the failed batch exists: %v, %d", err, n)
	}
	if got, want := len(appliedMigrations(t, s)), len(embeddedMigrations(t)); got != want {
		t.Errorf("%d migrations recorded, want %d", got, want)
	}
}
