package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct{}

func (dialect) Name() string { return "postgres" }

// rebound caches Rebind's results: nearly all of the store's queries are
// constants, so after the first call each is a map lookup. The few built
// per call (a filter's shape) add a bounded number of entries.
var (
	rebound      sync.Map
	reboundCount atomic.Int32
)

// maxRebound bounds the cache against an unforeseen stream of distinct
// queries; past it, Rebind still works, uncached.
const maxRebound = 1024

// Rebind numbers the placeholders: the n-th ? becomes $n. The store's SQL
// has no ? inside a literal, an identifier or an operator.
func (dialect) Rebind(query string) string {
	if q, ok := rebound.Load(query); ok {
		return q.(string)
	}
	q := rebind(query)
	if reboundCount.Add(1) <= maxRebound {
		rebound.Store(query, q)
	}
	return q
}

func rebind(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 2*n)
	i := 0
	for {
		j := strings.IndexByte(query, '?')
		if j < 0 {
			b.WriteString(query)
			return b.String()
		}
		i++
		b.WriteString(query[:j])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i))
		query = query[j+1:]
	}
}

// StatementIsTransaction: a lone statement is its own transaction.
func (dialect) StatementIsTransaction() bool { return true }

// Now is in whole microseconds, timestamptz's precision, so what a caller is
// told equals what a later read returns.
func (dialect) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// EncodeTime passes t to the driver, which keeps it to the microsecond.
func (dialect) EncodeTime(t time.Time) (any, error) { return t, nil }

func (dialect) DecodeTime(src any) (time.Time, error) {
	t, ok := src.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("postgres: stored time is %T, want timestamptz", src)
	}
	return t.UTC(), nil
}

// GroupsAgg: the column's "C" collation sorts group names by byte value, as
// Go sorts strings; json_agg of no rows is NULL, hence the COALESCE.
func (dialect) GroupsAgg() string {
	return `(SELECT COALESCE(json_agg(ug.group_name ORDER BY g.precedence NULLS LAST, ug.group_name), '[]')
		FROM user_groups ug LEFT JOIN groups g ON g.name = ug.group_name WHERE ug.user_id = users.id)`
}

// AttributeValue: ->> of json gives the value as text, NULL for no key.
func (dialect) AttributeValue() string { return `(users.attributes ->> ?)` }

// IdentitiesAgg writes created_at in UTC to the microsecond, the column's
// precision, whatever the session's time zone.
func (dialect) IdentitiesAgg() string {
	return `(SELECT COALESCE(json_agg(json_build_array(provider, provider_type, issuer, subject, is_primary::int,
		to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) ORDER BY created_at, provider), '[]')
		FROM identities WHERE user_id = users.id)`
}

func (dialect) KeyOrder() string { return "seq" }

func (dialect) RowLock(l sqlstore.RowLock) string {
	switch l {
	case sqlstore.KeyShare:
		return " FOR KEY SHARE"
	case sqlstore.NoKeyUpdate:
		return " FOR NO KEY UPDATE"
	}
	return " FOR UPDATE"
}

// Lock takes pg_advisory_xact_lock(class, hash of id) until the transaction
// ends. Every write to a user's refresh tokens holds the user's lock, so
// those writes run one after another as if serializable, while READ
// COMMITTED would let a rotation committed in the middle of a revocation
// slip a live token past it. A hash collision only makes two unrelated
// writers queue.
func (dialect) Lock(ctx context.Context, tx *sql.Tx, class sqlstore.LockClass, id string) error {
	h := fnv.New32a()
	h.Write([]byte(id))
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, int32(class), int32(h.Sum32()))
	return err
}

// LockTables takes EXCLUSIVE mode: it lets plain reads through, and also
// waits out a writer that has only locked its row so far, which a weaker
// mode would deadlock with.
func (dialect) LockTables(ctx context.Context, tx *sql.Tx, tables ...string) error {
	_, err := tx.ExecContext(ctx, `LOCK TABLE `+strings.Join(tables, ", ")+` IN EXCLUSIVE MODE`)
	return err
}

// uniqueViolation is the SQLSTATE of a taken key.
const uniqueViolation = "23505"

func (dialect) IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation
}

// IsUnavailable: the server could not be reached (a refused or failed
// connect, a connection cut mid-operation), or it says it cannot serve now
// (SQLSTATE class 08, connection exception; 53300, too many connections;
// 57P01-57P03, shutting down or starting up).
func (dialect) IsUnavailable(err error) bool {
	var (
		ne *net.OpError
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &ne), pgconn.Timeout(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, driver.ErrBadConn):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "53300" ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return false
}

func (dialect) MigrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL
	)`
}

// migrationLock is the pg_advisory_xact_lock key every Open takes while it
// migrates, so that several gateways starting at once on one database queue
// up instead of racing to create the same tables. It is one constant for the
// whole database, not per schema: migrations are rare and short, and a
// constant is easy to find in pg_locks ("gatehous" in ASCII).
const migrationLock int64 = 0x6761_7465_686f_7573

// BeforeMigrate takes migrationLock and makes sure unqualified names have
// somewhere to go. When no schema on the search_path exists, PostgreSQL's
// own error ("no schema has been selected to create in") does not say which
// setting to fix.
func (dialect) BeforeMigrate(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	var (
		schema     *string
		searchPath string
	)
	if err := tx.QueryRowContext(ctx, `SELECT current_schema(), current_setting('search_path')`).
		Scan(&schema, &searchPath); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("no schema to keep tables in: search_path " + strconv.Quote(searchPath) +
			" names no existing schema (create it, or fix search_path in the DSN)")
	}
	return nil
}
