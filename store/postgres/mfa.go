package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/store"
)

// AddMFAFactor stores f as given; a zero f.CreatedAt is recorded as now. An
// unknown user gives store.ErrNotFound, a taken f.ID store.ErrConflict. The
// user is checked first, as the SQLite store does, so that both report the
// same error when both hold; its row is locked FOR KEY SHARE, the lock the
// foreign key would take, so no DeleteUser comes in between.
func (s *Store) AddMFAFactor(ctx context.Context, f store.MFAFactor) error {
	if f.ID == "" || f.UserID == "" || f.Kind == "" {
		return errors.New("postgres: add MFA factor: id, user and kind are required")
	}
	if f.LastStep < 0 {
		return errors.New("postgres: add MFA factor: negative LastStep")
	}
	created := f.CreatedAt
	if created.IsZero() {
		created = now()
	}
	secret := f.Secret
	if secret == nil {
		// A nil []byte binds as NULL, which the NOT NULL column refuses.
		secret = []byte{}
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := requireUser(ctx, tx, f.UserID, "FOR KEY SHARE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO mfa_factors
			(id, user_id, kind, name, secret, confirmed, last_step, created_at, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			f.ID, f.UserID, f.Kind, f.Name, secret, f.Confirmed, f.LastStep, created, optionalTime(f.LastUsedAt))
		return err
	})
	if hasCode(err, uniqueViolation) {
		err = store.ErrConflict
	}
	return wrap("add MFA factor", err)
}

// requireUser gives store.ErrNotFound for an unknown user, and otherwise
// holds the user's row with lock until the transaction ends.
func requireUser(ctx context.Context, tx pgx.Tx, userID, lock string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 `+lock, userID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// MFAFactors returns the user's factors, oldest first (ties by id); an
// unknown user has none.
func (s *Store) MFAFactors(ctx context.Context, userID string) ([]store.MFAFactor, error) {
	rows, err := s.db.Query(ctx, `SELECT id, user_id, kind, name, secret, confirmed, last_step,
		created_at, last_used_at FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("MFA factors", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.MFAFactor, error) {
		var (
			f        store.MFAFactor
			lastUsed *time.Time
		)
		// pgx copies a bytea into a fresh slice, so Secret is the caller's
		// to keep.
		if err := row.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.Secret, &f.Confirmed, &f.LastStep,
			&f.CreatedAt, &lastUsed); err != nil {
			return f, err
		}
		if f.Secret == nil {
			f.Secret = []byte{}
		}
		f.CreatedAt = f.CreatedAt.UTC()
		f.LastUsedAt = fromOptional(lastUsed)
		return f, nil
	})
	if err != nil {
		return nil, wrap("MFA factors", err)
	}
	if out == nil {
		out = []store.MFAFactor{}
	}
	return out, nil
}

// ConfirmMFAFactor marks the factor confirmed and raises its LastStep to
// step. It never lowers LastStep: confirming again with an older code must
// not reopen steps already accepted.
func (s *Store) ConfirmMFAFactor(ctx context.Context, userID, factorID string, step int64) error {
	return s.execOne(ctx, "confirm MFA factor", `UPDATE mfa_factors
		SET confirmed = true, last_step = GREATEST(last_step, $1) WHERE user_id = $2 AND id = $3`,
		step, userID, factorID)
}

// SetMFASecret replaces the factor's secret.
func (s *Store) SetMFASecret(ctx context.Context, userID, factorID string, secret []byte) error {
	if secret == nil {
		secret = []byte{}
	}
	return s.execOne(ctx, "set MFA secret",
		`UPDATE mfa_factors SET secret = $1 WHERE user_id = $2 AND id = $3`, secret, userID, factorID)
}

// DeleteMFAFactor removes one factor; store.ErrNotFound if the user has no
// such factor. The user's recovery codes stay.
func (s *Store) DeleteMFAFactor(ctx context.Context, userID, factorID string) error {
	return s.execOne(ctx, "delete MFA factor",
		`DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2`, userID, factorID)
}

// DeleteMFA removes every factor and recovery code of the user.
func (s *Store) DeleteMFA(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_factors WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return wrap("delete MFA", err)
}

