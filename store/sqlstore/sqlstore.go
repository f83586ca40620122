// Package sqlstore is store.Store written once over database/sql. Each SQL
// backend (store/sqlite, store/postgres) opens its database, runs its own
// migrations, and hands New a Dialect: the few things in which the engines
// differ (placeholders, how a time is kept, how a transaction locks what it
// reads, which error is a unique violation). Every operation, and so every
// security rule (a replayed refresh token revoking its family, a code that
// dies after too many wrong tries), exists here once.
//
// Every method is one transaction. SQLite's transactions take the database's
// write lock at BEGIN, so a method's reads see the state its writes commit
// on; PostgreSQL runs at READ COMMITTED, so where a method reads before it
// writes it locks what it read (a row, or an advisory lock on a user's
// refresh tokens) through the dialect, and concurrent callers, in this
// process or another, queue instead of acting on the same stale read.
//
// All SQL here is written with ? placeholders; the dialect rewrites them.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/store"
)

// RowLock is how strongly a transaction holds a row it read. On an engine
// whose transactions already hold the whole database (SQLite) every
// strength is the empty clause.
type RowLock int

const (
	// KeyShare keeps the row from being deleted or its key changed: what a
	// foreign key check holds (PostgreSQL's FOR KEY SHARE).
	KeyShare RowLock = iota
	// NoKeyUpdate makes other writers of the row wait, but not inserts that
	// refer to it (FOR NO KEY UPDATE).
	NoKeyUpdate
	// Update makes every other locker of the row wait (FOR UPDATE).
	Update
)

// LockClass names what an advisory lock protects.
type LockClass int32

const (
	// LockUserTokens serializes the writes to one user's refresh tokens.
	LockUserTokens LockClass = 0x67680001
	// LockFamily serializes the creation of one refresh-token family.
	LockFamily LockClass = 0x67680002
)

// Dialect is what one SQL engine does its own way.
type Dialect interface {
	// Name prefixes error messages ("sqlite", "postgres").
	Name() string
	// Rebind rewrites the ? placeholders of query into the engine's own.
	Rebind(query string) string
	// Now is the store's clock for the times it sets, at the precision the
	// engine keeps, so that what a caller is told equals a later read.
	Now() time.Time
	// EncodeTime turns a non-zero time into a query argument, refusing one
	// the engine cannot keep in order.
	EncodeTime(t time.Time) (any, error)
	// DecodeTime reads back what EncodeTime stored (never NULL).
	DecodeTime(src any) (time.Time, error)
	// RowLock is the clause that, appended to a SELECT, holds its rows
	// with strength l until the transaction ends: "" or " FOR ...".
	RowLock(l RowLock) string
	// Lock takes the advisory lock (class, id) until tx ends.
	Lock(ctx context.Context, tx *sql.Tx, class LockClass, id string) error
	// LockTables keeps other writers out of tables until tx ends, while
	// plain reads go on.
	LockTables(ctx context.Context, tx *sql.Tx, tables ...string) error
	// IsUniqueViolation tells a taken key apart from every other failure.
	IsUniqueViolation(err error) bool
	// IsUnavailable tells a failure of reaching the database (a refused or
	// broken connection, a lock held by another process past the busy
	// timeout) apart from a failure of the operation itself.
	IsUnavailable(err error) bool
	// GroupsAgg is a subquery giving the JSON array of a users row's
	// group names in precedence order (lowest first, none last, ties by
	// name in byte order), "[]" for none.
	GroupsAgg() string
	// AttributeValue is an expression with one ? placeholder, bound to a
	// key, giving a users row's attribute of that key as text, NULL when
	// the user has none.
	AttributeValue() string
	// IdentitiesAgg is a subquery giving the JSON array of a users row's
	// identities, oldest first (ties by provider), "[]" for none: each an
	// array [provider, provider_type, issuer, subject, is_primary as 0 or
	// 1, created_at as RFC 3339 text in UTC].
	IdentitiesAgg() string
	// KeyOrder is the column that orders keys added at the same CreatedAt
	// by when they were added.
	KeyOrder() string
	// StatementIsTransaction says whether one statement outside a
	// transaction is as safe as one inside it; where it is, single-statement
	// writes skip BEGIN and COMMIT.
	StatementIsTransaction() bool

	// MigrationsTable creates schema_migrations (version, name,
	// applied_at) if it does not exist.
	MigrationsTable() string
	// BeforeMigrate runs first in the migrating transaction: whatever
	// makes a second Open wait for the first, and checks of where the
	// tables will go.
	BeforeMigrate(ctx context.Context, tx *sql.Tx) error
}

