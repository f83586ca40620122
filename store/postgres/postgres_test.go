package postgres

import (
	"github.com/gatehouse-auth/gatehouse/store/migration"

	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/storetest"
)

func openAt(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// schemaOf returns the schema a PostgresDSN selects.
func schemaOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, testenv.PostgresDSN(t))
	})
}

type appliedMigration struct {
	version   int
	name      string
	appliedAt time.Time
}

func appliedMigrations(t *testing.T, s *Store) []appliedMigration {
	t.Helper()
	rows, err := s.db.QueryContext(context.Background(),
		`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
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
	dsn := testenv.PostgresDSN(t)
	now := time.Now().Truncate(time.Microsecond)

	s, err := Open(ctx, dsn)
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
	if err := s.AddKey(ctx, store.Key{Kind: "cookie", ID: "k1", Material: []byte{1, 2, 3}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, store.Revocation{SessionID: "s1", At: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, s)
	if len(first) != len(embeddedMigrations(t)) {
		t.Fatalf("%d migrations recorded, want %d", len(first), len(embeddedMigrations(t)))
	}
	s.Close()

	s2 := openAt(t, dsn)
	got, err := s2.UserByID(ctx, "u1")
	if err != nil {
		t.Fatalf("UserByID after reopen: %v", err)
	}
	if got.Email != "a@x.io" || got.Attributes["custom:tenant"] != "acme" ||
		len(got.Groups) != 1 || got.Groups[0] != "admins" || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("user after reopen = %+v", got)
	}
	if ks, err := s2.Keys(ctx, "cookie"); err != nil || len(ks) != 1 || string(ks[0].Material) != "\x01\x02\x03" ||
		!ks[0].CreatedAt.Equal(now) {
		t.Errorf("keys after reopen: %v, %+v", err, ks)
	}
	if rs, err := s2.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].SessionID != "s1" {
		t.Errorf("revocations after reopen: %v, %+v", err, rs)
	}
	// Same rows with the same applied_at: nothing was applied a second time.
	if second := appliedMigrations(t, s2); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("schema_migrations changed on reopen:\nbefore %v\nafter  %v", first, second)
	}
}

// TestTwoStoresSameSchema stands for two gateways on one database: each has
// its own connection pool, and each sees the other's writes at once.
func TestTwoStoresSameSchema(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	a, b := openAt(t, dsn), openAt(t, dsn)

	if err := a.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	got, err := b.UserByEmail(ctx, "a@x.io")
	if err != nil || got.ID != "u1" {
		t.Fatalf("b does not see a's user: %v, %+v", err, got)
	}
	if err := b.SetEnabled(ctx, "u1", false); err != nil {
		t.Fatal(err)
	}
	if err := b.AddToGroup(ctx, "u1", "admins"); err != nil {
		t.Fatal(err)
	}
	got, err = a.UserByID(ctx, "u1")
	if err != nil || got.Enabled || len(got.Groups) != 1 {
		t.Errorf("a does not see b's writes: %v, %+v", err, got)
	}
	if err := b.Revoke(ctx, store.Revocation{UserID: "u1", At: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rs, err := a.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].UserID != "u1" {
		t.Errorf("a does not see b's revocation: %v, %+v", err, rs)
	}
	if err := a.AddKey(ctx, store.Key{Kind: "cookie", ID: "1", Material: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if ks, err := b.Keys(ctx, "cookie"); err != nil || len(ks) != 1 || string(ks[0].Material) != "k" {
		t.Errorf("b does not see a's key: %v, %+v", err, ks)
	}

	// Both writing at once: every distinct write lands, and a shared email
	// is won by exactly one of them.
	var wg sync.WaitGroup
	const n = 10
	errs := make([]error, 2*n)
	raceErrs := make([]error, 2)
	for i, s := range []*Store{a, b} {
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
	for _, s := range []*Store{a, b} {
		if us, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(us) != 2*n+2 {
			t.Errorf("ListUsers: %v, %d users, want %d", err, len(us), 2*n+2)
		}
	}
}

// TestRotationAcrossStores races several gateways (separate pools) to
// exchange one refresh token: the row lock is in the database, so exactly
// one wins however the callers are spread over processes.
func TestRotationAcrossStores(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openAt(t, dsn)
	}
	now := time.Now()
	first := store.RefreshToken{Hash: "h0", FamilyID: "f", ClientID: "c", UserID: "u",
		IssuedAt: now, Expires: now.Add(time.Hour)}
	if err := stores[0].SaveRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3*n)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			next := first
			next.Hash = fmt.Sprintf("h1-%d", i)
			<-start
			_, errs[i] = stores[i%n].RotateRefreshToken(ctx, "h0", next, time.Now())
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrTokenReused), errors.Is(err, store.ErrNotFound):
		default:
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d rotations succeeded, want exactly 1", wins)
	}
	// The losers were replays: the winner's new token is revoked with its
	// family.
	var live int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens WHERE state = 'live'`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("%d live tokens after a contested rotation, want 0", live)
	}
}

// TestConcurrentOpenOfFreshSchema starts several gateways at once on an empty
// schema: the advisory lock makes one migrate and the others find it done.
func TestConcurrentOpenOfFreshSchema(t *testing.T) {
	const rounds, n = 5, 4
	for round := range rounds {
		dsn := testenv.PostgresDSN(t)
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(context.Background(), dsn) })
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

