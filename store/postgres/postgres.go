// Package postgres is the PostgreSQL backend of store.Store, for several
// gateway instances sharing one pool. It runs package sqlstore over
// database/sql with pgx's driver.
//
// Open takes a libpq-style DSN (URL or key=value). Tables live in the
// connection's current schema, the first existing schema of its search_path,
// so one database can hold several pools side by side:
//
//	postgres://gatehouse@db.internal:5432/auth?sslmode=verify-full&search_path=pool_default
//
// Every method is one transaction at PostgreSQL's default READ COMMITTED
// isolation. Where a method reads before it writes, it locks what it read (a
// row with FOR UPDATE, or a user's refresh tokens with an advisory lock) so
// that concurrent callers, in this process or another, queue instead of
// acting on the same stale read.
//
// Times are kept as timestamptz, to the microsecond: a time handed to the
// store comes back truncated to whole microseconds, and the times the store
// sets itself are whole microseconds already.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

// Store is a store.Store kept in one PostgreSQL schema. It is safe for
// concurrent use by many goroutines, and by other processes that open the
// same schema with this package.
type Store struct {
	*sqlstore.Store
}

// SharedAcrossHosts is true: instances on several hosts may share one
// database (see store.Sharing).
func (s *Store) SharedAcrossHosts() bool { return true }

var _ store.Sharing = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open connects to the database named by dsn and applies any pending
// migrations to the connection's current schema before returning. The
// schema must exist; Open creates the tables in it, not the schema itself.
//
// The DSN's pool settings are read as pgxpool reads them, with its
// defaults: pool_max_conns (at least 4, else the number of CPUs),
// pool_max_conn_lifetime (1h) and pool_max_conn_idle_time (30m) bound
// database/sql's pool. database/sql keeps no minimum of open connections,
// so pool_min_conns and pool_min_idle_conns have no effect; instead of a
// periodic health check it pings a connection idle for over a second before
// reusing it.
//
// Errors never repeat the DSN's password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	db, cfg, err := openDB(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	st, err := sqlstore.Open(ctx, db, dialect{}, migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	return &Store{st}, nil
}

// openDB opens a database/sql pool bounded by the DSN's pool settings.
func openDB(dsn string) (*sql.DB, *pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	return db, cfg, nil
}

// describe names the database for error messages without its password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	s := fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	if sp := c.RuntimeParams["search_path"]; sp != "" {
		s += " (search_path " + sp + ")"
	}
	return s
}
