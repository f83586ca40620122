package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// tokenLive is the refresh_tokens.state of a token that may be exchanged
// (the others are "retired" and "revoked").
const tokenLive = "live"

// requireExpires refuses a code or token without an expiry: that is a
// caller's bug, and storing the zero time would make it silently dead on
// arrival.
func (s *Store) requireExpires(op string, t time.Time) error {
	if t.IsZero() {
		return s.invalid(op, "Expires is required")
	}
	return nil
}

// CreateClient stores c and, on success, sets c.CreatedAt to the time the
// store recorded. A taken id gives store.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) (err error) {
	ctx, done := s.op(ctx, "CreateClient", &err)
	defer done()
	const op = "create client"
	if c.ID == "" {
		return s.invalid(op, "id is required")
	}
	switch c.RefreshTokenRotation {
	case "", "on", "off":
	default:
		return s.invalid(op, "refresh token rotation must be on, off or empty")
	}
	lists := [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes, c.GrantTypes}
	names := []string{"redirect URI", "post-logout redirect URI", "scope", "grant type"}
	enc := make([]string, len(lists))
	for i, l := range lists {
		var err error
		if enc[i], err = s.encodeList(names[i], l); err != nil {
			return err
		}
	}
	now := s.d.Now()
	ts, err := s.time(now)
	if err != nil {
		return err
	}
	err = s.writeOne(ctx, func(cn conn) error {
		_, err := cn.exec(ctx, `INSERT INTO clients
			(id, name, secret_hash, secret_sealed, public, redirect_uris, post_logout_redirect_uris, scopes, grant_types,
			 id_token_ttl, access_token_ttl, refresh_token_ttl, refresh_token_rotation, refresh_token_grace,
			 created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.SecretHash, nonNilBytes(c.SecretSealed), c.Public, enc[0], enc[1], enc[2], enc[3],
			int64(c.IDTokenTTL), int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL),
			c.RefreshTokenRotation, int64(c.RefreshTokenGrace), ts)
		return err
	})
	if err != nil {
		return s.wrapConflict(op, err)
	}
	c.CreatedAt = now
	return nil
}

const clientSelect = `SELECT id, name, secret_hash, secret_sealed, public, redirect_uris, post_logout_redirect_uris,
	scopes, grant_types, id_token_ttl, access_token_ttl, refresh_token_ttl, refresh_token_rotation,
	refresh_token_grace, created_at FROM clients`

func (s *Store) scanClient(sc scanner) (*store.Client, error) {
	var (
		c                                   store.Client
		redirects, logouts, scopes, grants  []byte
		idTTL, accessTTL, refreshTTL, grace int64
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &c.SecretSealed, &c.Public, &redirects, &logouts, &scopes, &grants,
		&idTTL, &accessTTL, &refreshTTL, &c.RefreshTokenRotation, &grace, s.tm(&c.CreatedAt)); err != nil {
		return nil, err
	}
	var err error
	if c.RedirectURIs, err = decodeList("redirect URIs", redirects); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = decodeList("post-logout redirect URIs", logouts); err != nil {
		return nil, err
	}
	if c.Scopes, err = decodeList("scopes", scopes); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = decodeList("grant types", grants); err != nil {
		return nil, err
	}
	c.IDTokenTTL = time.Duration(idTTL)
	c.AccessTokenTTL = time.Duration(accessTTL)
	c.RefreshTokenTTL = time.Duration(refreshTTL)
	c.RefreshTokenGrace = time.Duration(grace)
	if len(c.SecretSealed) == 0 {
		c.SecretSealed = nil
	}
	return &c, nil
}

// nonNilBytes is b, or an empty slice for nil: the column is NOT NULL.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SetClientSecret replaces a confidential client's secret hash and sealed
// secret; an unknown or public client gives store.ErrNotFound.
func (s *Store) SetClientSecret(ctx context.Context, id, secretHash string, sealed []byte) (err error) {
	ctx, done := s.op(ctx, "SetClientSecret", &err)
	defer done()
	const op = "set client secret"
	if secretHash == "" {
		return s.invalid(op, "a secret hash is required")
	}
	return s.wrap(op, s.writeOne(ctx, func(c conn) error {
		return c.execOne(ctx, `UPDATE clients SET secret_hash = ?, secret_sealed = ? WHERE id = ? AND NOT public`,
			secretHash, nonNilBytes(sealed), id)
	}))
}

// ClientByID returns the stored client with that id, or store.ErrNotFound.
func (s *Store) ClientByID(ctx context.Context, id string) (_ *store.Client, err error) {
	ctx, done := s.op(ctx, "ClientByID", &err)
	defer done()
	c, err := s.scanClient(s.read().queryRow(ctx, clientSelect+` WHERE id = ?`, id))
	if err != nil {
		return nil, s.wrap("client", notFound(err))
	}
	return c, nil
}

// ListClients returns every stored client ordered by id (byte order); none
// gives an empty slice.
func (s *Store) ListClients(ctx context.Context) (_ []*store.Client, err error) {
	ctx, done := s.op(ctx, "ListClients", &err)
	defer done()
	rows, err := s.read().query(ctx, clientSelect+` ORDER BY id`)
	out, err := collect(rows, err, s.scanClient)
	return out, s.wrap("list clients", err)
}

// DeleteClient removes a stored client with its codes and refresh tokens, in
// one transaction; an unknown client gives store.ErrNotFound and deletes
// nothing.
//
// The two tables are locked against writers first. Otherwise, at READ
// COMMITTED, a rotation that holds one of the client's tokens commits its
// successor after this DELETE's snapshot was taken, and the new token
// outlives its client, to come back to life if a client of the same id is
// made again.
func (s *Store) DeleteClient(ctx context.Context, id string) (err error) {
	ctx, done := s.op(ctx, "DeleteClient", &err)
	defer done()
	err = s.write(ctx, func(c conn) error {
		if err := s.d.LockTables(ctx, c.tx, "auth_codes", "refresh_tokens"); err != nil {
			return err
		}
		if err := c.execOne(ctx, `DELETE FROM clients WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM auth_codes WHERE client_id = ?`, id); err != nil {
			return err
		}
		_, err := c.exec(ctx, `DELETE FROM refresh_tokens WHERE client_id = ?`, id)
		return err
	})
	return s.wrap("delete client", err)
}

// SaveAuthCode stores a new code; a taken hash gives store.ErrConflict.
// c.Expires is required.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	ctx, done := s.op(ctx, "SaveAuthCode", &err)
	defer done()
	const op = "save auth code"
	if c.Hash == "" {
		return s.invalid(op, "hash is required")
	}
	if err := s.requireExpires(op, c.Expires); err != nil {
		return err
	}
	ts := times{s: s}
	expires, authTime := ts.enc(c.Expires), ts.opt(c.AuthTime)
	if ts.err != nil {
		return ts.err
	}
	amr, err := s.encodeList("amr", c.AMR)
	if err != nil {
		return err
	}
	err = s.writeOne(ctx, func(cn conn) error {
		_, err := cn.exec(ctx, `INSERT INTO auth_codes
			(hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
			 session_id, auth_time, amr, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
			c.CodeChallengeMethod, c.SessionID, authTime, amr, expires)
		return err
	})
	return s.wrapConflict(op, err)
}

