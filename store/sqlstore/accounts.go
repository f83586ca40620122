package sqlstore

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// CreateUser inserts u and, on success, sets u.CreatedAt and u.UpdatedAt to
// the time the store recorded. u.Groups and u.Identities are ignored. A
// taken id or email gives store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *store.User) (err error) {
	ctx, done := s.op(ctx, "CreateUser", &err)
	defer done()
	const op = "create user"
	ins, err := s.userInsert(op, u)
	if err != nil {
		return err
	}
	if err := s.writeOne(ctx, func(c conn) error { return ins.exec(ctx, c) }); err != nil {
		return s.wrapConflict(op, err)
	}
	ins.done(u)
	return nil
}

// userInsert is a user checked and encoded for its INSERT.
type userInsert struct {
	u                     *store.User
	attrs                 string
	now                   time.Time
	ts                    any
	usernameKey, phoneKey any
}

func (s *Store) userInsert(op string, u *store.User) (userInsert, error) {
	if u.ID == "" || u.Email == "" {
		return userInsert{}, s.invalid(op, "id and email are required")
	}
	attrs, err := s.encodeMap("attribute", u.Attributes)
	if err != nil {
		return userInsert{}, err
	}
	now := s.d.Now()
	ts, err := s.time(now)
	if err != nil {
		return userInsert{}, err
	}
	un, ph := s.aliases.keys(u.Attributes)
	return userInsert{u: u, attrs: attrs, now: now, ts: ts, usernameKey: un, phoneKey: ph}, nil
}

func (in userInsert) exec(ctx context.Context, c conn) error {
	u := in.u
	if in.usernameKey == nil && in.phoneKey == nil {
		// No alias: the columns' default (NULL), and the statement of
		// every schema since 0001.
		_, err := c.exec(ctx, `INSERT INTO users
			(id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Status, u.Enabled, in.attrs, in.ts, in.ts)
		return err
	}
	_, err := c.exec(ctx, `INSERT INTO users
		(id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at,
		 username_key, phone_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Status, u.Enabled, in.attrs, in.ts, in.ts,
		in.usernameKey, in.phoneKey)
	return err
}

// done tells the caller what the store recorded.
func (in userInsert) done(u *store.User) { u.CreatedAt, u.UpdatedAt = in.now, in.now }

func (s *Store) scanUser(sc scanner) (*store.User, error) {
	var (
		u              store.User
		attrs, gs, ids []byte
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Name, &u.PasswordHash, &u.Status,
		&u.Enabled, &attrs, s.tm(&u.CreatedAt), s.tm(&u.UpdatedAt), &gs, &ids); err != nil {
		return nil, err
	}
	var err error
	if u.Attributes, err = decodeMap("user "+u.ID+" attributes", attrs); err != nil {
		return nil, err
	}
	if u.Groups, err = decodeList("user "+u.ID+" groups", gs); err != nil {
		return nil, err
	}
	if u.Identities, err = decodeIdentities(u.ID, ids); err != nil {
		return nil, err
	}
	return &u, nil
}

func (s *Store) userWhere(ctx context.Context, query, arg string) (*store.User, error) {
	u, err := s.scanUser(s.read().queryRow(ctx, query, arg))
	if err != nil {
		return nil, s.wrap("read user", notFound(err))
	}
	return u, nil
}

// UserByID returns the user with that id, or store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (_ *store.User, err error) {
	ctx, done := s.op(ctx, "UserByID", &err)
	defer done()
	return s.userWhere(ctx, s.userByID, id)
}

// UserByEmail returns the user with exactly that email, or store.ErrNotFound.
// The email is compared byte for byte: normalizing it is the pool's job.
func (s *Store) UserByEmail(ctx context.Context, email string) (_ *store.User, err error) {
	ctx, done := s.op(ctx, "UserByEmail", &err)
	defer done()
	return s.userWhere(ctx, s.userByEmail, email)
}

// defaultListLimit is the page size when ListOptions.Limit is 0 (or, being
// meaningless, negative).
const defaultListLimit = 100

// ListUsers returns up to opts.Limit users whose email sorts after opts.After,
// ordered by email (byte order).
func (s *Store) ListUsers(ctx context.Context, opts store.ListOptions) (_ []*store.User, err error) {
	ctx, done := s.op(ctx, "ListUsers", &err)
	defer done()
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	rows, err := s.read().query(ctx, s.userList, opts.After, limit)
	users, err := collect(rows, err, s.scanUser)
	return users, s.wrap("list users", err)
}

// updateOne runs one UPDATE or DELETE that must hit a row.
func (s *Store) updateOne(ctx context.Context, op, query string, args ...any) error {
	return s.wrap(op, s.writeOne(ctx, func(c conn) error { return c.execOne(ctx, query, args...) }))
}

// UpdatePassword replaces a user's password hash and status, bumps
// UpdatedAt and deletes the user's SRP verifier; an unknown user gives
// store.ErrNotFound.
func (s *Store) UpdatePassword(ctx context.Context, userID, hash, status string) (err error) {
	ctx, done := s.op(ctx, "UpdatePassword", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		if err := c.execOne(ctx, `UPDATE users SET password_hash = ?, status = ?, updated_at = ? WHERE id = ?`,
			hash, status, now, userID); err != nil {
			return err
		}
		// The verifier was made from the old password: it goes with it.
		_, err := c.exec(ctx, `DELETE FROM srp_verifiers WHERE user_id = ?`, userID)
		return err
	})
	return s.wrap("update password", err)
}