// Store is store.Store kept in one SQL database. It is safe for concurrent
// use by many goroutines, and by other processes that open the same
// database.
type Store struct {
	db *sql.DB
	d  Dialect
	// timeout bounds every operation (see op).
	timeout time.Duration
	// observe, when set, is told each operation's name and duration.
	observe func(op string, d time.Duration)
	// The user reads, built once: they are the store's most frequent
	// queries (every sign-in, every token refresh).
	userByID, userByEmail, userList, userByIdentity string
	userByUsername, userByPhone                     string
	// aliases is which sign-in aliases' keys the user writes keep
	// (aliases.go).
	aliases aliasKinds
	// userSelect is the start of every user read, for the reads whose
	// WHERE is built per call.
	userSelect string
}

// New returns the store over db, which the caller has migrated and keeps
// owning: Close closes it.
func New(db *sql.DB, d Dialect) *Store {
	// userSelect reads a user and their groups in one statement, so the
	// groups come from the same snapshot as the row.
	// The identities come the same way: a user without any costs one
	// probe of the identities index.
	userSelect := `SELECT id, email, email_verified, name, password_hash, status, enabled,
		attributes, created_at, updated_at, ` + d.GroupsAgg() + `, ` + d.IdentitiesAgg() + ` FROM users`
	return &Store{db: db, d: d, timeout: DefaultTimeout, userSelect: userSelect,
		userByID:       userSelect + ` WHERE id = ?`,
		userByEmail:    userSelect + ` WHERE email = ?`,
		userByUsername: userSelect + ` WHERE username_key = ?`,
		userByPhone:    userSelect + ` WHERE phone_key = ?`,
		userList:       userSelect + ` WHERE email > ? ORDER BY email LIMIT ?`,
		userByIdentity: userSelect +
			` WHERE id = (SELECT user_id FROM identities WHERE provider = ? AND subject = ?)`,
	}
}

// DefaultTimeout is how long an operation may take before it fails with
// store.ErrUnavailable, when SetTimeout has not said otherwise: far above
// what a healthy database needs, far below what a person waits for a page.
const DefaultTimeout = 5 * time.Second

// SetTimeout sets the deadline of every later operation; d <= 0 restores
// DefaultTimeout. Call it before the store is shared.
func (s *Store) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	s.timeout = d
}

// SetObserver makes the store tell observe the name and duration of every
// operation it runs (the store.Store method's name, a fixed set), failed
// ones included: package metrics keeps them as a latency histogram. Timing
// happens here, once for every SQL backend. Call it before the store is
// shared; observe must be safe for concurrent use and quick.
func (s *Store) SetObserver(observe func(op string, d time.Duration)) {
	s.observe = observe
}

// op bounds one operation, named name (its method's name): it returns the
// caller's ctx with the store's timeout, and a func, to defer, that ends it
// and turns a failure to reach the database (the deadline, a refused
// connection, a lock held elsewhere) into store.ErrUnavailable. A hung
// database thus costs a caller at most the timeout, and every caller can
// tell "try again" from "broken" with errors.Is, whichever engine is behind.
// The operation's duration goes to the observer (SetObserver).
func (s *Store) op(ctx context.Context, name string, err *error) (context.Context, func()) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return ctx, func() {
		if e := *err; e != nil && !errors.Is(e, store.ErrUnavailable) &&
			(errors.Is(e, context.DeadlineExceeded) || s.d.IsUnavailable(e)) {
			*err = fmt.Errorf("%w: %w", store.ErrUnavailable, e)
		}
		cancel()
		if s.observe != nil {
			s.observe(name, time.Since(start))
		}
	}
}

// Close releases the store's connections.
func (s *Store) Close() error {
	return s.db.Close()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs ?-placeholder SQL on a database or a transaction.
type conn struct {
	q querier
	d Dialect
	// tx is the transaction, nil when q is the database itself.
	tx *sql.Tx
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.Rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.Rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.Rebind(query), args...)
}

