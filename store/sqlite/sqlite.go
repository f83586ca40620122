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
	"github.com/gatehouse-auth/gatehouse/store/migration"

	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Store is a store.Store kept in one SQLite database file. It is safe for
// concurrent use by many goroutines, and by other processes that open the same
// file with this package.
type Store struct {
	db *sql.DB
}

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
	db, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	ms, err := migration.Load(migrationFiles, "migrations")
	if err == nil {
		err = migrate(ctx, db, ms)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
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

// Close releases the store's connections.
func (s *Store) Close() error {
	return s.db.Close()
}

// SharedAcrossHosts is false: a SQLite file serves the processes of one
// host (see store.Sharing).
func (s *Store) SharedAcrossHosts() bool { return false }

var _ store.Sharing = (*Store)(nil)

// timeLayout is how every time is stored: UTC and fixed width, so that string
// comparison in SQL is time comparison and nanoseconds survive.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime renders t in timeLayout. Only years 0000-9999 keep the layout's
// fixed width; encodeTime checks that for times that come from callers.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// encodeTime is formatTime for caller-supplied times, refusing those whose
// text would not sort correctly against the others.
func encodeTime(t time.Time) (string, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("sqlite: time %v outside years 0000-9999", t)
	}
	return formatTime(t), nil
}

// encodeOptionalTime stores the zero time as NULL, so "not set" stays
// distinguishable from year 1 and is never mistaken for a real bound.
func encodeOptionalTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	return encodeTime(t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: stored time %q: %w", s, err)
	}
	return t, nil
}

func parseOptionalTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// isUniqueViolation tells a taken id, email or key id apart from every other
// failure by SQLite's extended result code, which the driver always enables;
// matching the error text would break with a SQLite upgrade.
func isUniqueViolation(err error) bool {
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

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// write runs fn in one write transaction. The DSN's _txlock makes its BEGIN
// IMMEDIATE, so fn's reads see the state its writes will commit on.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// affectedOne maps an UPDATE or DELETE of a missing user to ErrNotFound.
func affectedOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// encodeAttributes refuses invalid UTF-8 because encoding/json would replace
// it with U+FFFD, and a store must give back exactly what it was given.
func encodeAttributes(attrs map[string]string) (string, error) {
	for k, v := range attrs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return "", fmt.Errorf("sqlite: attribute %q: invalid UTF-8", k)
		}
	}
	if attrs == nil {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("sqlite: attributes: %w", err)
	}
	return string(b), nil
}

// CreateUser inserts u and, on success, sets u.CreatedAt and u.UpdatedAt to
// the time the store recorded. u.Groups is ignored. A taken id or email gives
// store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.ID == "" || u.Email == "" {
		return errors.New("sqlite: create user: id and email are required")
	}
	attrs, err := encodeAttributes(u.Attributes)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ts := formatTime(now)
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users
			(id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, boolInt(u.EmailVerified), u.Name, u.PasswordHash, u.Status,
			boolInt(u.Enabled), attrs, ts, ts)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create user: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	// Reread through parseTime's precision so the caller holds exactly what a
	// later read returns (no monotonic reading, UTC).
	u.CreatedAt, _ = parseTime(ts)
	u.UpdatedAt = u.CreatedAt
	return nil
}

// userSelect reads a user and their groups in one statement, so the groups
// come from the same snapshot as the row. json_group_array is "[]" for a user
// with no groups, and its ORDER BY sorts by byte value, as Go sorts strings.
const userSelect = `SELECT id, email, email_verified, name, password_hash, status, enabled,
	attributes, created_at, updated_at,
	(SELECT json_group_array(group_name ORDER BY group_name) FROM user_groups WHERE user_id = users.id)
	FROM users`

type scanner interface {
	Scan(dest ...any) error
}