// SetEnabled enables or disables a user and bumps UpdatedAt; an unknown user
// gives store.ErrNotFound.
func (s *Store) SetEnabled(ctx context.Context, userID string, enabled bool) (err error) {
	ctx, done := s.op(ctx, "SetEnabled", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return err
	}
	return s.updateOne(ctx, "set enabled",
		`UPDATE users SET enabled = ?, updated_at = ? WHERE id = ?`, enabled, now, userID)
}

// DeleteUser removes a user; their group memberships, codes and factors go
// with them through the foreign keys' ON DELETE CASCADE. An unknown user
// gives store.ErrNotFound. Revocations naming the user are kept: they must
// outlive the account.
func (s *Store) DeleteUser(ctx context.Context, userID string) (err error) {
	ctx, done := s.op(ctx, "DeleteUser", &err)
	defer done()
	return s.updateOne(ctx, "delete user", `DELETE FROM users WHERE id = ?`, userID)
}

// UpdateUser applies up in one transaction. The user's row is locked before
// its attributes are read and merged, so concurrent updates of different
// attributes both land. An email taken by another user gives
// store.ErrConflict; an unknown user store.ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, userID string, up store.UserUpdate) (err error) {
	ctx, done := s.op(ctx, "UpdateUser", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		var raw []byte
		err := c.queryRow(ctx, `SELECT attributes FROM users WHERE id = ?`+c.lockRow(Update), userID).Scan(&raw)
		if err != nil {
			return notFound(err)
		}
		sets := []string{"updated_at = ?"}
		args := []any{now}
		set := func(col string, v any) {
			sets, args = append(sets, col+" = ?"), append(args, v)
		}
		if up.Email != nil {
			set("email", *up.Email)
		}
		if up.EmailVerified != nil {
			set("email_verified", *up.EmailVerified)
		}
		if up.Name != nil {
			set("name", *up.Name)
		}
		if up.Status != nil {
			set("status", *up.Status)
		}
		if len(up.SetAttributes) > 0 || len(up.DeleteAttributes) > 0 {
			attrs, err := decodeMap("user "+userID+" attributes", raw)
			if err != nil {
				return err
			}
			for k, v := range up.SetAttributes {
				attrs[k] = v
			}
			for _, k := range up.DeleteAttributes {
				delete(attrs, k)
			}
			enc, err := s.encodeMap("attribute", attrs)
			if err != nil {
				return err
			}
			set("attributes", enc)
			// The alias keys follow their attributes in the same
			// statement: a key another user has is a unique violation.
			touchedU, touchedP := store.AliasTouched(append(slices.Collect(maps.Keys(up.SetAttributes)), up.DeleteAttributes...)...)
			un, ph := s.aliases.keys(attrs)
			if touchedU {
				set("username_key", un)
			}
			if touchedP {
				set("phone_key", ph)
			}
		}
		_, err = c.exec(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, userID)...)
		return err
	})
	return s.wrapConflict("update user", err)
}