// ConsumeAuthCode deletes the code with that hash and returns it, in one
// DELETE ... RETURNING statement: of concurrent callers the first deletes the
// row, and the others, queued on its lock, find it gone. An expired code is
// deleted all the same (it can never be used) and reported as
// store.ErrNotFound; "expired" means Expires is at or before now.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash string, now time.Time) (_ *store.AuthCode, err error) {
	ctx, done := s.op(ctx, "ConsumeAuthCode", &err)
	defer done()
	const op = "consume auth code"
	var (
		c   store.AuthCode
		amr []byte
	)
	err = s.writeOne(ctx, func(cn conn) error {
		return cn.queryRow(ctx, `DELETE FROM auth_codes WHERE hash = ?
			RETURNING hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
			code_challenge_method, session_id, auth_time, amr, expires`, hash).Scan(
			&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
			&c.CodeChallengeMethod, &c.SessionID, s.tm(&c.AuthTime), &amr, s.tm(&c.Expires))
	})
	if err != nil {
		return nil, s.wrap(op, notFound(err))
	}
	// The delete is committed; expiry is reported afterwards.
	if !now.Before(c.Expires) {
		return nil, s.wrap(op, fmt.Errorf("expired: %w", store.ErrNotFound))
	}
	if c.AMR, err = decodeList("amr", amr); err != nil {
		return nil, s.wrap(op, err)
	}
	return &c, nil
}