func scanUser(sc scanner) (*store.User, error) {
	var (
		u                          store.User
		attrs, created, updated, g string
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.PasswordHash, &u.Status,
		&u.Enabled, &attrs, &created, &updated, &g); err != nil {
		return nil, err
	}
	u.Attributes = map[string]string{}
	if err := json.Unmarshal([]byte(attrs), &u.Attributes); err != nil {
		return nil, fmt.Errorf("sqlite: user %s attributes: %w", u.ID, err)
	}
	// Unmarshal of "null" would leave a nil map; callers are promised non-nil.
	if u.Attributes == nil {
		u.Attributes = map[string]string{}
	}
	if err := json.Unmarshal([]byte(g), &u.Groups); err != nil {
		return nil, fmt.Errorf("sqlite: user %s groups: %w", u.ID, err)
	}
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *Store) userWhere(ctx context.Context, where string, arg string) (*store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, userSelect+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with that id, or store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	return s.userWhere(ctx, "id = ?", id)
}

// UserByEmail returns the user with exactly that email, or store.ErrNotFound.
// The email is compared byte for byte: normalizing it is the pool's job.
func (s *Store) UserByEmail(ctx context.Context, email string) (*store.User, error) {
	return s.userWhere(ctx, "email = ?", email)
}

// defaultListLimit is the page size when ListOptions.Limit is 0 (or, being
// meaningless, negative).
const defaultListLimit = 100

// ListUsers returns up to opts.Limit users whose email sorts after opts.After,
// ordered by email (byte order).
func (s *Store) ListUsers(ctx context.Context, opts store.ListOptions) ([]*store.User, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	rows, err := s.db.QueryContext(ctx, userSelect+` WHERE email > ? ORDER BY email LIMIT ?`,
		opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	users := []*store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return users, nil
}

// UpdatePassword replaces a user's password hash and status and bumps
// UpdatedAt; an unknown user gives store.ErrNotFound.
func (s *Store) UpdatePassword(ctx context.Context, userID, hash, status string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE users SET password_hash = ?, status = ?, updated_at = ? WHERE id = ?`,
			hash, status, formatTime(time.Now()), userID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("update password", err)
}

// SetEnabled enables or disables a user and bumps UpdatedAt; an unknown user
// gives store.ErrNotFound.
func (s *Store) SetEnabled(ctx context.Context, userID string, enabled bool) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE users SET enabled = ?, updated_at = ? WHERE id = ?`,
			boolInt(enabled), formatTime(time.Now()), userID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("set enabled", err)
}

// DeleteUser removes a user; their group memberships go with them through the
// foreign key's ON DELETE CASCADE. An unknown user gives store.ErrNotFound.
// Revocations naming the user are kept: they must outlive the account.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("delete user", err)
}

// wrap names the failed operation, keeping err (store.ErrNotFound among
// others) matchable with errors.Is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// AddToGroup makes the user a member of group; adding twice is not an error.
// An unknown user gives store.ErrNotFound.
func (s *Store) AddToGroup(ctx context.Context, userID, group string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Checked explicitly rather than inferred from a foreign key failure,
		// whose error does not say which constraint failed.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO user_groups (user_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			userID, group)
		return err
	})
	return wrap("add to group", err)
}

// RemoveFromGroup ends a membership; removing a non-member, or a member of an
// unknown user, is not an error.
func (s *Store) RemoveFromGroup(ctx context.Context, userID, group string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`DELETE FROM user_groups WHERE user_id = ? AND group_name = ?`, userID, group)
		return err
	})
	return wrap("remove from group", err)
}

