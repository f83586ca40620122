// Package postgres is the PostgreSQL backend of store.Store, for several
// gateway instances sharing one pool. It is built on pgx's connection pool.
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
	"github.com/gatehouse-auth/gatehouse/store/migration"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Store is a store.Store kept in one PostgreSQL schema. It is safe for
// concurrent use by many goroutines, and by other processes that open the
// same schema with this package.
type Store struct {
	db *pgxpool.Pool
}

// Open connects to the database named by dsn and applies any pending
// migrations to the connection's current schema before returning. The
// schema must exist; Open creates the tables in it, not the schema itself.
// pgxpool's own DSN settings (pool_max_conns and the like) are honoured.
//
// Errors never repeat the DSN's password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ms, err := migration.Load(migrationFiles, "migrations")
	if err == nil {
		err = migrate(ctx, db, ms)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	return &Store{db: db}, nil
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

// Close releases the store's connections.
func (s *Store) Close() error {
	s.db.Close()
	return nil
}

// SharedAcrossHosts is true: instances on several hosts may share one
// database (see store.Sharing).
func (s *Store) SharedAcrossHosts() bool { return true }

var _ store.Sharing = (*Store)(nil)

// SQLSTATE codes the store tells apart.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// write runs fn in one transaction, committed if fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.db, fn)
}

// wrap names the failed operation, keeping err (store.ErrNotFound among
// others) matchable with errors.Is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// now is the store's clock for the times it sets: whole microseconds, so
// what a caller is told equals what a later read returns.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// optionalTime stores the zero time as NULL, so "not set" stays
// distinguishable from year 1 and is never mistaken for a real bound.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromOptional(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// encodeAttributes refuses invalid UTF-8 because encoding/json would replace
// it with U+FFFD, and a store must give back exactly what it was given.
func encodeAttributes(attrs map[string]string) (string, error) {
	for k, v := range attrs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return "", fmt.Errorf("postgres: attribute %q: invalid UTF-8", k)
		}
	}
	if attrs == nil {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("postgres: attributes: %w", err)
	}
	return string(b), nil
}

// CreateUser inserts u and, on success, sets u.CreatedAt and u.UpdatedAt to
// the time the store recorded. u.Groups is ignored. A taken id or email gives
// store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.ID == "" || u.Email == "" {
		return errors.New("postgres: create user: id and email are required")
	}
	attrs, err := encodeAttributes(u.Attributes)
	if err != nil {
		return err
	}
	ts := now()
	_, err = s.db.Exec(ctx, `INSERT INTO users
		(id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		u.ID, u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Status, u.Enabled, attrs, ts)
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("postgres: create user: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = ts, ts
	return nil
}

// userSelect reads a user and their groups in one statement, so the groups
// come from the same snapshot as the row. The column's "C" collation sorts
// group names by byte value, as Go sorts strings; ARRAY() of no rows is an
// empty array, not NULL.
const userSelect = `SELECT id, email, email_verified, name, password_hash, status, enabled,
	attributes, created_at, updated_at,
	ARRAY(SELECT group_name FROM user_groups WHERE user_id = users.id ORDER BY group_name)
	FROM users`

func scanUser(row pgx.Row) (*store.User, error) {
	var (
		u     store.User
		attrs []byte
	)
	if err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.PasswordHash, &u.Status,
		&u.Enabled, &attrs, &u.CreatedAt, &u.UpdatedAt, &u.Groups); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(attrs, &u.Attributes); err != nil {
		return nil, fmt.Errorf("user %s attributes: %w", u.ID, err)
	}
	// Unmarshal of "null" would leave a nil map; callers are promised non-nil.
	if u.Attributes == nil {
		u.Attributes = map[string]string{}
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

func (s *Store) userWhere(ctx context.Context, where, arg string) (*store.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, userSelect+" WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: read user: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with that id, or store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	return s.userWhere(ctx, "id = $1", id)
}

// UserByEmail returns the user with exactly that email, or store.ErrNotFound.
// The email is compared byte for byte: normalizing it is the pool's job.
func (s *Store) UserByEmail(ctx context.Context, email string) (*store.User, error) {
	return s.userWhere(ctx, "email = $1", email)
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
	rows, err := s.db.Query(ctx, userSelect+` WHERE email > $1 ORDER BY email LIMIT $2`, opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	if users == nil {
		users = []*store.User{}
	}
	return users, nil
}

// execOne runs a single-row UPDATE or DELETE, mapping "no such row" to
// store.ErrNotFound. One statement is its own transaction.
func (s *Store) execOne(ctx context.Context, op, sql string, args ...any) error {
	tag, err := s.db.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	return wrap(op, err)
}

// UpdatePassword replaces a user's password hash and status and bumps
// UpdatedAt; an unknown user gives store.ErrNotFound.
func (s *Store) UpdatePassword(ctx context.Context, userID, hash, status string) error {
	return s.execOne(ctx, "update password",
		`UPDATE users SET password_hash = $1, status = $2, updated_at = $3 WHERE id = $4`,
		hash, status, now(), userID)
}

// SetEnabled enables or disables a user and bumps UpdatedAt; an unknown user
// gives store.ErrNotFound.
func (s *Store) SetEnabled(ctx context.Context, userID string, enabled bool) error {
	return s.execOne(ctx, "set enabled",
		`UPDATE users SET enabled = $1, updated_at = $2 WHERE id = $3`, enabled, now(), userID)
}

// DeleteUser removes a user; their group memberships go with them through the
// foreign key's ON DELETE CASCADE. An unknown user gives store.ErrNotFound.
// Revocations naming the user are kept: they must outlive the account.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	return s.execOne(ctx, "delete user", `DELETE FROM users WHERE id = $1`, userID)
}

// AddToGroup makes the user a member of group; adding twice is not an error.
// An unknown user gives store.ErrNotFound. The foreign key is the existence
// check: unlike a SELECT first, it also holds against a concurrent
// DeleteUser, and PostgreSQL names the violated constraint by its code.
func (s *Store) AddToGroup(ctx context.Context, userID, group string) error {
	_, err := s.db.Exec(ctx,
		`INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		userID, group)
	if hasCode(err, foreignKeyViolation) {
		err = store.ErrNotFound
	}
	return wrap("add to group", err)
}

