package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

// dialect is SQLite's sqlstore.Dialect. Every write transaction holds the
// database's write lock from its BEGIN (the DSN's _txlock), so there is
// nothing finer to lock: row locks and advisory locks are no-ops.
type dialect struct{}

func (dialect) Name() string               { return "sqlite" }
func (dialect) Rebind(query string) string { return query }

// Now keeps nanoseconds: the text form stores them all.
func (dialect) Now() time.Time { return time.Now().UTC() }

// timeLayout is how every time is stored: UTC and fixed width, so that string
// comparison in SQL is time comparison and nanoseconds survive.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// EncodeTime renders t in timeLayout, refusing a time whose text would not
// sort correctly against the others: only years 0000-9999 keep the layout's
// fixed width.
func (dialect) EncodeTime(t time.Time) (any, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("sqlite: time %v outside years 0000-9999", t)
	}
	return t.UTC().Format(timeLayout), nil
}

func (dialect) DecodeTime(src any) (time.Time, error) {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return time.Time{}, fmt.Errorf("sqlite: stored time is %T, want text", src)
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: stored time %q: %w", s, err)
	}
	return t, nil
}

func (dialect) RowLock(sqlstore.RowLock) string { return "" }

func (dialect) Lock(context.Context, *sql.Tx, sqlstore.LockClass, string) error { return nil }

func (dialect) LockTables(context.Context, *sql.Tx, ...string) error { return nil }

// IsUniqueViolation tells a taken id, email or key id apart from every other
// failure by SQLite's extended result code, which the driver always enables;
// matching the error text would break with a SQLite upgrade.
func (dialect) IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// IsUnavailable: another connection held the lock past the busy timeout
// (SQLITE_BUSY, SQLITE_LOCKED), or the wait was interrupted when the
// operation's deadline passed (SQLITE_INTERRUPT).
func (dialect) IsUnavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
		return true
	}
	return false
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// GroupsAgg: json_group_array is "[]" for a user with no groups, and its
// ORDER BY sorts names by byte value, as Go sorts strings; "precedence IS
// NULL" first puts groups without one last.
func (dialect) GroupsAgg() string {
	return `(SELECT json_group_array(ug.group_name ORDER BY g.precedence IS NULL, g.precedence, ug.group_name)
		FROM user_groups ug LEFT JOIN groups g ON g.name = ug.group_name WHERE ug.user_id = users.id)`
}

// AttributeValue looks the key up with json_each rather than a JSON path,
// so no key needs quoting.
func (dialect) AttributeValue() string {
	return `(SELECT value FROM json_each(users.attributes) WHERE key = ?)`
}

// IdentitiesAgg: created_at is stored as RFC 3339 text already.
func (dialect) IdentitiesAgg() string {
	return `(SELECT json_group_array(json_array(provider, provider_type, issuer, subject, is_primary, created_at)
		ORDER BY created_at, provider) FROM identities WHERE user_id = users.id)`
}

func (dialect) KeyOrder() string { return "rowid" }

// StatementIsTransaction is false: a statement outside a transaction would
// begin DEFERRED, and upgrading its read lock can fail with SQLITE_BUSY
// without waiting on the busy timeout.
func (dialect) StatementIsTransaction() bool { return false }

func (dialect) MigrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	) STRICT`
}

func (dialect) BeforeMigrate(context.Context, *sql.Tx) error { return nil }