// refreshValues checks t and returns its columns in the order refreshInsert
// names them.
func (s *Store) refreshValues(op string, t store.RefreshToken) ([]any, error) {
	if t.Hash == "" || t.FamilyID == "" {
		return nil, s.invalid(op, "hash and family id are required")
	}
	if err := s.requireExpires(op, t.Expires); err != nil {
		return nil, err
	}
	ts := times{s: s}
	authTime, issued, expires := ts.opt(t.AuthTime), ts.opt(t.IssuedAt), ts.enc(t.Expires)
	if ts.err != nil {
		return nil, ts.err
	}
	amr, err := s.encodeList("amr", t.AMR)
	if err != nil {
		return nil, err
	}
	if t.Grace < 0 {
		return nil, s.invalid(op, "grace must not be negative")
	}
	return []any{t.Hash, t.FamilyID, t.ClientID, t.UserID, t.Scope, t.SessionID,
		authTime, amr, issued, expires, int64(t.Grace)}, nil
}

const refreshInsert = `INSERT INTO refresh_tokens
	(hash, family_id, client_id, user_id, scope, session_id, auth_time, amr, issued_at, expires, grace, state)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live')`

const refreshSelect = `SELECT hash, family_id, client_id, user_id, scope, session_id, auth_time, amr,
	issued_at, expires, grace, state, retired_at FROM refresh_tokens`

// tokenRow is a refresh token with the store's own bookkeeping.
type tokenRow struct {
	store.RefreshToken
	state string
	// retiredAt is when the token was exchanged first (zero if never),
	// whatever happened to its family since.
	retiredAt time.Time
}

// wasRetired says the token was exchanged once.
func (r *tokenRow) wasRetired() bool { return !r.retiredAt.IsZero() }

// inGrace says the token was retired less than its grace ago and its family
// is not revoked: a concurrent request of its holder may still exchange it.
func (r *tokenRow) inGrace(now time.Time) bool {
	return r.state == "retired" && r.Grace > 0 && now.Before(r.retiredAt.Add(r.Grace))
}

// scanRefresh reads one refreshSelect row.
func (s *Store) scanRefresh(sc scanner) (*tokenRow, error) {
	var (
		r     tokenRow
		amr   []byte
		grace int64
	)
	t := &r.RefreshToken
	if err := sc.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.Scope, &t.SessionID,
		s.tm(&t.AuthTime), &amr, s.tm(&t.IssuedAt), s.tm(&t.Expires), &grace, &r.state, s.tm(&r.retiredAt)); err != nil {
		return nil, err
	}
	t.Grace = time.Duration(grace)
	var err error
	if t.AMR, err = decodeList("amr", amr); err != nil {
		return nil, err
	}
	return &r, nil
}

