package postgres

import (
	"github.com/gatehouse-auth/gatehouse/store/migration"

	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the pg_advisory_xact_lock key every Open takes while it
// migrates, so that several gateways starting at once on one database queue
// up instead of racing to create the same tables. It is one constant for the
// whole database, not per schema: migrations are rare and short, and a
// constant is easy to find in pg_locks ("gatehous" in ASCII).
const migrationLock int64 = 0x6761_7465_686f_7573

// migrate brings the connection's current schema up to date with ms in one
// transaction holding migrationLock. A second Open waits on the lock, then
// finds every version recorded and applies nothing. DDL is transactional in
// PostgreSQL, so a migration that fails leaves no half-made tables behind.
func migrate(ctx context.Context, db *pgxpool.Pool, ms []migration.Step) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if err := checkSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}

		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		applied := map[int]bool{}
		for _, v := range versions {
			applied[v] = true
		}

		// A schema migrated by a newer build is one this build does not
		// know; writing to it could break the newer build's invariants.
		known := map[int]bool{}
		for _, m := range ms {
			known[m.Version] = true
		}
		for _, v := range versions {
			if !known[v] {
				return fmt.Errorf("database has schema version %d, unknown to this build (newer binary?)", v)
			}
		}

		now := time.Now()
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			// Without arguments pgx uses the simple protocol, which runs a
			// file of several statements as is.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, now); err != nil {
				return fmt.Errorf("migration %s: record: %w", m.Name, err)
			}
		}
		return nil
	})
}

// checkSchema makes sure unqualified names have somewhere to go. When no
// schema on the search_path exists, PostgreSQL's own error ("no schema has
// been selected to create in") does not say which setting to fix.
func checkSchema(ctx context.Context, tx pgx.Tx) error {
	var (
		schema     *string
		searchPath string
	)
	if err := tx.QueryRow(ctx, `SELECT current_schema(), current_setting('search_path')`).
		Scan(&schema, &searchPath); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("no schema to keep tables in: search_path " + strconv.Quote(searchPath) +
			" names no existing schema (create it, or fix search_path in the DSN)")
	}
	return nil
}
