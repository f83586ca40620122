package sqlite

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

// tokenLive is the refresh_tokens.state of a token that may be exchanged
// (the others are "retired" and "revoked").
const tokenLive = "live"

// encodeList stores a list as a JSON array; nil and empty both become "[]".
// Like encodeAttributes it refuses invalid UTF-8, which encoding/json would
// silently replace.
func encodeList(what string, list []string) (string, error) {
	for _, s := range list {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("sqlite: %s %q: invalid UTF-8", what, s)
		}
	}
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return string(b), nil
}

// decodeList reads encodeList's form back; an empty list comes back empty,
// not nil.
func decodeList(what, s string) ([]string, error) {
	list := []string{}
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("sqlite: stored %s: %w", what, err)
	}
	if list == nil { // "null"
		list = []string{}
	}
	return list, nil
}

// encodeExpires requires an expiry: a code or token without one is a caller's
// bug, and storing the zero time would make it silently dead on arrival.
func encodeExpires(what string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", fmt.Errorf("sqlite: %s: Expires is required", what)
	}
	return encodeTime(t)
}

// CreateClient stores c and, on success, sets c.CreatedAt to the time the
// store recorded. A taken id gives store.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	if c.ID == "" {
		return errors.New("sqlite: create client: id is required")
	}
	lists := [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes, c.GrantTypes}
	names := []string{"redirect URI", "post-logout redirect URI", "scope", "grant type"}
	enc := make([]string, len(lists))
	for i, l := range lists {
		var err error
		if enc[i], err = encodeList(names[i], l); err != nil {
			return err
		}
	}
	ts := formatTime(time.Now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clients
			(id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, scopes, grant_types,
			 id_token_ttl, access_token_ttl, refresh_token_ttl, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.SecretHash, boolInt(c.Public), enc[0], enc[1], enc[2], enc[3],
			int64(c.IDTokenTTL), int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), ts)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: create client: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", err)
	}
	c.CreatedAt, _ = parseTime(ts)
	return nil
}

const clientSelect = `SELECT id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris,
	scopes, grant_types, id_token_ttl, access_token_ttl, refresh_token_ttl, created_at FROM clients`

func scanClient(sc scanner) (*store.Client, error) {
	var (
		c                                  store.Client
		redirects, logouts, scopes, grants string
		idTTL, accessTTL, refreshTTL       int64
		created                            string
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &redirects, &logouts, &scopes, &grants,
		&idTTL, &accessTTL, &refreshTTL, &created); err != nil {
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
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &c, nil
}

// ClientByID returns the stored client with that id, or store.ErrNotFound.
func (s *Store) ClientByID(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(s.db.QueryRowContext(ctx, clientSelect+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: client: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: client: %w", err)
	}
	return c, nil
}

// ListClients returns every stored client ordered by id (byte order); none
// gives an empty slice.
func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.db.QueryContext(ctx, clientSelect+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	defer rows.Close()
	out := []*store.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	return out, nil
}

// DeleteClient removes a stored client with its codes and refresh tokens, in
// one transaction; an unknown client gives store.ErrNotFound and deletes
// nothing.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_codes WHERE client_id = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE client_id = ?`, id)
		return err
	})
	return wrap("delete client", err)
}

// SaveAuthCode stores a new code; a taken hash gives store.ErrConflict.
// c.Expires is required.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	if c.Hash == "" {
		return errors.New("sqlite: save auth code: hash is required")
	}
	expires, err := encodeExpires("save auth code", c.Expires)
	if err != nil {
		return err
	}
	authTime, err := encodeOptionalTime(c.AuthTime)
	if err != nil {
		return err
	}
	amr, err := encodeList("amr", c.AMR)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes
			(hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
			 session_id, auth_time, amr, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
			c.CodeChallengeMethod, c.SessionID, authTime, amr, expires)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: save auth code: %w", store.ErrConflict)
	}
	return wrap("save auth code", err)
}

// ConsumeAuthCode deletes the code with that hash and returns it. The DELETE
// ... RETURNING runs in one IMMEDIATE transaction, so concurrent callers
// queue on the write lock and only the first finds the row. An expired code
// is deleted all the same (it can never be used) and reported as
// store.ErrNotFound; "expired" means Expires is at or before now.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	at, err := encodeTime(now)
	if err != nil {
		return nil, err
	}
	var (
		c       store.AuthCode
		expired bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		var (
			authTime     sql.NullString
			amr, expires string
		)
		err := tx.QueryRowContext(ctx, `DELETE FROM auth_codes WHERE hash = ?
			RETURNING hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
			code_challenge_method, session_id, auth_time, amr, expires`, hash).Scan(
			&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
			&c.CodeChallengeMethod, &c.SessionID, &authTime, &amr, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		// Returning nil commits the delete; expiry is reported afterwards.
		expired = expires <= at
		if c.AuthTime, err = parseOptionalTime(authTime); err != nil {
			return err
		}
		if c.AMR, err = decodeList("amr", amr); err != nil {
			return err
		}
		c.Expires, err = parseTime(expires)
		return err
	})
	if err != nil {
		return nil, wrap("consume auth code", err)
	}
	if expired {
		return nil, fmt.Errorf("sqlite: consume auth code: expired: %w", store.ErrNotFound)
	}
	return &c, nil
}