// TestTablesInDSNSchema checks that the tables go into, and are read from,
// the schema the DSN's search_path names, never public.
func TestTablesInDSNSchema(t *testing.T) {
	ctx := context.Background()
	dsnA, dsnB := testenv.PostgresDSN(t), testenv.PostgresDSN(t)
	a, b := openAt(t, dsnA), openAt(t, dsnB)

	for _, tc := range []struct {
		s      *Store
		schema string
	}{{a, schemaOf(t, dsnA)}, {b, schemaOf(t, dsnB)}} {
		var tables []string
		rows, err := tc.s.db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = $1 ORDER BY table_name`, tc.schema)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, name)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"users", "user_groups", "revocations", "keys", "clients",
			"auth_codes", "refresh_tokens", "verification_codes", "mfa_factors", "recovery_codes",
			"sign_in_failures", "schema_migrations"} {
			if !strings.Contains(","+strings.Join(tables, ",")+",", ","+want+",") {
				t.Errorf("schema %s has tables %v, missing %s", tc.schema, tables, want)
			}
		}
	}

	if err := a.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UserByID(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("store on another schema sees the user: %v", err)
	}
	// Same id in the other schema is no conflict.
	if err := b.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io"}); err != nil {
		t.Errorf("CreateUser in the other schema: %v", err)
	}
}

func TestMissingSchemaRefused(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", "gatehouse_no_such_schema")
	u.RawQuery = q.Encode()
	s, err := Open(context.Background(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("Open with a search_path naming no schema succeeded")
	}
	if !strings.Contains(err.Error(), "search_path") {
		t.Errorf("err = %v, want it to point at search_path", err)
	}
}

func TestPasswordNotInErrors(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	for _, dsn := range []string{
		fmt.Sprintf("postgres://gh:s3cr3t-pw@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2", port),
		fmt.Sprintf("host=127.0.0.1 port=%d user=gh password=s3cr3t-pw dbname=x sslmode=disable connect_timeout=2", port),
		"postgres://gh:s3cr3t-pw@127.0.0.1:5432/x?sslmode=bogus",
	} {
		s, err := Open(context.Background(), dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	s := openAt(t, dsn)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, dsn); err == nil {
		s.Close()
		t.Fatal("Open of a schema with an unknown newer migration succeeded")
	} else if !strings.Contains(err.Error(), "9999") {
		t.Errorf("err = %v, want it to name version 9999", err)
	}
}

// TestTimesMicroseconds pins the documented precision: what goes in with
// nanoseconds comes back truncated to the microsecond, in UTC.
func TestTimesMicroseconds(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, testenv.PostgresDSN(t))
	at := time.Date(2031, 7, 4, 12, 30, 45, 123456789, time.FixedZone("X", -7*3600))
	k := store.Key{Kind: "k", ID: "1", Material: []byte("m"), CreatedAt: at, NotAfter: at.Add(time.Nanosecond)}
	if err := s.AddKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ks, err := s.Keys(ctx, "k")
	if err != nil || len(ks) != 1 {
		t.Fatalf("Keys: %v, %+v", err, ks)
	}
	want := at.Truncate(time.Microsecond)
	if !ks[0].CreatedAt.Equal(want) || !ks[0].NotAfter.Equal(want) {
		t.Errorf("times = %v, %v; want %v", ks[0].CreatedAt, ks[0].NotAfter, want)
	}
	if ks[0].CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", ks[0].CreatedAt.Location())
	}

	// Years far apart still order correctly.
	for _, y := range []int{1, 999, 2262, 9999, 10000} {
		k := store.Key{Kind: "years", ID: fmt.Sprint(y), CreatedAt: time.Date(y, 1, 2, 0, 0, 0, 0, time.UTC)}
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
	if strings.Join(ids, ",") != "10000,9999,2262,999,1" {
		t.Errorf("keys by year = %v, want 10000,9999,2262,999,1", ids)
	}
}

func TestInvalidInputRejected(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, testenv.PostgresDSN(t))
	now := time.Now()
	cases := []struct {
		name string
		call func() error
	}{
		{"revocation with both ids", func() error {
			return s.Revoke(ctx, store.Revocation{SessionID: "s", UserID: "u", At: now})
		}},
		{"revocation with neither id", func() error { return s.Revoke(ctx, store.Revocation{At: now}) }},
		{"user without id", func() error { return s.CreateUser(ctx, &store.User{Email: "a@x.io"}) }},
		{"user without email", func() error { return s.CreateUser(ctx, &store.User{ID: "u"}) }},
		{"attribute with invalid UTF-8", func() error {
			return s.CreateUser(ctx, &store.User{ID: "u", Email: "a@x.io", Attributes: map[string]string{"custom:x": "\xff"}})
		}},
		{"key without kind", func() error { return s.AddKey(ctx, store.Key{ID: "k"}) }},
		{"client without id", func() error { return s.CreateClient(ctx, &store.Client{Name: "x"}) }},
		{"auth code without expiry", func() error { return s.SaveAuthCode(ctx, store.AuthCode{Hash: "h"}) }},
		{"refresh token without family", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", Expires: now.Add(time.Hour)})
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
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, testenv.PostgresDSN(t))
	ms := append(embeddedMigrations(t),
		migration.Step{Version: 900, Name: "0900_ok.sql", SQL: "CREATE TABLE extra (x integer)"},
		migration.Step{Version: 901, Name: "0901_bad.sql", SQL: "CREATE TABLE broken (x"})
	if err := migrate(ctx, s.db, ms); err == nil {
		t.Fatal("migrate with a broken migration succeeded")
	}
	var extra *string
	if err := s.db.QueryRowContext(ctx, `SELECT to_regclass('extra')::text`).Scan(&extra); err != nil || extra != nil {
		t.Errorf("table from the failed batch exists: %v, %v", err, extra)
	}
	if got, want := len(appliedMigrations(t, s)), len(embeddedMigrations(t)); got != want {
		t.Errorf("%d migrations recorded, want %d", got, want)
	}
}
