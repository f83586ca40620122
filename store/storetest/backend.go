package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/migration"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

// Backend describes an SQL backend to RunBackend: how to make and open its
// databases, and how to reach below store.Store for the tests about
// migrations and stored state.
type Backend struct {
	// Fresh returns where a new, empty database is (a file path, a DSN).
	Fresh func(t testing.TB) string
	// Migrated, if set, returns where a new database is that holds the
	// migrations and nothing else, for the conformance suite's stores,
	// which need not migrate each one; nil means Fresh.
	Migrated func(t testing.TB) string
	// Open opens the store at where, applying its migrations.
	Open func(ctx context.Context, where string) (store.Store, error)
	// OpenDB opens a database handle of its own on where, as another
	// process would, for reading and planting rows below the store.
	OpenDB func(where string) (*sql.DB, error)
	// Dialect and Migrations (holding migrations/*.sql) are what Open
	// migrates with.
	Dialect    sqlstore.Dialect
	Migrations fs.FS
	// Precision is how finely the backend keeps a time handed to it
	// (time.Nanosecond, time.Microsecond).
	Precision time.Duration
	// MaxYear is the last year the backend keeps a time in.
	MaxYear int
	// OpenRounds is how many times ConcurrentOpenOfFreshDatabase opens a
	// fresh database from several stores at once.
	OpenRounds int
}

// RunBackend holds a backend to what store.Store's contract cannot say on
// one store alone: several stores on one database, reopening, migrating,
// input refused before it reaches the database, and the state left in the
// tables. It runs the conformance suite (Run) first.
func RunBackend(t *testing.T, b Backend) {
	empty := b.Fresh
	if b.Migrated != nil {
		empty = b.Migrated
	}
	Run(t, func(t *testing.T) store.Store { return b.open(t, empty(t)) })
	t.Run("ReopenKeepsDataAndMigrations", func(t *testing.T) { testReopen(t, b) })
	t.Run("TwoStoresSameDatabase", func(t *testing.T) { testTwoStores(t, b) })
	t.Run("ConcurrentOpenOfFreshDatabase", func(t *testing.T) { testConcurrentOpen(t, b) })
	t.Run("NewerSchemaRefused", func(t *testing.T) { testNewerSchema(t, b) })
	t.Run("FailedMigrationRollsBack", func(t *testing.T) { testFailedMigration(t, b) })
	t.Run("InvalidInputRejected", func(t *testing.T) { testInvalidInput(t, b) })
	t.Run("OAuthInvalidInputRejected", func(t *testing.T) { testOAuthInvalidInput(t, b) })
	t.Run("TimesRoundTrip", func(t *testing.T) { testTimes(t, b) })
	t.Run("MFATimeBeyondYear9999", func(t *testing.T) { testMFABeyond9999(t, b) })
	t.Run("KeyCreatedAtDefaultsToNow", func(t *testing.T) { testKeyCreatedAt(t, b) })
	t.Run("RevocationZeroExpiresNeverExpires", func(t *testing.T) { testZeroExpires(t, b) })
	t.Run("GroupsBackfill", func(t *testing.T) { testGroupsBackfill(t, b) })
	t.Run("GroupInvalidInput", func(t *testing.T) { testGroupInvalidInput(t, b) })
	t.Run("MFAAcrossStores", func(t *testing.T) {
		where := b.Fresh(t)
		stores := make([]store.Store, 4)
		for i := range stores {
			stores[i] = b.open(t, where)
		}
		RunAcrossStores(t, stores)
	})
	t.Run("ConcurrentRotateRevokesFamily", func(t *testing.T) { testConcurrentRotate(t, b) })
	t.Run("RotationAcrossStores", func(t *testing.T) { testRotationAcrossStores(t, b) })
	t.Run("RetiredAndExpiredIsReuse", func(t *testing.T) { testRetiredExpired(t, b) })
	t.Run("TwoStoresConsumeOneCode", func(t *testing.T) { testTwoStoresOneCode(t, b) })
}