// RemoveFromGroup ends a membership; removing a non-member, or a member of an
// unknown user, is not an error.
func (s *Store) RemoveFromGroup(ctx context.Context, userID, group string) error {
	_, err := s.db.Exec(ctx,
		`DELETE FROM user_groups WHERE user_id = $1 AND group_name = $2`, userID, group)
	return wrap("remove from group", err)
}

// Revoke adds an entry to the deny list. Exactly one of r.SessionID and
// r.UserID must be set. A zero r.Expires means the entry never expires: for a
// deny list, forgetting an entry too early is a security hole, keeping it too
// long only costs a row.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	if (r.SessionID == "") == (r.UserID == "") {
		return errors.New("postgres: revoke: exactly one of SessionID and UserID must be set")
	}
	_, err := s.db.Exec(ctx,
		`INSERT INTO revocations (session_id, user_id, at, expires) VALUES ($1, $2, $3, $4)`,
		nullIfEmpty(r.SessionID), nullIfEmpty(r.UserID), r.At, optionalTime(r.Expires))
	return wrap("revoke", err)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RevocationsSince returns the entries made at or after since that have not
// expired by now, oldest first (ties in insertion order). A zero since
// returns them all.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time) ([]store.Revocation, error) {
	rows, err := s.db.Query(ctx, `SELECT session_id, user_id, at, expires FROM revocations
		WHERE ($1::timestamptz IS NULL OR at >= $1) AND (expires IS NULL OR expires > $2)
		ORDER BY at, id`, optionalTime(since), time.Now())
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Revocation, error) {
		var (
			r        store.Revocation
			sid, uid *string
			expires  *time.Time
		)
		if err := row.Scan(&sid, &uid, &r.At, &expires); err != nil {
			return r, err
		}
		if sid != nil {
			r.SessionID = *sid
		}
		if uid != nil {
			r.UserID = *uid
		}
		r.At = r.At.UTC()
		r.Expires = fromOptional(expires)
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: revocations: %w", err)
	}
	if out == nil {
		out = []store.Revocation{}
	}
	return out, nil
}

// PurgeRevocations forgets entries whose Expires is before now. Entries that
// never expire are kept.
func (s *Store) PurgeRevocations(ctx context.Context, now time.Time) error {
	_, err := s.db.Exec(ctx, `DELETE FROM revocations WHERE expires < $1`, now)
	return wrap("purge revocations", err)
}

// Keys returns the keys of one kind, newest CreatedAt first (ties: the one
// added last first); an unknown kind gives an empty slice, not an error.
func (s *Store) Keys(ctx context.Context, kind string) ([]store.Key, error) {
	rows, err := s.db.Query(ctx, `SELECT kind, id, material, created_at, not_after FROM keys
		WHERE kind = $1 ORDER BY created_at DESC, seq DESC`, kind)
	if err != nil {
		return nil, fmt.Errorf("postgres: keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Key, error) {
		var (
			k        store.Key
			notAfter *time.Time
		)
		// pgx copies a bytea into a fresh slice, so Material is the caller's
		// to keep.
		if err := row.Scan(&k.Kind, &k.ID, &k.Material, &k.CreatedAt, &notAfter); err != nil {
			return k, err
		}
		if k.Material == nil {
			k.Material = []byte{}
		}
		k.CreatedAt = k.CreatedAt.UTC()
		k.NotAfter = fromOptional(notAfter)
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: keys: %w", err)
	}
	if out == nil {
		out = []store.Key{}
	}
	return out, nil
}

// AddKey stores a new key; a taken kind+ID gives store.ErrConflict. A zero
// k.CreatedAt is recorded as now, so a caller minting a key need not set it
// while one importing a key keeps its original date.
func (s *Store) AddKey(ctx context.Context, k store.Key) error {
	if k.Kind == "" || k.ID == "" {
		return errors.New("postgres: add key: kind and id are required")
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = now()
	}
	material := k.Material
	if material == nil {
		// A nil []byte binds as NULL, which the NOT NULL column refuses.
		material = []byte{}
	}
	_, err := s.db.Exec(ctx,
		`INSERT INTO keys (kind, id, material, created_at, not_after) VALUES ($1, $2, $3, $4, $5)`,
		k.Kind, k.ID, material, created, optionalTime(k.NotAfter))
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("postgres: add key: %w", store.ErrConflict)
	}
	return wrap("add key", err)
}

// DeleteKey removes a key; store.ErrNotFound if kind+ID does not exist.
func (s *Store) DeleteKey(ctx context.Context, kind, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM keys WHERE kind = $1 AND id = $2`, kind, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	return wrap("delete key", err)
}

var _ store.Store = (*Store)(nil)
