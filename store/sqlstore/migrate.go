package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/gatehouse-auth/gatehouse/store/migration"
)

// Open migrates db with the migrations in fsys's "migrations" directory and
// returns the store over it. On failure it closes db.
func Open(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) (*Store, error) {
	ms, err := migration.Load(fsys, "migrations")
	if err == nil {
		err = Migrate(ctx, db, d, ms)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return New(db, d), nil
}

// Migrate brings db up to date with ms in one transaction, after d's
// BeforeMigrate: a second Open of the same database waits for the first and
// then finds every version recorded and applies nothing. DDL is
// transactional in both engines, so a migration that fails leaves no
// half-made tables behind. A database migrated by a newer build, with a
// version this build does not know, is refused: writing to it could break
// the newer build's invariants.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, ms []migration.Step) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := migrate(ctx, conn{q: tx, d: d, tx: tx}, ms); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func migrate(ctx context.Context, c conn, ms []migration.Step) error {
	if err := c.d.BeforeMigrate(ctx, c.tx); err != nil {
		return err
	}
	if _, err := c.exec(ctx, c.d.MigrationsTable()); err != nil {
		return err
	}
	rows, err := c.query(ctx, `SELECT version FROM schema_migrations`)
	versions, err := collect(rows, err, func(sc scanner) (v int, err error) { return v, sc.Scan(&v) })
	if err != nil {
		return err
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[v] = true
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	for _, v := range versions {
		if !known[v] {
			return fmt.Errorf("database has schema version %d, unknown to this build (newer binary?)", v)
		}
	}
	now, err := c.d.EncodeTime(c.d.Now())
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		// Without arguments the statement goes as is, so a file of several
		// statements runs whole.
		if _, err := c.q.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := c.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, now); err != nil {
			return fmt.Errorf("migration %s: record: %w", m.Name, err)
		}
	}
	return nil
}
