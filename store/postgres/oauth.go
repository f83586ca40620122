package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Refresh token states, as kept in refresh_tokens.state.
const (
	tokenLive    = "live"
	tokenRetired = "retired"
)

// Advisory lock classes (the first key of pg_advisory_xact_lock(int4, int4);
// the second is a hash of the id). Every write to a user's refresh tokens
// holds the user's lock, so those writes run one after another as if
// serializable, while READ COMMITTED would let a rotation committed in the
// middle of a revocation slip a live token past it.
const (
	lockUserTokens int32 = 0x67680001
	lockFamily     int32 = 0x67680002
)

// lock takes the advisory lock (class, hash of id) until the transaction
// ends. A hash collision only makes two unrelated writers queue.
func lock(ctx context.Context, tx pgx.Tx, class int32, id string) error {
	h := fnv.New32a()
	h.Write([]byte(id))
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, class, int32(h.Sum32()))
	return err
}

// encodeList stores a list as a JSON array; nil and empty both become "[]".
// Like encodeAttributes it refuses invalid UTF-8, which encoding/json would
// silently replace.
func encodeList(what string, list []string) (string, error) {
	for _, s := range list {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("postgres: %s %q: invalid UTF-8", what, s)
		}
	}
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("postgres: %s: %w", what, err)
	}
	return string(b), nil
}

// decodeList reads encodeList's form back; an empty list comes back empty,
// not nil.
func decodeList(what string, b []byte) ([]string, error) {
	list := []string{}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("stored %s: %w", what, err)
	}
	if list == nil { // "null"
		list = []string{}
	}
	return list, nil
}

// requireExpires refuses a code or token without an expiry: that is a
// caller's bug, and storing the zero time would make it silently dead on
// arrival.
func requireExpires(what string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("postgres: %s: Expires is required", what)
	}
	return nil
}

// CreateClient stores c and, on success, sets c.CreatedAt to the time the
// store recorded. A taken id gives store.ErrConflict.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	if c.ID == "" {
		return errors.New("postgres: create client: id is required")
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
	ts := now()
	_, err := s.db.Exec(ctx, `INSERT INTO clients
		(id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, scopes, grant_types,
		 id_token_ttl, access_token_ttl, refresh_token_ttl, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Name, c.SecretHash, c.Public, enc[0], enc[1], enc[2], enc[3],
		int64(c.IDTokenTTL), int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), ts)
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("postgres: create client: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	c.CreatedAt = ts
	return nil
}

const clientSelect = `SELECT id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris,
	scopes, grant_types, id_token_ttl, access_token_ttl, refresh_token_ttl, created_at FROM clients`

func scanClient(row pgx.Row) (*store.Client, error) {
	var (
		c                                  store.Client
		redirects, logouts, scopes, grants []byte
		idTTL, accessTTL, refreshTTL       int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &redirects, &logouts, &scopes, &grants,
		&idTTL, &accessTTL, &refreshTTL, &c.CreatedAt); err != nil {
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
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

// ClientByID returns the stored client with that id, or store.ErrNotFound.
func (s *Store) ClientByID(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(s.db.QueryRow(ctx, clientSelect+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: client: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: client: %w", err)
	}
	return c, nil
}

// ListClients returns every stored client ordered by id (byte order); none
// gives an empty slice.
func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.db.Query(ctx, clientSelect+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Client, error) { return scanClient(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	if out == nil {
		out = []*store.Client{}
	}
	return out, nil
}

// DeleteClient removes a stored client with its codes and refresh tokens, in
// one transaction; an unknown client gives store.ErrNotFound and deletes
// nothing.
//
// The two tables are locked against writers first. Otherwise a rotation that
// holds one of the client's tokens commits its successor after this DELETE's
// snapshot was taken, and the new token outlives its client, to come back to
// life if a client of the same id is made again. EXCLUSIVE mode still lets
// plain reads through, and it also waits out a rotation that has only locked
// its row so far, which a weaker mode would deadlock with.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE auth_codes, refresh_tokens IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_codes WHERE client_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE client_id = $1`, id)
		return err
	})
	return wrap("delete client", err)
}