func (b Backend) open(t *testing.T, where string) store.Store {
	t.Helper()
	s, err := b.Open(context.Background(), where)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// db opens a handle on where, closed when t ends.
func (b Backend) db(t *testing.T, where string) *sql.DB {
	t.Helper()
	db, err := b.OpenDB(where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (b Backend) migrations(t *testing.T) []migration.Step {
	t.Helper()
	ms, err := migration.Load(b.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	return ms
}

// appliedMigrations lists schema_migrations as text, applied_at included,
// to tell whether anything was applied again.
func (b Backend) appliedMigrations(t *testing.T, where string) []string {
	t.Helper()
	rows, err := b.db(t, where).Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			version   int
			name      string
			appliedAt any
		)
		if err := rows.Scan(&version, &name, &appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(version, name, appliedAt))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testReopen(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	now := time.Now().Truncate(time.Microsecond)

	s, err := b.Open(ctx, where)
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
	first := b.appliedMigrations(t, where)
	if len(first) != len(b.migrations(t)) {
		t.Fatalf("%d migrations recorded, want %d", len(first), len(b.migrations(t)))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := b.open(t, where)
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
	if second := b.appliedMigrations(t, where); fmt.Sprint(second) != fmt.Sprint(first) {
		t.Errorf("schema_migrations changed on reopen:\nbefore %v\nafter  %v", first, second)
	}
}

// testTwoStores stands for two gateways, or the server and the CLI, on one
// database: each has its own connections, and each sees the other's writes
// at once.
func testTwoStores(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	a, c := b.open(t, where), b.open(t, where)

	if err := a.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	got, err := c.UserByEmail(ctx, "a@x.io")
	if err != nil || got.ID != "u1" {
		t.Fatalf("second store does not see the first's user: %v, %+v", err, got)
	}
	if err := c.SetEnabled(ctx, "u1", false); err != nil {
		t.Fatal(err)
	}
	if err := c.AddToGroup(ctx, "u1", "admins"); err != nil {
		t.Fatal(err)
	}
	got, err = a.UserByID(ctx, "u1")
	if err != nil || got.Enabled || len(got.Groups) != 1 {
		t.Errorf("first store does not see the second's writes: %v, %+v", err, got)
	}
	if err := c.Revoke(ctx, store.Revocation{UserID: "u1", At: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rs, err := a.RevocationsSince(ctx, time.Time{}); err != nil || len(rs) != 1 || rs[0].UserID != "u1" {
		t.Errorf("first store does not see the second's revocation: %v, %+v", err, rs)
	}
	if err := a.AddKey(ctx, store.Key{Kind: "cookie", ID: "1", Material: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	if ks, err := c.Keys(ctx, "cookie"); err != nil || len(ks) != 1 || string(ks[0].Material) != "k" {
		t.Errorf("second store does not see the first's key: %v, %+v", err, ks)
	}

	// Both writing at once: every distinct write lands, and a shared email
	// is won by exactly one of them.
	var wg sync.WaitGroup
	const n = 10
	errs := make([]error, 2*n)
	raceErrs := make([]error, 2)
	for i, s := range []store.Store{a, c} {
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
	for _, s := range []store.Store{a, c} {
		if us, err := s.ListUsers(ctx, store.ListOptions{}); err != nil || len(us) != 2*n+2 {
			t.Errorf("ListUsers: %v, %d users, want %d", err, len(us), 2*n+2)
		}
	}
}

// testConcurrentOpen opens fresh databases from several stores at once,
// b.OpenRounds times over: one migrates and the others wait for it and find
// it done.
func testConcurrentOpen(t *testing.T, b Backend) {
	const n = 4
	for round := range b.OpenRounds {
		where := b.Fresh(t)
		stores := make([]store.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = b.Open(context.Background(), where) })
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
		if got, want := len(b.appliedMigrations(t, where)), len(b.migrations(t)); got != want {
			t.Errorf("round %d: %d migrations recorded, want %d", round, got, want)
		}
	}
}

func testNewerSchema(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	b.open(t, where)
	if _, err := b.db(t, where).Exec(`INSERT INTO schema_migrations (version, name, applied_at)
		VALUES (9999, '9999_future.sql', CURRENT_TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Open(ctx, where); err == nil {
		s.Close()
		t.Fatal("Open of a database with an unknown newer migration succeeded")
	} else if !strings.Contains(err.Error(), "9999") {
		t.Errorf("err = %v, want it to name version 9999", err)
	}
}

func testFailedMigration(t *testing.T, b Backend) {
	where := b.Fresh(t)
	b.open(t, where)
	db := b.db(t, where)
	ms := append(b.migrations(t),
		migration.Step{Version: 900, Name: "0900_ok.sql", SQL: "CREATE TABLE extra (x integer)"},
		migration.Step{Version: 901, Name: "0901_bad.sql", SQL: "CREATE TABLE broken (x"})
	if err := sqlstore.Migrate(context.Background(), db, b.Dialect, ms); err == nil {
		t.Fatal("migrate with a broken migration succeeded")
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM extra`).Scan(&n); err == nil {
		t.Error("table from the failed batch exists")
	}
	if got, want := len(b.appliedMigrations(t, where)), len(b.migrations(t)); got != want {
		t.Errorf("%d migrations recorded, want %d", got, want)
	}
}

// wantInvalid runs calls that must each fail with a plain validation error,
// not one that says what is stored.
func wantInvalid(t *testing.T, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenReused) {
				t.Errorf("err = %v, want a plain validation error", err)
			}
		})
	}
}

type invalidCase struct {
	name string
	call func() error
}

// beyondMaxYear is a time past the last year b keeps, or the zero time if
// it keeps every year a time.Time has.
func (b Backend) beyondMaxYear() time.Time {
	if b.MaxYear >= 10000 {
		return time.Time{}
	}
	return time.Date(b.MaxYear+1, 1, 1, 0, 0, 0, 0, time.UTC)
}

func testInvalidInput(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	now := time.Now()
	cases := []invalidCase{
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
	wantInvalid(t, cases)
	if us, _ := s.ListUsers(ctx, store.ListOptions{}); len(us) != 0 {
		t.Errorf("%d users stored by rejected calls", len(us))
	}
	if rs, _ := s.RevocationsSince(ctx, time.Time{}); len(rs) != 0 {
		t.Errorf("%d revocations stored by rejected calls", len(rs))
	}
}

var oauthBase = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func testToken(hash, family string) store.RefreshToken {
	return store.RefreshToken{Hash: hash, FamilyID: family, ClientID: "webapp", UserID: "u1",
		Expires: oauthBase.Add(time.Hour)}
}

// tokenStates reads the state column of a family's rows, by hash, with
// "+retired_at" for a row that records when it was exchanged.
func (b Backend) tokenStates(t *testing.T, where, family string) map[string]string {
	t.Helper()
	// The family ids are the tests' own, so quoting them inline is safe and
	// keeps the query free of engine-specific placeholders.
	rows, err := b.db(t, where).Query(`SELECT hash, state, retired_at IS NOT NULL FROM refresh_tokens WHERE family_id = '` +
		family + `'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var h, st string
		var retired bool
		if err := rows.Scan(&h, &st, &retired); err != nil {
			t.Fatal(err)
		}
		if retired {
			st += "+retired_at"
		}
		out[h] = st
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testOAuthInvalidInput(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	s := b.open(t, where)
	exp := oauthBase.Add(time.Hour)
	if err := s.SaveRefreshToken(ctx, testToken("live", "fam")); err != nil {
		t.Fatal(err)
	}
	cases := []invalidCase{
		{"client without id", func() error { return s.CreateClient(ctx, &store.Client{Name: "x"}) }},
		{"client redirect URI with invalid UTF-8", func() error {
			return s.CreateClient(ctx, &store.Client{ID: "c", RedirectURIs: []string{"https://x/\xff"}})
		}},
		{"code without hash", func() error { return s.SaveAuthCode(ctx, store.AuthCode{Expires: exp}) }},
		{"code without expiry", func() error { return s.SaveAuthCode(ctx, store.AuthCode{Hash: "h"}) }},
		{"code amr with invalid UTF-8", func() error {
			return s.SaveAuthCode(ctx, store.AuthCode{Hash: "h", Expires: exp, AMR: []string{"\xff"}})
		}},
		{"token without family", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", Expires: exp})
		}},
		{"token without expiry", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", FamilyID: "f"})
		}},
		{"client with an unknown refresh token rotation", func() error {
			return s.CreateClient(ctx, &store.Client{ID: "c", RefreshTokenRotation: "sometimes"})
		}},
		{"token with a negative grace", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", FamilyID: "f", Expires: exp, Grace: -time.Second})
		}},
		{"rotate to a token without expiry", func() error {
			_, err := s.RotateRefreshToken(ctx, "live", store.RefreshToken{Hash: "n", FamilyID: "fam"}, oauthBase)
			return err
		}},
	}
	if late := b.beyondMaxYear(); !late.IsZero() {
		cases = append(cases, invalidCase{"token expiry past the last year", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", FamilyID: "f", Expires: late})
		}})
	}
	wantInvalid(t, cases)
	if cs, _ := s.ListClients(ctx); len(cs) != 0 {
		t.Errorf("%d clients stored by rejected calls", len(cs))
	}
	if _, err := s.ConsumeAuthCode(ctx, "h", oauthBase); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected code was stored: %v", err)
	}
	if got := b.tokenStates(t, where, "fam"); len(got) != 1 || got["live"] != "live" {
		t.Errorf("family after rejected calls = %v, want only the live token", got)
	}
}

// testTimes pins the backend's documented precision and range: what goes
// in comes back truncated to b.Precision, in UTC, and times years apart
// order correctly up to b.MaxYear; past it a time is refused.
func testTimes(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	at := time.Date(2031, 7, 4, 12, 30, 45, 123456789, time.FixedZone("X", -7*3600))
	k := store.Key{Kind: "k", ID: "1", Material: []byte("m"), CreatedAt: at, NotAfter: at.Add(time.Nanosecond)}
	if err := s.AddKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ks, err := s.Keys(ctx, "k")
	if err != nil || len(ks) != 1 {
		t.Fatalf("Keys: %v, %+v", err, ks)
	}
	wantCreated, wantNotAfter := at.Truncate(b.Precision), k.NotAfter.Truncate(b.Precision)
	if !ks[0].CreatedAt.Equal(wantCreated) || !ks[0].NotAfter.Equal(wantNotAfter) {
		t.Errorf("times = %v, %v; want %v, %v", ks[0].CreatedAt, ks[0].NotAfter, wantCreated, wantNotAfter)
	}
	if ks[0].CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", ks[0].CreatedAt.Location())
	}

	var want []string
	for _, y := range []int{10000, 9999, 2262, 999, 1} { // Jan 1 of year 1 is the zero time
		k := store.Key{Kind: "years", ID: fmt.Sprint(y), CreatedAt: time.Date(y, 1, 2, 0, 0, 0, 0, time.UTC)}
		err := s.AddKey(ctx, k)
		switch {
		case y <= b.MaxYear && err != nil:
			t.Fatalf("AddKey year %d: %v", y, err)
		case y > b.MaxYear && err == nil:
			t.Errorf("AddKey year %d succeeded, want an error", y)
		case y <= b.MaxYear:
			want = append(want, k.ID)
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
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("keys by year = %v, want %v", ids, want)
	}
}

// testMFABeyond9999: a factor created after year 9999 is refused, and not
// stored, by a backend whose MaxYear is 9999 (SQLite's fixed-width text),
// and kept as given by one that keeps such times.
func testMFABeyond9999(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	if err := s.CreateUser(ctx, &store.User{ID: "u1", Email: "a@x.io"}); err != nil {
		t.Fatal(err)
	}
	late := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.AddMFAFactor(ctx, store.MFAFactor{ID: "f1", UserID: "u1", Kind: store.FactorTOTP, Secret: []byte("k"),
		CreatedAt: late})
	fs, _ := s.MFAFactors(ctx, "u1")
	if b.MaxYear >= 10000 {
		if err != nil || len(fs) != 1 || !fs[0].CreatedAt.Equal(late) {
			t.Errorf("AddMFAFactor past year 9999: %v, %+v; want it kept", err, fs)
		}
		return
	}
	if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddMFAFactor past year 9999: %v, want a plain validation error", err)
	}
	if len(fs) != 0 {
		t.Errorf("%d factors stored by a rejected call", len(fs))
	}
}

func testKeyCreatedAt(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	before := time.Now().Truncate(b.Precision)
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

func testZeroExpires(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
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

// testConcurrentRotate pins which of the conformance suite's two allowed
// outcomes an SQL backend gives: rotations are serialized, so every loser
// finds the token retired and is told ErrTokenReused, and the family, the
// winner's new token included, ends revoked.
func testConcurrentRotate(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	s := b.open(t, where)
	if err := s.SaveRefreshToken(ctx, testToken("rt", "fam")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := raceN(n, func(i int) error {
		_, err := s.RotateRefreshToken(ctx, "rt", testToken(fmt.Sprintf("next-%d", i), "fam"), oauthBase)
		return err
	})
	wins, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrTokenReused):
			reused++
		default:
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if wins != 1 || reused != n-1 {
		t.Errorf("%d successes and %d ErrTokenReused, want 1 and %d", wins, reused, n-1)
	}
	states := b.tokenStates(t, where, "fam")
	if len(states) != 2 {
		t.Errorf("family has %d rows, want the old token and the winner's: %v", len(states), states)
	}
	for h, st := range states {
		want := "revoked"
		if h == "rt" {
			want = "revoked+retired_at" // keeps when it was exchanged
		}
		if st != want {
			t.Errorf("%s is %s, want %s", h, st, want)
		}
	}
}

// testRotationAcrossStores races several gateways (separate pools) to
// exchange one refresh token: the locks are in the database, so exactly one
// wins however the callers are spread over processes.
func testRotationAcrossStores(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	const n = 4
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = b.open(t, where)
	}
	now := time.Now()
	first := store.RefreshToken{Hash: "h0", FamilyID: "f", ClientID: "c", UserID: "u",
		IssuedAt: now, Expires: now.Add(time.Hour)}
	if err := stores[0].SaveRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	errs := raceN(3*n, func(i int) error {
		next := first
		next.Hash = fmt.Sprintf("h1-%d", i)
		_, err := stores[i%n].RotateRefreshToken(ctx, "h0", next, time.Now())
		return err
	})
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
	if err := b.db(t, where).QueryRow(`SELECT count(*) FROM refresh_tokens WHERE state = 'live'`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("%d live tokens after a contested rotation, want 0", live)
	}
}

// testRetiredExpired: a retired token is replay even past its expiry,
// because its family may still hold a live successor.
func testRetiredExpired(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b.open(t, b.Fresh(t))
	t1 := testToken("rt1", "fam")
	if err := s.SaveRefreshToken(ctx, t1); err != nil {
		t.Fatal(err)
	}
	t2 := testToken("rt2", "fam")
	t2.Expires = oauthBase.Add(48 * time.Hour)
	if _, err := s.RotateRefreshToken(ctx, "rt1", t2, oauthBase); err != nil {
		t.Fatal(err)
	}
	late := oauthBase.Add(2 * time.Hour) // rt1 expired, rt2 not
	if _, err := s.RotateRefreshToken(ctx, "rt1", testToken("rt3", "fam"), late); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("reuse of an expired retired token: %v, want ErrTokenReused", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "rt2", late); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("successor after reuse: %v, want ErrNotFound", err)
	}
}

// testTwoStoresOneCode: two instances (or the server and the CLI) on one
// database still spend a code exactly once.
func testTwoStoresOneCode(t *testing.T, b Backend) {
	ctx := context.Background()
	where := b.Fresh(t)
	a, c := b.open(t, where), b.open(t, where)
	const codes = 10
	for i := range codes {
		code := store.AuthCode{Hash: fmt.Sprintf("c%d", i), ClientID: "webapp", Expires: oauthBase.Add(time.Minute)}
		if err := a.SaveAuthCode(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	errs := raceN(2*codes, func(i int) error {
		_, err := []store.Store{a, c}[i%2].ConsumeAuthCode(ctx, fmt.Sprintf("c%d", i/2), oauthBase)
		return err
	})
	for i := range codes {
		e1, e2 := errs[2*i], errs[2*i+1]
		ok := (e1 == nil && errors.Is(e2, store.ErrNotFound)) || (e2 == nil && errors.Is(e1, store.ErrNotFound))
		if !ok {
			t.Errorf("code %d: %v, %v; want one success and one ErrNotFound", i, e1, e2)
		}
	}
}
