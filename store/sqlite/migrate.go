package sqlite

import (
	"github.com/gatehouse-auth/gatehouse/store/migration"

	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate brings db up to date with ms in one write transaction. Because the
// transaction begins IMMEDIATE, a second process opening the same fresh file
// waits for the first to finish and then finds nothing left to do, instead of
// both creating the same tables.
func migrate(ctx context.Context, db *sql.DB, ms []migration.Step) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at TEXT    NOT NULL
	) STRICT`); err != nil {
		return err
	}

	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}

	// A database migrated by a newer build has a schema this build does not
	// know; writing to it could break the newer build's invariants, so refuse.
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("database has schema version %d, unknown to this build (newer binary?)", v)
		}
	}

	now := formatTime(time.Now())
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, now); err != nil {
			return fmt.Errorf("migration %s: record: %w", m.Name, err)
		}
	}
	return tx.Commit()
}