// AddToGroup makes the user a member of group, creating the group if none
// has that name; adding twice is not an error. An unknown user gives
// store.ErrNotFound.
func (s *Store) AddToGroup(ctx context.Context, userID, group string) (err error) {
	ctx, done := s.op(ctx, "AddToGroup", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		if err := requireUser(ctx, c, userID, KeyShare); err != nil {
			return err
		}
		// An update that changes nothing, rather than DO NOTHING: it locks
		// the group's row, so a concurrent DeleteGroup either finishes
		// first (and the group is made again) or waits and then takes
		// this membership with it; never a membership of no group.
		if _, err := c.exec(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES (?, '', NULL, ?, ?)
			ON CONFLICT (name) DO UPDATE SET updated_at = groups.updated_at`, group, now, now); err != nil {
			return err
		}
		_, err := c.exec(ctx,
			`INSERT INTO user_groups (user_id, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING`, userID, group)
		return err
	})
	return s.wrap("add to group", err)
}

// RemoveFromGroup ends a membership; removing a non-member, or a member of an
// unknown user, is not an error.
func (s *Store) RemoveFromGroup(ctx context.Context, userID, group string) (err error) {
	ctx, done := s.op(ctx, "RemoveFromGroup", &err)
	defer done()
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `DELETE FROM user_groups WHERE user_id = ? AND group_name = ?`, userID, group)
		return err
	})
	return s.wrap("remove from group", err)
}

// Revoke adds an entry to the deny list. Exactly one of r.SessionID and
// r.UserID must be set. A zero r.Expires means the entry never expires: for a
// deny list, forgetting an entry too early is a security hole, keeping it too
// long only costs a row.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) (err error) {
	ctx, done := s.op(ctx, "Revoke", &err)
	defer done()
	if (r.SessionID == "") == (r.UserID == "") {
		return s.invalid("revoke", "exactly one of SessionID and UserID must be set")
	}
	ts := times{s: s}
	at, expires := ts.enc(r.At), ts.opt(r.Expires)
	if ts.err != nil {
		return ts.err
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO revocations (session_id, user_id, at, expires) VALUES (?, ?, ?, ?)`,
			nullIfEmpty(r.SessionID), nullIfEmpty(r.UserID), at, expires)
		return err
	})
	return s.wrap("revoke", err)
}

// RevocationsSince returns the entries made at or after since that have not
// expired by now, oldest first (ties in insertion order). A zero since
// returns them all.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time) (_ []store.Revocation, err error) {
	ctx, done := s.op(ctx, "RevocationsSince", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return nil, err
	}
	where, args := "(expires IS NULL OR expires > ?)", []any{now}
	if !since.IsZero() {
		lower, err := s.time(since)
		if err != nil {
			return nil, err
		}
		where, args = where+" AND at >= ?", append(args, lower)
	}
	rows, err := s.read().query(ctx, `SELECT session_id, user_id, at, expires FROM revocations
		WHERE `+where+` ORDER BY at, id`, args...)
	out, err := collect(rows, err, func(sc scanner) (store.Revocation, error) {
		var (
			r        store.Revocation
			sid, uid *string
		)
		if err := sc.Scan(&sid, &uid, s.tm(&r.At), s.tm(&r.Expires)); err != nil {
			return r, err
		}
		if sid != nil {
			r.SessionID = *sid
		}
		if uid != nil {
			r.UserID = *uid
		}
		return r, nil
	})
	return out, s.wrap("revocations", err)
}