// refreshValues encodes t's columns in the order refreshInsert names them.
func refreshValues(what string, t store.RefreshToken) ([]any, error) {
	if t.Hash == "" || t.FamilyID == "" {
		return nil, fmt.Errorf("sqlite: %s: hash and family id are required", what)
	}
	expires, err := encodeExpires(what, t.Expires)
	if err != nil {
		return nil, err
	}
	authTime, err := encodeOptionalTime(t.AuthTime)
	if err != nil {
		return nil, err
	}
	issued, err := encodeOptionalTime(t.IssuedAt)
	if err != nil {
		return nil, err
	}
	amr, err := encodeList("amr", t.AMR)
	if err != nil {
		return nil, err
	}
	return []any{t.Hash, t.FamilyID, t.ClientID, t.UserID, t.Scope, t.SessionID,
		authTime, amr, issued, expires}, nil
}

const refreshInsert = `INSERT INTO refresh_tokens
	(hash, family_id, client_id, user_id, scope, session_id, auth_time, amr, issued_at, expires, state)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live')`

const refreshSelect = `SELECT hash, family_id, client_id, user_id, scope, session_id, auth_time, amr,
	issued_at, expires, state, retired_at IS NOT NULL FROM refresh_tokens`

// tokenRow is a refresh token with the store's own bookkeeping.
type tokenRow struct {
	store.RefreshToken
	state string
	// wasRetired says the token was exchanged once, whatever happened to
	// its family since.
	wasRetired bool
}

// scanRefresh reads one refreshSelect row.
func scanRefresh(sc scanner) (*tokenRow, error) {
	var (
		r                tokenRow
		authTime, issued sql.NullString
		amr, expires     string
	)
	t := &r.RefreshToken
	if err := sc.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.Scope, &t.SessionID,
		&authTime, &amr, &issued, &expires, &r.state, &r.wasRetired); err != nil {
		return nil, err
	}
	var err error
	if t.AuthTime, err = parseOptionalTime(authTime); err != nil {
		return nil, err
	}
	if t.IssuedAt, err = parseOptionalTime(issued); err != nil {
		return nil, err
	}
	if t.AMR, err = decodeList("amr", amr); err != nil {
		return nil, err
	}
	if t.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &r, nil
}

// SaveRefreshToken stores the first, live token of a new family. A taken
// hash, or a family that already has tokens, gives store.ErrConflict: adding
// to an existing family here would bypass rotation, and could bring a
// revoked family back to life. t.Expires is required.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	vals, err := refreshValues("save refresh token", t)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM refresh_tokens WHERE family_id = ? LIMIT 1`,
			t.FamilyID).Scan(&one)
		if err == nil {
			return fmt.Errorf("family %s exists: %w", t.FamilyID, store.ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, refreshInsert, vals...)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: save refresh token: %w", store.ErrConflict)
	}
	return wrap("save refresh token", err)
}

// RotateRefreshToken exchanges the token with hash old for next in one
// IMMEDIATE transaction, so concurrent callers presenting the same token are
// serialized: the first finds it live and retires it, every later one finds
// it was retired, which is indistinguishable from replay by a thief. So a
// race ends with exactly one success, every other caller told
// store.ErrTokenReused, and the whole family revoked, the winner's new token
// included.
//
// Any token that was ever exchanged (retired_at set) is reuse: also once its
// family is revoked (a second replay, reported as such), and also once it has
// expired (its family may still hold a live token, and reuse is the louder
// answer). Otherwise an unknown, revoked or expired (Expires at or before
// now) token gives store.ErrNotFound. next must carry old's FamilyID; a taken next hash
// gives store.ErrConflict and leaves old live.
func (s *Store) RotateRefreshToken(ctx context.Context, old string, next store.RefreshToken, now time.Time) (*store.RefreshToken, error) {
	at, err := encodeTime(now)
	if err != nil {
		return nil, err
	}
	vals, err := refreshValues("rotate refresh token", next)
	if err != nil {
		return nil, err
	}
	var (
		prev   *store.RefreshToken
		reused bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		r, err := scanRefresh(tx.QueryRowContext(ctx, refreshSelect+` WHERE hash = ?`, old))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		t := &r.RefreshToken
		switch {
		case r.wasRetired:
			// Committed, not rolled back: the revocation must stick even
			// though the caller gets an error.
			reused = true
			_, err := tx.ExecContext(ctx,
				`UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = ?`, t.FamilyID)
			return err
		case r.state != tokenLive:
			return store.ErrNotFound
		case formatTime(t.Expires) <= at:
			return store.ErrNotFound
		case next.FamilyID != t.FamilyID:
			return fmt.Errorf("next token's family %q is not the old token's %q", next.FamilyID, t.FamilyID)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE refresh_tokens SET state = 'retired', retired_at = ? WHERE hash = ?`, at, old); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, refreshInsert, vals...); err != nil {
			return err
		}
		prev = t
		return nil
	})
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return nil, wrap("rotate refresh token", err)
	}
	if reused {
		return nil, fmt.Errorf("sqlite: rotate refresh token: %w", store.ErrTokenReused)
	}
	return prev, nil
}

// RefreshTokenByHash returns the token with that hash if it is live: neither
// retired nor revoked, and Expires after now. Otherwise store.ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	at, err := encodeTime(now)
	if err != nil {
		return nil, err
	}
	r, err := scanRefresh(s.db.QueryRowContext(ctx,
		refreshSelect+` WHERE hash = ? AND state = 'live' AND expires > ?`, hash, at))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: refresh token: %w", err)
	}
	return &r.RefreshToken, nil
}

// RevokeRefreshFamily revokes every token of a family; an unknown family is
// not an error. Revocation is final: no method makes a token live again.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = ? AND state <> 'revoked'`, familyID)
		return err
	})
	return wrap("revoke refresh family", err)
}

// RevokeUserRefreshTokens revokes every refresh token of a user, of every
// client and family; a user with none is not an error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE user_id = ? AND state <> 'revoked'`, userID)
		return err
	})
	return wrap("revoke user refresh tokens", err)
}
