package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
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

// TestBackend runs the conformance suite and storetest's backend tests,
// each database a fresh schema of the test database.
func TestBackend(t *testing.T) {
	storetest.RunBackend(t, storetest.Backend{
		Fresh:      testenv.PostgresDSN,
		Migrations: migrationFiles,
		Dialect:    dialect{},
		OpenDB: func(dsn string) (*sql.DB, error) {
			db, _, err := openDB(dsn)
			return db, err
		},
		Open: func(ctx context.Context, dsn string) (store.Store, error) { return Open(ctx, dsn) },
		// timestamptz: microseconds, years far past 9999.
		Precision: time.Microsecond, MaxYear: 294276,
		// The migration lock queues concurrent Opens; a few rounds show it.
		OpenRounds: 5,
	})
}

// TestTablesInDSNSchema checks that the tables go into, and are read from,
// the schema the DSN's search_path names, never public.
func TestTablesInDSNSchema(t *testing.T) {
	ctx := context.Background()
	dsnA, dsnB := testenv.PostgresDSN(t), testenv.PostgresDSN(t)
	a, b := openAt(t, dsnA), openAt(t, dsnB)

	for _, dsn := range []string{dsnA, dsnB} {
		db, _, err := openDB(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		schema := schemaOf(t, dsn)
		var tables []string
		rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = $1 ORDER BY table_name`, schema)
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
				t.Errorf("schema %s has tables %v, missing %s", schema, tables, want)
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