// PurgeRevocations forgets entries whose Expires is before now. Entries that
// never expire are kept.
func (s *Store) PurgeRevocations(ctx context.Context, now time.Time) (err error) {
	ctx, done := s.op(ctx, "PurgeRevocations", &err)
	defer done()
	return s.deleteBefore(ctx, "purge revocations", `DELETE FROM revocations WHERE expires < ?`, now)
}

// deleteBefore runs a DELETE whose arguments are all the one cutoff.
func (s *Store) deleteBefore(ctx context.Context, op, query string, before time.Time) error {
	cutoff, err := s.time(before)
	if err != nil {
		return err
	}
	args := make([]any, strings.Count(query, "?"))
	for i := range args {
		args[i] = cutoff
	}
	return s.wrap(op, s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, query, args...)
		return err
	}))
}

// Keys returns the keys of one kind, newest CreatedAt first (ties: the one
// added last first); an unknown kind gives an empty slice, not an error.
func (s *Store) Keys(ctx context.Context, kind string) (_ []store.Key, err error) {
	ctx, done := s.op(ctx, "Keys", &err)
	defer done()
	rows, err := s.read().query(ctx, `SELECT kind, id, material, created_at, not_after FROM keys
		WHERE kind = ? ORDER BY created_at DESC, `+s.d.KeyOrder()+` DESC`, kind)
	out, err := collect(rows, err, func(sc scanner) (store.Key, error) {
		var k store.Key
		// Scan into *[]byte copies, so Material is the caller's to keep.
		err := sc.Scan(&k.Kind, &k.ID, &k.Material, s.tm(&k.CreatedAt), s.tm(&k.NotAfter))
		k.Material = nonNil(k.Material)
		return k, err
	})
	return out, s.wrap("keys", err)
}

