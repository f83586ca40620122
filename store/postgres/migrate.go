package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
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

// migration is one schema step, identified by the number its file name starts
// with; that number, not the name, is what schema_migrations records, so a
// file may be renamed without being applied again.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads dir of fsys and returns its NNNN_name.sql files in
// version order. It refuses malformed names and duplicate versions rather than
// guess, since a silently skipped migration would surface much later as a
// missing column.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate brings the connection's current schema up to date with ms in one
// transaction holding migrationLock. A second Open waits on the lock, then
// finds every version recorded and applies nothing. DDL is transactional in
// PostgreSQL, so a migration that fails leaves no half-made tables behind.
func migrate(ctx context.Context, db *pgxpool.Pool, ms []migration) error {
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
			known[m.version] = true
		}
		for _, v := range versions {
			if !known[v] {
				return fmt.Errorf("database has schema version %d, unknown to this build (newer binary?)", v)
			}
		}

		now := time.Now()
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			// Without arguments pgx uses the simple protocol, which runs a
			// file of several statements as is.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, now); err != nil {
				return fmt.Errorf("migration %s: record: %w", m.name, err)
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
