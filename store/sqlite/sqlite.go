// Package sqlite is the SQLite backend of store.Store, built on the pure-Go
// modernc.org/sqlite driver so Gatehouse stays a single static binary.
//
// One database file may be opened by several processes at once (the server
// and the CLI): the file runs in WAL mode, every write transaction begins
// IMMEDIATE so two writers queue on the busy timeout instead of deadlocking on
// a lock upgrade, and migrations run inside such a transaction. The one step
// SQLite will not wait for, converting a fresh file to WAL, Open retries.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

// Store is a store.Store kept in one SQLite database file. It is safe for
// concurrent use by many goroutines, and by other processes that open the same
// file with this package.
type Store struct {
	*sqlstore.Store
	// db is the store's pool, for the tests that check what each of its
	// connections was set up with.
	db *sql.DB
}

// SharedAcrossHosts is false: a SQLite file is shared only by the
// processes of one host (see store.Sharing).
func (s *Store) SharedAcrossHosts() bool { return false }

var _ store.Sharing = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open opens the database at path, creating it (and its parent directory) if
// missing, and applies any pending migrations before returning.
//
// A new directory is made 0700 and a new file 0600: the database holds
// password hashes and key material, so it must not be readable by other local
// users even for the moment before an operator would think to chmod it.
// SQLite gives the -wal and -shm files the same mode as the database. An
// existing file's mode is left alone.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file ourselves: SQLite would create it with 0644 (less the
	// umask). O_EXCL is not used, so a second process racing us is harmless.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	if err := ensureWAL(ctx, abs); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := openDB(abs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The migrating transaction begins IMMEDIATE (see dsn), so a second
	// process opening the same fresh file waits for the first to finish
	// and then finds nothing left to do, instead of both creating the same
	// tables.
	st, err := sqlstore.Open(ctx, db, dialect{}, migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{Store: st, db: db}, nil
}

// openDB opens the pool of connections to the file at abs.
func openDB(abs string) (*sql.DB, error) {
	return sql.Open("sqlite", dsn(abs, true))
}

// dsn builds the connection string for the file at abs. It uses the file: URI
// form with an escaped path because the driver splits a plain name at its
// first '?', which would cut a path that contains one.
//
// The pragmas are per connection, so they go in the DSN for database/sql to
// apply to every pooled connection, not in a one-off Exec:
//   - busy_timeout: wait up to 10s for another writer (process) instead of
//     failing at once with SQLITE_BUSY.
//   - journal_mode=WAL: readers never block the writer nor it them.
//   - foreign_keys: off by default in SQLite; ON DELETE CASCADE needs it.
//   - synchronous=NORMAL: durable across crashes of the process in WAL mode;
//     only an OS crash or power loss can lose the last commits.
//
// _txlock=immediate makes BEGIN take the write lock up front. With the default
// DEFERRED, two transactions that both read then write can each hold a read
// lock and wait for the other forever, which SQLite breaks with SQLITE_BUSY
// regardless of the busy timeout.
//
// withWAL false leaves journal_mode out, for ensureWAL's own connection.
func dsn(abs string, withWAL bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if withWAL {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // file:///C:/x, the URI form of a Windows drive path
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// walBudget bounds how long Open retries the switch to WAL, matching the
// busy timeout every other wait gets.
const walBudget = 10 * time.Second

// ensureWAL switches the file to WAL mode, once, before the pool opens.
//
// Converting a file to WAL needs an exclusive lock, and SQLite does not run
// the busy handler for it: when two processes open the same fresh file at
// once, the loser's PRAGMA journal_mode=WAL fails at once with SQLITE_BUSY
// whatever busy_timeout says. So it is retried here with a backoff. WAL is a
// property of the file, so after this the DSN's journal_mode pragma on each
// pooled connection finds nothing to convert and takes no such lock.
func ensureWAL(ctx context.Context, abs string) error {
	db, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(walBudget)
	wait := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				// SQLite reports the mode it kept when it cannot use WAL
				// at all (no shared memory on this file system, say).
				return fmt.Errorf("journal mode is %q, could not switch to WAL", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("switch to WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
