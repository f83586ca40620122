package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// CreateUserWithIdentity inserts u and its first identity in one
// transaction: a taken id, email or identity gives store.ErrConflict and
// leaves neither row. A zero id.CreatedAt is the store's now; id.UserID,
// if set, must be u.ID.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *store.User, id store.Identity) (err error) {
	ctx, done := s.op(ctx, "CreateUserWithIdentity", &err)
	defer done()
	const op = "create user with identity"
	if id.UserID != "" && id.UserID != u.ID {
		return s.invalid(op, "the identity names another user")
	}
	id.UserID = u.ID
	ins, err := s.userInsert(op, u)
	if err != nil {
		return err
	}
	args, err := s.identityArgs(op, id)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		if err := ins.exec(ctx, c); err != nil {
			return err
		}
		return insertIdentity(ctx, c, args)
	})
	if err != nil {
		return s.wrapConflict(op, err)
	}
	ins.done(u)
	return nil
}

// LinkIdentity adds id to an existing user: store.ErrNotFound for an
// unknown user, store.ErrConflict when the subject is linked to anyone or
// the user has an identity of that provider.
func (s *Store) LinkIdentity(ctx context.Context, id store.Identity) (err error) {
	ctx, done := s.op(ctx, "LinkIdentity", &err)
	defer done()
	const op = "link identity"
	if id.UserID == "" {
		return s.invalid(op, "user is required")
	}
	args, err := s.identityArgs(op, id)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		if err := requireUser(ctx, c, id.UserID, KeyShare); err != nil {
			return err
		}
		return insertIdentity(ctx, c, args)
	})
	return s.wrapConflict(op, err)
}

// identityArgs checks id and encodes it for insertIdentity.
func (s *Store) identityArgs(op string, id store.Identity) ([]any, error) {
	if id.Provider == "" || id.Subject == "" {
		return nil, s.invalid(op, "provider and subject are required")
	}
	created, err := s.timeOr(id.CreatedAt)
	if err != nil {
		return nil, err
	}
	return []any{id.Provider, id.Subject, id.UserID, id.ProviderType, id.Issuer, id.Primary, created}, nil
}

func insertIdentity(ctx context.Context, c conn, args []any) error {
	_, err := c.exec(ctx, `INSERT INTO identities
		(provider, subject, user_id, provider_type, issuer, is_primary, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UnlinkIdentity removes the user's identity of provider; store.ErrNotFound
// when there is none.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, provider string) (err error) {
	ctx, done := s.op(ctx, "UnlinkIdentity", &err)
	defer done()
	return s.updateOne(ctx, "unlink identity",
		`DELETE FROM identities WHERE user_id = ? AND provider = ?`, userID, provider)
}

// UserByIdentity returns the user a provider's subject is linked to, read
// as UserByID reads one, or store.ErrNotFound.
func (s *Store) UserByIdentity(ctx context.Context, provider, subject string) (_ *store.User, err error) {
	ctx, done := s.op(ctx, "UserByIdentity", &err)
	defer done()
	u, err := s.scanUser(s.read().queryRow(ctx, s.userByIdentity, provider, subject))
	if err != nil {
		return nil, s.wrap("user by identity", notFound(err))
	}
	return u, nil
}

// Identities returns a user's identities, oldest first; none (an empty
// slice) for a user without any or an unknown user.
func (s *Store) Identities(ctx context.Context, userID string) (_ []store.Identity, err error) {
	ctx, done := s.op(ctx, "Identities", &err)
	defer done()
	rows, err := s.read().query(ctx, `SELECT provider, subject, provider_type, issuer, is_primary, created_at
		FROM identities WHERE user_id = ? ORDER BY created_at, provider`, userID)
	out, err := collect(rows, err, func(sc scanner) (store.Identity, error) {
		id := store.Identity{UserID: userID}
		err := sc.Scan(&id.Provider, &id.Subject, &id.ProviderType, &id.Issuer, &id.Primary, s.tm(&id.CreatedAt))
		return id, err
	})
	return out, s.wrap("identities", err)
}

// decodeIdentities reads the dialect's IdentitiesAgg back.
func decodeIdentities(userID string, raw []byte) ([]store.Identity, error) {
	if string(raw) == "[]" {
		return []store.Identity{}, nil
	}
	var rows [][6]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("stored user %s identities: %w", userID, err)
	}
	out := make([]store.Identity, 0, len(rows))
	for _, r := range rows {
		var f [4]string
		ok := true
		for i := range f {
			f[i], ok = r[i].(string)
			if !ok {
				break
			}
		}
		primary, okPrimary := r[4].(float64)
		created, okCreated := r[5].(string)
		if !ok || !okPrimary || !okCreated {
			return nil, fmt.Errorf("stored user %s identities: malformed %v", userID, r)
		}
		t, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return nil, fmt.Errorf("stored user %s identity time: %w", userID, err)
		}
		out = append(out, store.Identity{UserID: userID, Provider: f[0], ProviderType: f[1], Issuer: f[2],
			Subject: f[3], Primary: primary != 0, CreatedAt: t.UTC()})
	}
	return out, nil
}