// execOne runs an UPDATE or DELETE that must hit a row, mapping "no such
// row" to store.ErrNotFound.
func (c conn) execOne(ctx context.Context, query string, args ...any) error {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// lockRow is the dialect's clause for strength l, with a leading space.
func (c conn) lockRow(l RowLock) string {
	return c.d.RowLock(l)
}

// read is the connection for reads outside a transaction: one statement
// reads one snapshot.
func (s *Store) read() conn {
	return conn{q: s.db, d: s.d}
}

// write runs fn in one transaction, committed if fn returns nil and rolled
// back otherwise. Neither engine needs a retry: SQLite's BEGIN waits out
// other writers on its busy timeout, and at PostgreSQL's READ COMMITTED a
// transaction that locks what it read is never failed for serialization
// (the locks are taken in one order, user before row, so they do not
// deadlock). A retry would also have to reset what fn reported to its
// caller.
func (s *Store) write(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(conn{q: tx, d: s.d, tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// writeOne runs one statement as its own transaction: alone where the
// engine makes a statement atomic by itself, in write otherwise.
func (s *Store) writeOne(ctx context.Context, fn func(c conn) error) error {
	if s.d.StatementIsTransaction() {
		return fn(s.read())
	}
	return s.write(ctx, fn)
}

// lock takes the dialect's advisory lock; c must be in a transaction.
func (s *Store) lock(ctx context.Context, c conn, class LockClass, id string) error {
	return s.d.Lock(ctx, c.tx, class, id)
}

// wrap names the failed operation, keeping err (store.ErrNotFound among
// others) matchable with errors.Is.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name(), op, err)
}

// wrapConflict is wrap with a unique violation reported as
// store.ErrConflict.
func (s *Store) wrapConflict(op string, err error) error {
	if s.d.IsUniqueViolation(err) {
		err = store.ErrConflict
	}
	return s.wrap(op, err)
}

// invalid is the plain validation error of op.
func (s *Store) invalid(op, msg string) error {
	return fmt.Errorf("%s: %s: %s", s.d.Name(), op, msg)
}

// time encodes a caller's non-zero time.
func (s *Store) time(t time.Time) (any, error) {
	return s.d.EncodeTime(t)
}

// optionalTime stores the zero time as NULL, so "not set" stays
// distinguishable from year 1 and is never mistaken for a real bound.
func (s *Store) optionalTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	return s.d.EncodeTime(t)
}

// timeOr encodes t, or the store's now if t is zero: a caller minting
// something need not date it, one importing it keeps its date.
func (s *Store) timeOr(t time.Time) (any, error) {
	if t.IsZero() {
		t = s.d.Now()
	}
	return s.d.EncodeTime(t)
}

// times collects the encodings of several times, stopping at the first
// refused one, so that an operation checks its inputs in one place.
type times struct {
	s   *Store
	err error
}

func (ts *times) enc(t time.Time) any {
	if ts.err != nil {
		return nil
	}
	v, err := ts.s.time(t)
	ts.err = err
	return v
}

func (ts *times) opt(t time.Time) any {
	if ts.err != nil {
		return nil
	}
	v, err := ts.s.optionalTime(t)
	ts.err = err
	return v
}

func (ts *times) or(t time.Time) any {
	if ts.err != nil {
		return nil
	}
	v, err := ts.s.timeOr(t)
	ts.err = err
	return v
}

// timeDest scans a time column, NULL as the zero time.
type timeDest struct {
	d Dialect
	t *time.Time
}

func (td timeDest) Scan(src any) error {
	if src == nil {
		*td.t = time.Time{}
		return nil
	}
	t, err := td.d.DecodeTime(src)
	if err != nil {
		return err
	}
	*td.t = t
	return nil
}

// tm is the scan destination for a time column.
func (s *Store) tm(t *time.Time) sql.Scanner {
	return timeDest{d: s.d, t: t}
}

// nullIfEmpty stores "" as NULL, for columns where only one of two is set.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encodeMap refuses invalid UTF-8 because encoding/json would replace it
// with U+FFFD, and a store must give back exactly what it was given.
func (s *Store) encodeMap(what string, m map[string]string) (string, error) {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return "", fmt.Errorf("%s: %s %q: invalid UTF-8", s.d.Name(), what, k)
		}
	}
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.d.Name(), what, err)
	}
	return string(b), nil
}

// decodeMap reads encodeMap's form back, never as a nil map (callers are
// promised non-nil, and "null" would unmarshal to nil).
func decodeMap(what string, raw []byte) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("stored %s: %w", what, err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// encodeList stores a list as a JSON array; nil and empty both become "[]".
// Like encodeMap it refuses invalid UTF-8.
func (s *Store) encodeList(what string, list []string) (string, error) {
	for _, v := range list {
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("%s: %s %q: invalid UTF-8", s.d.Name(), what, v)
		}
	}
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.d.Name(), what, err)
	}
	return string(b), nil
}

// decodeList reads encodeList's form back; an empty list comes back empty,
// not nil.
func decodeList(what string, raw []byte) ([]string, error) {
	list := []string{}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("stored %s: %w", what, err)
	}
	if list == nil { // "null"
		list = []string{}
	}
	return list, nil
}

// nonNil binds a nil []byte as an empty one: nil would bind as NULL, which
// the NOT NULL columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row of rows with scan, closing rows; none gives an
// empty, non-nil slice.
func collect[T any](rows *sql.Rows, err error, scan func(sc scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// notFound maps sql.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// requireUser gives store.ErrNotFound for an unknown user, and otherwise
// holds the user's row with strength l until the transaction ends, so no
// DeleteUser comes between the check and the writes that depend on it.
// Checked explicitly rather than inferred from a foreign key failure, so
// that every engine reports the same error, and a taken id is only reported
// for a user that exists.
func requireUser(ctx context.Context, c conn, userID string, l RowLock) error {
	var one int
	return notFound(c.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`+c.lockRow(l), userID).Scan(&one))
}

var _ store.Store = (*Store)(nil)