// SaveRefreshToken stores the first, live token of a new family. A taken
// hash, or a family that already has tokens, gives store.ErrConflict: adding
// to an existing family here would bypass rotation, and could bring a
// revoked family back to life. t.Expires is required.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) (err error) {
	ctx, done := s.op(ctx, "SaveRefreshToken", &err)
	defer done()
	const op = "save refresh token"
	vals, err := s.refreshValues(op, t)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		if err := s.lock(ctx, c, LockUserTokens, t.UserID); err != nil {
			return err
		}
		// Two saves of one family, each finding it empty, must not both
		// insert; the user's lock only covers a family kept to one user.
		if err := s.lock(ctx, c, LockFamily, t.FamilyID); err != nil {
			return err
		}
		var exists bool
		if err := c.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?)`,
			t.FamilyID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("family %s exists: %w", t.FamilyID, store.ErrConflict)
		}
		_, err := c.exec(ctx, refreshInsert, vals...)
		return err
	})
	return s.wrapConflict(op, err)
}

// RotateRefreshToken exchanges the token with hash old for next in one
// transaction. It takes the lock on old's user's tokens, then old's row, so
// concurrent callers presenting the same token are serialized: the first
// finds it live and retires it, every later one finds it was retired, which
// is indistinguishable from replay by a thief. So, for a token without
// grace, a race ends with exactly one success, every other caller told
// store.ErrTokenReused, and the whole family revoked, the winner's new token
// included.
//
// A token issued with a Grace is the exception, for that long after its
// retirement only: a later caller (a browser's second tab, a retried
// request) gets its next stored as another live token of the family, and
// old's retirement time stays, so the grace is never extended. The family
// then has several live tokens, each rotating by these same rules.
//
// Any other token that was ever exchanged (retired_at set) is reuse: also once
// its family is revoked (a second replay, reported as such), and also once it
// has expired (its family may still hold a live token, and reuse is the
// louder answer). Otherwise an unknown, revoked or expired (Expires at or
// before now) token gives store.ErrNotFound. next must carry old's FamilyID; a
// taken next hash gives store.ErrConflict and leaves old live.
func (s *Store) RotateRefreshToken(ctx context.Context, old string, next store.RefreshToken, now time.Time) (_ *store.RefreshToken, err error) {
	ctx, done := s.op(ctx, "RotateRefreshToken", &err)
	defer done()
	const op = "rotate refresh token"
	at, err := s.time(now)
	if err != nil {
		return nil, err
	}
	vals, err := s.refreshValues(op, next)
	if err != nil {
		return nil, err
	}
	var (
		prev   *store.RefreshToken
		reused bool
	)
	err = s.write(ctx, func(c conn) error {
		// A token's user never changes, so reading it before taking the
		// lock is safe; the row itself is read again under the lock.
		var userID string
		if err := c.queryRow(ctx, `SELECT user_id FROM refresh_tokens WHERE hash = ?`, old).Scan(&userID); err != nil {
			return notFound(err)
		}
		if err := s.lock(ctx, c, LockUserTokens, userID); err != nil {
			return err
		}
		r, err := s.scanRefresh(c.queryRow(ctx, refreshSelect+` WHERE hash = ?`+c.lockRow(Update), old))
		if err != nil {
			return notFound(err) // deleted with its client meanwhile
		}
		t := &r.RefreshToken
		grace := r.inGrace(now)
		switch {
		case r.wasRetired() && !grace:
			// Committed, not rolled back: the revocation must stick even
			// though the caller gets an error.
			reused = true
			_, err := c.exec(ctx, `UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = ?`, t.FamilyID)
			return err
		case r.state != tokenLive && !grace, !now.Before(t.Expires):
			return store.ErrNotFound
		case next.FamilyID != t.FamilyID:
			return fmt.Errorf("next token's family %q is not the old token's %q", next.FamilyID, t.FamilyID)
		}
		if !grace {
			if _, err := c.exec(ctx,
				`UPDATE refresh_tokens SET state = 'retired', retired_at = ? WHERE hash = ?`, at, old); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, refreshInsert, vals...); err != nil {
			return err
		}
		prev = t
		return nil
	})
	if err != nil {
		return nil, s.wrapConflict(op, err)
	}
	if reused {
		return nil, s.wrap(op, store.ErrTokenReused)
	}
	return prev, nil
}

// RefreshTokenByHash returns the token with that hash if it may be
// exchanged: live, or retired less than its Grace ago with its family not
// revoked; and Expires after now. Otherwise store.ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (_ *store.RefreshToken, err error) {
	ctx, done := s.op(ctx, "RefreshTokenByHash", &err)
	defer done()
	r, err := s.scanRefresh(s.read().queryRow(ctx, refreshSelect+` WHERE hash = ?`, hash))
	if err != nil {
		return nil, s.wrap("refresh token", notFound(err))
	}
	if (r.state != tokenLive && !r.inGrace(now)) || !now.Before(r.Expires) {
		return nil, s.wrap("refresh token", store.ErrNotFound)
	}
	return &r.RefreshToken, nil
}

// RevokeRefreshFamily revokes every token of a family; an unknown family is
// not an error. Revocation is final: no method makes a token live again.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) (err error) {
	ctx, done := s.op(ctx, "RevokeRefreshFamily", &err)
	defer done()
	err = s.write(ctx, func(c conn) error {
		var userID string
		err := c.queryRow(ctx, `SELECT user_id FROM refresh_tokens WHERE family_id = ? LIMIT 1`,
			familyID).Scan(&userID)
		if err != nil {
			if notFound(err) == store.ErrNotFound {
				return nil
			}
			return err
		}
		if err := s.lock(ctx, c, LockUserTokens, userID); err != nil {
			return err
		}
		_, err = c.exec(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = ? AND state <> 'revoked'`, familyID)
		return err
	})
	return s.wrap("revoke refresh family", err)
}

// RevokeUserRefreshTokens revokes every refresh token of a user, of every
// client and family; a user with none is not an error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) (err error) {
	ctx, done := s.op(ctx, "RevokeUserRefreshTokens", &err)
	defer done()
	err = s.write(ctx, func(c conn) error {
		if err := s.lock(ctx, c, LockUserTokens, userID); err != nil {
			return err
		}
		_, err := c.exec(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE user_id = ? AND state <> 'revoked'`, userID)
		return err
	})
	return s.wrap("revoke user refresh tokens", err)
}