// Revoke adds an entry to the deny list. Exactly one of r.SessionID and
// r.UserID must be set. A zero r.Expires means the entry never expires: for a
// deny list, forgetting an entry too early is a security hole, keeping it too
// long only costs a row.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	if (r.SessionID == "") == (r.UserID == "") {
		return errors.New("sqlite: revoke: exactly one of SessionID and UserID must be set")
	}
	at, err := encodeTime(r.At)
	if err != nil {
		return err
	}
	expires, err := encodeOptionalTime(r.Expires)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO revocations (session_id, user_id, at, expires) VALUES (?, ?, ?, ?)`,
			nullIfEmpty(r.SessionID), nullIfEmpty(r.UserID), at, expires)
		return err
	})
	return wrap("revoke", err)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// RevocationsSince returns the entries made at or after since that have not
// expired by now, oldest first (ties in insertion order). A zero since
// returns them all.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	lower := ""
	if !since.IsZero() {
		var err error
		if lower, err = encodeTime(since); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT session_id, user_id, at, expires FROM revocations
		WHERE at >= ? AND (expires IS NULL OR expires > ?)
		ORDER BY at, id`, lower, formatTime(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("sqlite: revocations: %w", err)
	}
	defer rows.Close()
	out := []store.Revocation{}
	for rows.Next() {
		var (
			sid, uid, expires sql.NullString
			at                string
			r                 store.Revocation
		)
		if err := rows.Scan(&sid, &uid, &at, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: revocations: %w", err)
		}
		r.SessionID, r.UserID = sid.String, uid.String
		if r.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if r.Expires, err = parseOptionalTime(expires); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: revocations: %w", err)
	}
	return out, nil
}

// PurgeRevocations forgets entries whose Expires is before now. Entries that
// never expire are kept.
func (s *Store) PurgeRevocations(ctx context.Context, now time.Time) error {
	cutoff, err := encodeTime(now)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE expires < ?`, cutoff)
		return err
	})
	return wrap("purge revocations", err)
}

// Keys returns the keys of one kind, newest CreatedAt first (ties: the one
// added last first); an unknown kind gives an empty slice, not an error.
func (s *Store) Keys(ctx context.Context, kind string) ([]store.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, material, created_at, not_after FROM keys
		WHERE kind = ? ORDER BY created_at DESC, rowid DESC`, kind)
	if err != nil {
		return nil, fmt.Errorf("sqlite: keys: %w", err)
	}
	defer rows.Close()
	out := []store.Key{}
	for rows.Next() {
		var (
			k        store.Key
			created  string
			notAfter sql.NullString
			material []byte
		)
		if err := rows.Scan(&k.Kind, &k.ID, &material, &created, &notAfter); err != nil {
			return nil, fmt.Errorf("sqlite: keys: %w", err)
		}
		// Scan into *[]byte already copies, so the slice is the caller's to
		// keep; only an empty BLOB, which comes back nil, needs normalizing.
		if material == nil {
			material = []byte{}
		}
		k.Material = material
		if k.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if k.NotAfter, err = parseOptionalTime(notAfter); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: keys: %w", err)
	}
	return out, nil
}

// AddKey stores a new key; a taken kind+ID gives store.ErrConflict. A zero
// k.CreatedAt is recorded as now, so a caller minting a key need not set it
// while one importing a key keeps its original date.
func (s *Store) AddKey(ctx context.Context, k store.Key) error {
	if k.Kind == "" || k.ID == "" {
		return errors.New("sqlite: add key: kind and id are required")
	}
	created := formatTime(time.Now())
	if !k.CreatedAt.IsZero() {
		var err error
		if created, err = encodeTime(k.CreatedAt); err != nil {
			return err
		}
	}
	notAfter, err := encodeOptionalTime(k.NotAfter)
	if err != nil {
		return err
	}
	material := k.Material
	if material == nil {
		// A nil []byte binds as NULL, which the NOT NULL column refuses.
		material = []byte{}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO keys (kind, id, material, created_at, not_after) VALUES (?, ?, ?, ?, ?)`,
			k.Kind, k.ID, material, created, notAfter)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: add key: %w", store.ErrConflict)
	}
	return wrap("add key", err)
}

// DeleteKey removes a key; store.ErrNotFound if kind+ID does not exist.
func (s *Store) DeleteKey(ctx context.Context, kind, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE kind = ? AND id = ?`, kind, id)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("delete key", err)
}

var _ store.Store = (*Store)(nil)