// UseTOTPStep accepts step with one conditional UPDATE. Concurrent callers,
// in this process or another, queue on the factor's row lock, and each
// re-checks last_step < step on the row as the one before it left it, so
// only the first succeeds. When nothing was updated, a second read tells a
// missing or unconfirmed factor (store.ErrNotFound) from a step already
// used (store.ErrStepUsed).
func (s *Store) UseTOTPStep(ctx context.Context, userID, factorID string, step int64, at time.Time) error {
	if at.IsZero() {
		return errors.New("postgres: use TOTP step: time is required")
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE mfa_factors SET last_step = $1, last_used_at = $2
			WHERE user_id = $3 AND id = $4 AND confirmed AND last_step < $1`,
			step, at, userID, factorID)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var confirmed bool
		err = tx.QueryRow(ctx, `SELECT confirmed FROM mfa_factors WHERE user_id = $1 AND id = $2`,
			userID, factorID).Scan(&confirmed)
		switch {
		case errors.Is(err, pgx.ErrNoRows) || (err == nil && !confirmed):
			return store.ErrNotFound
		case err != nil:
			return err
		}
		return store.ErrStepUsed
	})
	return wrap("use TOTP step", err)
}

// ReplaceRecoveryCodes makes hashes the user's only recovery codes, all
// unused. A hash listed twice is kept once. An empty hash is refused: it
// would match a caller that forgot to hash what it was given.
//
// The user's row is locked FOR NO KEY UPDATE so that two replacements queue:
// at READ COMMITTED the second one's DELETE would not see the first one's
// new codes, and both sets would be left standing.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	for _, h := range hashes {
		if h == "" {
			return errors.New("postgres: replace recovery codes: empty hash")
		}
	}
	if hashes == nil {
		hashes = []string{} // nil would bind as a NULL array
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := requireUser(ctx, tx, userID, "FOR NO KEY UPDATE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, hash)
			SELECT $1::text, h FROM unnest($2::text[]) AS h ON CONFLICT DO NOTHING`, userID, hashes)
		return err
	})
	return wrap("replace recovery codes", err)
}

// UseRecoveryCode spends the code with one conditional UPDATE (concurrent
// callers queue on the code's row and only the first finds it unused) and
// counts what is left in the same transaction.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) (int, error) {
	var left int
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $1
			WHERE user_id = $2 AND hash = $3 AND used_at IS NULL`, now(), userID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
			userID).Scan(&left)
	})
	if err != nil {
		return 0, wrap("use recovery code", err)
	}
	return left, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes; an unknown user
// has none.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
		userID).Scan(&n)
	if err != nil {
		return 0, wrap("recovery codes left", err)
	}
	return n, nil
}

func scanFailures(row pgx.Row) (store.SignInFailures, error) {
	var (
		f              store.SignInFailures
		last, lockedTo *time.Time
	)
	if err := row.Scan(&f.Login, &f.Count, &last, &lockedTo); err != nil {
		return f, err
	}
	f.LastAt, f.LockedUntil = fromOptional(last), fromOptional(lockedTo)
	return f, nil
}

// SignInFailures returns the login's record, or a zero one with Login set.
func (s *Store) SignInFailures(ctx context.Context, login string) (store.SignInFailures, error) {
	f, err := scanFailures(s.db.QueryRow(ctx,
		`SELECT login, count, last_at, locked_until FROM sign_in_failures WHERE login = $1`, login))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SignInFailures{Login: login}, nil
	}
	if err != nil {
		return store.SignInFailures{}, wrap("sign-in failures", err)
	}
	return f, nil
}

// RecordSignInFailure counts one failure with a single upsert, which
// PostgreSQL makes atomic: of concurrent failures none is lost. SET
// expressions read the row as it was, so the window is judged on the
// previous LastAt. LastAt never moves back (GREATEST skips a NULL): a
// gateway whose clock is a little behind another's does not rewind it.
func (s *Store) RecordSignInFailure(ctx context.Context, login string, now time.Time, window time.Duration) (store.SignInFailures, error) {
	if login == "" {
		return store.SignInFailures{}, errors.New("postgres: record sign-in failure: login is required")
	}
	if window <= 0 {
		return store.SignInFailures{}, errors.New("postgres: record sign-in failure: window must be positive")
	}
	f, err := scanFailures(s.db.QueryRow(ctx, `INSERT INTO sign_in_failures AS f (login, count, last_at)
		VALUES ($1, 1, $2)
		ON CONFLICT (login) DO UPDATE SET
			count = CASE WHEN f.last_at IS NULL OR f.last_at < $3 THEN 1 ELSE f.count + 1 END,
			last_at = GREATEST(f.last_at, excluded.last_at)
		RETURNING login, count, last_at, locked_until`, login, now, now.Add(-window)))
	if err != nil {
		return store.SignInFailures{}, wrap("record sign-in failure", err)
	}
	return f, nil
}

// LockSignIn sets the login's LockedUntil, making a record with no failures
// (Count 0, LastAt zero) if there is none. A zero until lifts the lock.
func (s *Store) LockSignIn(ctx context.Context, login string, until time.Time) error {
	if login == "" {
		return errors.New("postgres: lock sign-in: login is required")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO sign_in_failures (login, count, locked_until) VALUES ($1, 0, $2)
		ON CONFLICT (login) DO UPDATE SET locked_until = excluded.locked_until`, login, optionalTime(until))
	return wrap("lock sign-in", err)
}

// ClearSignInFailures forgets the login's record, if any.
func (s *Store) ClearSignInFailures(ctx context.Context, login string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sign_in_failures WHERE login = $1`, login)
	return wrap("clear sign-in failures", err)
}

// PurgeSignInFailures forgets records whose LastAt and LockedUntil are both
// before before (a time not set counts as before).
func (s *Store) PurgeSignInFailures(ctx context.Context, before time.Time) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sign_in_failures
		WHERE (last_at IS NULL OR last_at < $1) AND (locked_until IS NULL OR locked_until < $1)`, before)
	return wrap("purge sign-in failures", err)
}