// SaveAuthCode stores a new code; a taken hash gives store.ErrConflict.
// c.Expires is required.
func (s *Store) SaveAuthCode(ctx context.Context, c store.AuthCode) error {
	if c.Hash == "" {
		return errors.New("postgres: save auth code: hash is required")
	}
	if err := requireExpires("save auth code", c.Expires); err != nil {
		return err
	}
	amr, err := encodeList("amr", c.AMR)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO auth_codes
		(hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method,
		 session_id, auth_time, amr, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, c.SessionID, optionalTime(c.AuthTime), amr, c.Expires)
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("postgres: save auth code: %w", store.ErrConflict)
	}
	return wrap("save auth code", err)
}

// ConsumeAuthCode deletes the code with that hash and returns it, in one
// DELETE ... RETURNING statement: of concurrent callers the first deletes the
// row, and the others, waiting on its row lock, find it gone. An expired code
// is deleted all the same (it can never be used) and reported as
// store.ErrNotFound; "expired" means Expires is at or before now.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	var (
		c        store.AuthCode
		authTime *time.Time
		amr      []byte
	)
	err := s.db.QueryRow(ctx, `DELETE FROM auth_codes WHERE hash = $1
		RETURNING hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge,
		code_challenge_method, session_id, auth_time, amr, expires`, hash).Scan(
		&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, &c.SessionID, &authTime, &amr, &c.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: consume auth code: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: consume auth code: %w", err)
	}
	if !now.Before(c.Expires) {
		return nil, fmt.Errorf("postgres: consume auth code: expired: %w", store.ErrNotFound)
	}
	c.AuthTime = fromOptional(authTime)
	c.Expires = c.Expires.UTC()
	if c.AMR, err = decodeList("amr", amr); err != nil {
		return nil, fmt.Errorf("postgres: consume auth code: %w", err)
	}
	return &c, nil
}

// refreshValues checks t and returns its columns in the order refreshInsert
// names them.
func refreshValues(what string, t store.RefreshToken) ([]any, error) {
	if t.Hash == "" || t.FamilyID == "" {
		return nil, fmt.Errorf("postgres: %s: hash and family id are required", what)
	}
	if err := requireExpires(what, t.Expires); err != nil {
		return nil, err
	}
	amr, err := encodeList("amr", t.AMR)
	if err != nil {
		return nil, err
	}
	return []any{t.Hash, t.FamilyID, t.ClientID, t.UserID, t.Scope, t.SessionID,
		optionalTime(t.AuthTime), amr, optionalTime(t.IssuedAt), t.Expires}, nil
}

const refreshInsert = `INSERT INTO refresh_tokens
	(hash, family_id, client_id, user_id, scope, session_id, auth_time, amr, issued_at, expires, state)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'live')`

const refreshSelect = `SELECT hash, family_id, client_id, user_id, scope, session_id, auth_time, amr,
	issued_at, expires, state FROM refresh_tokens`