// AddKey stores a new key; a taken kind+ID gives store.ErrConflict. A zero
// k.CreatedAt is recorded as now, so a caller minting a key need not set it
// while one importing a key keeps its original date.
func (s *Store) AddKey(ctx context.Context, k store.Key) (err error) {
	ctx, done := s.op(ctx, "AddKey", &err)
	defer done()
	if k.Kind == "" || k.ID == "" {
		return s.invalid("add key", "kind and id are required")
	}
	ts := times{s: s}
	created, notAfter := ts.or(k.CreatedAt), ts.opt(k.NotAfter)
	if ts.err != nil {
		return ts.err
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO keys (kind, id, material, created_at, not_after) VALUES (?, ?, ?, ?, ?)`,
			k.Kind, k.ID, nonNil(k.Material), created, notAfter)
		return err
	})
	return s.wrapConflict("add key", err)
}

// DeleteKey removes a key; store.ErrNotFound if kind+ID does not exist.
func (s *Store) DeleteKey(ctx context.Context, kind, id string) (err error) {
	ctx, done := s.op(ctx, "DeleteKey", &err)
	defer done()
	return s.updateOne(ctx, "delete key", `DELETE FROM keys WHERE kind = ? AND id = ?`, kind, id)
}

// SaveVerificationCode stores c, replacing the user's code of the same
// purpose; an unknown user gives store.ErrNotFound.
func (s *Store) SaveVerificationCode(ctx context.Context, c store.VerificationCode) (err error) {
	ctx, done := s.op(ctx, "SaveVerificationCode", &err)
	defer done()
	const op = "save verification code"
	if c.UserID == "" || c.Purpose == "" || c.Expires.IsZero() {
		return s.invalid(op, "user, purpose and expiry are required")
	}
	if c.Attempts < 0 {
		return s.invalid(op, "negative attempts")
	}
	ts := times{s: s}
	sent, expires := ts.opt(c.SentAt), ts.enc(c.Expires)
	if ts.err != nil {
		return ts.err
	}
	err = s.write(ctx, func(cn conn) error {
		if err := requireUser(ctx, cn, c.UserID, KeyShare); err != nil {
			return err
		}
		_, err := cn.exec(ctx, `INSERT INTO verification_codes
			(user_id, purpose, hash, target, attempts, sent_at, expires) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, purpose) DO UPDATE SET hash = excluded.hash, target = excluded.target,
				attempts = excluded.attempts, sent_at = excluded.sent_at, expires = excluded.expires`,
			c.UserID, c.Purpose, c.Hash, c.Target, c.Attempts, sent, expires)
		return err
	})
	return s.wrap(op, err)
}

const codeSelect = `SELECT user_id, purpose, hash, target, attempts, sent_at, expires FROM verification_codes
	WHERE user_id = ? AND purpose = ?`

func (s *Store) scanCode(sc scanner) (*store.VerificationCode, error) {
	var c store.VerificationCode
	err := sc.Scan(&c.UserID, &c.Purpose, &c.Hash, &c.Target, &c.Attempts, s.tm(&c.SentAt), s.tm(&c.Expires))
	if err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// VerificationCode returns the user's code of that purpose, expired or not.
func (s *Store) VerificationCode(ctx context.Context, userID, purpose string) (_ *store.VerificationCode, err error) {
	ctx, done := s.op(ctx, "VerificationCode", &err)
	defer done()
	c, err := s.scanCode(s.read().queryRow(ctx, codeSelect, userID, purpose))
	if err != nil {
		return nil, s.wrap("verification code", err)
	}
	return c, nil
}

// ConsumeVerificationCode checks hash against the live code in one
// transaction, with the code's row locked so that concurrent tries queue;
// see store.Store for what each outcome does. Every wrong try is counted
// and committed before the caller hears of it, and the code is deleted at
// the last allowed try, so no number of concurrent guesses gets past
// maxAttempts.
func (s *Store) ConsumeVerificationCode(ctx context.Context, userID, purpose, hash string, maxAttempts int, now time.Time) (_ *store.VerificationCode, err error) {
	ctx, done := s.op(ctx, "ConsumeVerificationCode", &err)
	defer done()
	const op = "consume verification code"
	if maxAttempts < 1 {
		return nil, s.invalid(op, "maxAttempts must be at least 1")
	}
	var out *store.VerificationCode
	mismatch := false
	err = s.write(ctx, func(cn conn) error {
		c, err := s.scanCode(cn.queryRow(ctx, codeSelect+cn.lockRow(Update), userID, purpose))
		if err != nil {
			return err
		}
		if !now.Before(c.Expires) || c.Attempts >= maxAttempts {
			return store.ErrNotFound
		}
		const del = `DELETE FROM verification_codes WHERE user_id = ? AND purpose = ?`
		if store.SameHash(c.Hash, hash) {
			out = c
			_, err := cn.exec(ctx, del, userID, purpose)
			return err
		}
		c.Attempts++
		out, mismatch = c, true
		if c.Attempts >= maxAttempts {
			_, err = cn.exec(ctx, del, userID, purpose)
		} else {
			_, err = cn.exec(ctx, `UPDATE verification_codes SET attempts = ? WHERE user_id = ? AND purpose = ?`,
				c.Attempts, userID, purpose)
		}
		return err
	})
	if err != nil {
		return nil, s.wrap(op, err)
	}
	if mismatch {
		return out, s.wrap(op, store.ErrCodeMismatch)
	}
	return out, nil
}

// DeleteVerificationCode removes the user's code of that purpose, if any.
func (s *Store) DeleteVerificationCode(ctx context.Context, userID, purpose string) (err error) {
	ctx, done := s.op(ctx, "DeleteVerificationCode", &err)
	defer done()
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `DELETE FROM verification_codes WHERE user_id = ? AND purpose = ?`, userID, purpose)
		return err
	})
	return s.wrap("delete verification code", err)
}
