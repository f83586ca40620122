package sqlstore

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/store"
)

// SaveSRPVerifier stores v in place of the user's verifier, holding the
// user's row while it checks the password: a concurrent UpdatePassword
// either committed first (its hash differs: ErrConflict) or waits for this
// transaction and then deletes what it saved.
func (s *Store) SaveSRPVerifier(ctx context.Context, v store.SRPVerifier) (err error) {
	ctx, done := s.op(ctx, "SaveSRPVerifier", &err)
	defer done()
	const op = "save SRP verifier"
	if v.UserID == "" || len(v.Sealed) == 0 || v.PasswordHash == "" {
		return s.invalid(op, "user, verifier and password hash are required")
	}
	ts := times{s: s}
	created := ts.or(v.CreatedAt)
	if ts.err != nil {
		return ts.err
	}
	err = s.write(ctx, func(c conn) error {
		var hash string
		err := c.queryRow(ctx, `SELECT password_hash FROM users WHERE id = ?`+c.lockRow(NoKeyUpdate), v.UserID).Scan(&hash)
		if err != nil {
			return notFound(err)
		}
		if hash != v.PasswordHash {
			return store.ErrConflict
		}
		_, err = c.exec(ctx, `INSERT INTO srp_verifiers (user_id, sealed, created_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at`,
			v.UserID, v.Sealed, created)
		return err
	})
	return s.wrap(op, err)
}

// SRPVerifier returns the user's verifier.
func (s *Store) SRPVerifier(ctx context.Context, userID string) (_ *store.SRPVerifier, err error) {
	ctx, done := s.op(ctx, "SRPVerifier", &err)
	defer done()
	v := &store.SRPVerifier{UserID: userID}
	err = s.read().queryRow(ctx, `SELECT sealed, created_at FROM srp_verifiers WHERE user_id = ?`, userID).
		Scan(&v.Sealed, s.tm(&v.CreatedAt))
	if err != nil {
		return nil, s.wrap("SRP verifier", notFound(err))
	}
	return v, nil
}

// DeleteSRPVerifier removes the user's verifier, if any.
func (s *Store) DeleteSRPVerifier(ctx context.Context, userID string) (err error) {
	ctx, done := s.op(ctx, "DeleteSRPVerifier", &err)
	defer done()
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `DELETE FROM srp_verifiers WHERE user_id = ?`, userID)
		return err
	})
	return s.wrap("delete SRP verifier", err)
}