// scanRefresh reads one refreshSelect row and the token's state.
func scanRefresh(row pgx.Row) (*store.RefreshToken, string, error) {
	var (
		t                store.RefreshToken
		authTime, issued *time.Time
		amr              []byte
		state            string
	)
	if err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.Scope, &t.SessionID,
		&authTime, &amr, &issued, &t.Expires, &state); err != nil {
		return nil, "", err
	}
	var err error
	if t.AMR, err = decodeList("amr", amr); err != nil {
		return nil, "", err
	}
	t.AuthTime = fromOptional(authTime)
	t.IssuedAt = fromOptional(issued)
	t.Expires = t.Expires.UTC()
	return &t, state, nil
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
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, lockUserTokens, t.UserID); err != nil {
			return err
		}
		// Two saves of one family, each finding it empty, must not both
		// insert; the user's lock only covers a family kept to one user.
		if err := lock(ctx, tx, lockFamily, t.FamilyID); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1)`,
			t.FamilyID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("family %s exists: %w", t.FamilyID, store.ErrConflict)
		}
		_, err := tx.Exec(ctx, refreshInsert, vals...)
		return err
	})
	if hasCode(err, uniqueViolation) {
		return fmt.Errorf("postgres: save refresh token: %w", store.ErrConflict)
	}
	return wrap("save refresh token", err)
}

// RotateRefreshToken exchanges the token with hash old for next in one
// transaction. It takes the lock on old's user, then old's row FOR UPDATE, so
// concurrent callers presenting the same token are serialized: the first
// finds it live and retires it, every later one finds it retired, which is
// indistinguishable from replay by a thief. So a race ends with exactly one
// success and the whole family revoked, the winner's new token included.
//
// A retired token is reuse even when it has also expired: the family it
// belongs to may still hold a live token, and reuse is the louder answer.
// Otherwise an unknown, revoked or expired (Expires at or before now) token
// gives store.ErrNotFound. next must carry old's FamilyID; a taken next hash
// gives store.ErrConflict and leaves old live.
func (s *Store) RotateRefreshToken(ctx context.Context, old string, next store.RefreshToken, now time.Time) (*store.RefreshToken, error) {
	vals, err := refreshValues("rotate refresh token", next)
	if err != nil {
		return nil, err
	}
	var (
		prev   *store.RefreshToken
		reused bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		// A token's user never changes, so reading it before taking the
		// lock is safe; the row itself is read again under the lock.
		var userID string
		err := tx.QueryRow(ctx, `SELECT user_id FROM refresh_tokens WHERE hash = $1`, old).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := lock(ctx, tx, lockUserTokens, userID); err != nil {
			return err
		}
		t, state, err := scanRefresh(tx.QueryRow(ctx, refreshSelect+` WHERE hash = $1 FOR UPDATE`, old))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound // deleted with its client meanwhile
		}
		if err != nil {
			return err
		}
		switch {
		case state == tokenRetired:
			// Committed, not rolled back: the revocation must stick even
			// though the caller gets an error.
			reused = true
			_, err := tx.Exec(ctx,
				`UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = $1`, t.FamilyID)
			return err
		case state != tokenLive:
			return store.ErrNotFound
		case !now.Before(t.Expires):
			return store.ErrNotFound
		case next.FamilyID != t.FamilyID:
			return fmt.Errorf("next token's family %q is not the old token's %q", next.FamilyID, t.FamilyID)
		}
		if _, err := tx.Exec(ctx,
			`UPDATE refresh_tokens SET state = 'retired', retired_at = $1 WHERE hash = $2`, now, old); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, refreshInsert, vals...); err != nil {
			return err
		}
		prev = t
		return nil
	})
	if hasCode(err, uniqueViolation) {
		return nil, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return nil, wrap("rotate refresh token", err)
	}
	if reused {
		return nil, fmt.Errorf("postgres: rotate refresh token: %w", store.ErrTokenReused)
	}
	return prev, nil
}

// RefreshTokenByHash returns the token with that hash if it is live: neither
// retired nor revoked, and Expires after now. Otherwise store.ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	t, _, err := scanRefresh(s.db.QueryRow(ctx,
		refreshSelect+` WHERE hash = $1 AND state = 'live' AND expires > $2`, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh token: %w", err)
	}
	return t, nil
}

// RevokeRefreshFamily revokes every token of a family; an unknown family is
// not an error. Revocation is final: no method makes a token live again.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		var userID string
		err := tx.QueryRow(ctx, `SELECT user_id FROM refresh_tokens WHERE family_id = $1 LIMIT 1`,
			familyID).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := lock(ctx, tx, lockUserTokens, userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE family_id = $1 AND state <> 'revoked'`, familyID)
		return err
	})
	return wrap("revoke refresh family", err)
}

// RevokeUserRefreshTokens revokes every refresh token of a user, of every
// client and family; a user with none is not an error.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, lockUserTokens, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`UPDATE refresh_tokens SET state = 'revoked' WHERE user_id = $1 AND state <> 'revoked'`, userID)
		return err
	})
	return wrap("revoke user refresh tokens", err)
}
