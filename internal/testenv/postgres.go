package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv overrides the server PostgresDSN uses: a DSN (URL form) of a
// database in which the tests may create and drop schemas.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES"

// defaultPostgres is the local server the tests expect: user postgres with
// trust authentication, database test.
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN creates a fresh, uniquely named schema for the test and returns
// a DSN whose search_path selects it, so that a store opened on it starts
// empty and sees nothing of other tests, even ones running at the same time
// in other packages. The schema and everything in it is dropped when the
// test ends.
//
// When PostgreSQL cannot be reached the test fails if CI=true (a CI job that
// is meant to run these tests must not pass by skipping them) and is skipped
// otherwise.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		base = defaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "PostgreSQL not reachable at %s: %v (start it, or set %s to a DSN)"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, u.Redacted(), err, PostgresEnv)
		}
		t.Skipf(msg, u.Redacted(), err, PostgresEnv)
	}
	defer conn.Close(ctx)

	b := make([]byte, 8)
	rand.Read(b)
	schema := "gatehouse_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// A fresh connection: the test's own may be closed or broken by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
