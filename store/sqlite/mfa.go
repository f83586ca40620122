package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// requireUser gives store.ErrNotFound for an unknown user. Inside a write
// transaction the answer holds until it commits: no DeleteUser can come
// between the check and the writes that depend on it.
func requireUser(ctx context.Context, tx *sql.Tx, userID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// AddMFAFactor stores f as given; a zero f.CreatedAt is recorded as now. An
// unknown user gives store.ErrNotFound (checked first, so a taken id is only
// reported for a user that exists), a taken f.ID store.ErrConflict.
func (s *Store) AddMFAFactor(ctx context.Context, f store.MFAFactor) error {
	if f.ID == "" || f.UserID == "" || f.Kind == "" {
		return errors.New("sqlite: add MFA factor: id, user and kind are required")
	}
	if f.LastStep < 0 {
		return errors.New("sqlite: add MFA factor: negative LastStep")
	}
	created := formatTime(time.Now())
	if !f.CreatedAt.IsZero() {
		var err error
		if created, err = encodeTime(f.CreatedAt); err != nil {
			return err
		}
	}
	lastUsed, err := encodeOptionalTime(f.LastUsedAt)
	if err != nil {
		return err
	}
	secret := f.Secret
	if secret == nil {
		// A nil []byte binds as NULL, which the NOT NULL column refuses.
		secret = []byte{}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := requireUser(ctx, tx, f.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO mfa_factors
			(id, user_id, kind, name, secret, confirmed, last_step, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.UserID, f.Kind, f.Name, secret, boolInt(f.Confirmed), f.LastStep, created, lastUsed)
		return err
	})
	if isUniqueViolation(err) {
		err = store.ErrConflict
	}
	return wrap("add MFA factor", err)
}

// MFAFactors returns the user's factors, oldest first (ties by id); an
// unknown user has none.
func (s *Store) MFAFactors(ctx context.Context, userID string) ([]store.MFAFactor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, kind, name, secret, confirmed, last_step,
		created_at, last_used_at FROM mfa_factors WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("MFA factors", err)
	}
	defer rows.Close()
	out := []store.MFAFactor{}
	for rows.Next() {
		var (
			f        store.MFAFactor
			created  string
			lastUsed sql.NullString
		)
		if err := rows.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.Secret, &f.Confirmed, &f.LastStep,
			&created, &lastUsed); err != nil {
			return nil, wrap("MFA factors", err)
		}
		// Scan into *[]byte copies; only an empty BLOB, which comes back
		// nil, needs normalizing.
		if f.Secret == nil {
			f.Secret = []byte{}
		}
		if f.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if f.LastUsedAt, err = parseOptionalTime(lastUsed); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("MFA factors", err)
	}
	return out, nil
}

// ConfirmMFAFactor marks the factor confirmed and raises its LastStep to
// step. It never lowers LastStep: confirming again with an older code must
// not reopen steps already accepted.
func (s *Store) ConfirmMFAFactor(ctx context.Context, userID, factorID string, step int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mfa_factors SET confirmed = 1, last_step = max(last_step, ?)
			WHERE user_id = ? AND id = ?`, step, userID, factorID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("confirm MFA factor", err)
}

// SetMFASecret replaces the factor's secret.
func (s *Store) SetMFASecret(ctx context.Context, userID, factorID string, secret []byte) error {
	if secret == nil {
		secret = []byte{}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mfa_factors SET secret = ? WHERE user_id = ? AND id = ?`, secret, userID, factorID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("set MFA secret", err)
}

// DeleteMFAFactor removes one factor; store.ErrNotFound if the user has no
// such factor. The user's recovery codes stay.
func (s *Store) DeleteMFAFactor(ctx context.Context, userID, factorID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mfa_factors WHERE user_id = ? AND id = ?`, userID, factorID)
		if err != nil {
			return err
		}
		return affectedOne(res)
	})
	return wrap("delete MFA factor", err)
}

// DeleteMFA removes every factor and recovery code of the user.
func (s *Store) DeleteMFA(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_factors WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
		return err
	})
	return wrap("delete MFA", err)
}

// UseTOTPStep accepts step with one conditional UPDATE: the write lock makes
// concurrent callers, in this process or another, run it one after another,
// and only the first finds last_step below step. When nothing was updated, a
// second read tells a missing or unconfirmed factor (store.ErrNotFound) from
// a step already used (store.ErrStepUsed).
func (s *Store) UseTOTPStep(ctx context.Context, userID, factorID string, step int64, at time.Time) error {
	if at.IsZero() {
		return errors.New("sqlite: use TOTP step: time is required")
	}
	used, err := encodeTime(at)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mfa_factors SET last_step = ?, last_used_at = ?
			WHERE user_id = ? AND id = ? AND confirmed = 1 AND last_step < ?`,
			step, used, userID, factorID, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var confirmed bool
		err = tx.QueryRowContext(ctx, `SELECT confirmed FROM mfa_factors WHERE user_id = ? AND id = ?`,
			userID, factorID).Scan(&confirmed)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && !confirmed):
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
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	for _, h := range hashes {
		if h == "" {
			return errors.New("sqlite: replace recovery codes: empty hash")
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := requireUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)
				ON CONFLICT DO NOTHING`, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("replace recovery codes", err)
}

// UseRecoveryCode spends the code with one conditional UPDATE (only an
// unused code matches, so of concurrent callers only the first does) and
// counts what is left in the same transaction.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) (int, error) {
	var left int
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ?
			WHERE user_id = ? AND hash = ? AND used_at IS NULL`, formatTime(time.Now()), userID, hash)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`,
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
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`,
		userID).Scan(&n)
	if err != nil {
		return 0, wrap("recovery codes left", err)
	}
	return n, nil
}

func scanFailures(sc scanner) (store.SignInFailures, error) {
	var (
		f              store.SignInFailures
		last, lockedTo sql.NullString
	)
	if err := sc.Scan(&f.Login, &f.Count, &last, &lockedTo); err != nil {
		return f, err
	}
	var err error
	if f.LastAt, err = parseOptionalTime(last); err != nil {
		return f, err
	}
	if f.LockedUntil, err = parseOptionalTime(lockedTo); err != nil {
		return f, err
	}
	return f, nil
}

// SignInFailures returns the login's record, or a zero one with Login set.
func (s *Store) SignInFailures(ctx context.Context, login string) (store.SignInFailures, error) {
	f, err := scanFailures(s.db.QueryRowContext(ctx,
		`SELECT login, count, last_at, locked_until FROM sign_in_failures WHERE login = ?`, login))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SignInFailures{Login: login}, nil
	}
	if err != nil {
		return store.SignInFailures{}, wrap("sign-in failures", err)
	}
	return f, nil
}

// RecordSignInFailure counts one failure with a single upsert, so no failure
// is lost to a concurrent one. SET expressions read the row as it was, so
// the window is judged on the previous LastAt. LastAt never moves back: a
// caller whose clock is a little behind another's does not rewind it.
func (s *Store) RecordSignInFailure(ctx context.Context, login string, now time.Time, window time.Duration) (store.SignInFailures, error) {
	if login == "" {
		return store.SignInFailures{}, errors.New("sqlite: record sign-in failure: login is required")
	}
	if window <= 0 {
		return store.SignInFailures{}, errors.New("sqlite: record sign-in failure: window must be positive")
	}
	at, err := encodeTime(now)
	if err != nil {
		return store.SignInFailures{}, err
	}
	cutoff, err := encodeTime(now.Add(-window))
	if err != nil {
		return store.SignInFailures{}, err
	}
	var f store.SignInFailures
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFailures(tx.QueryRowContext(ctx, `INSERT INTO sign_in_failures (login, count, last_at)
			VALUES (?, 1, ?)
			ON CONFLICT (login) DO UPDATE SET
				count = CASE WHEN last_at IS NULL OR last_at < ? THEN 1 ELSE count + 1 END,
				last_at = CASE WHEN last_at IS NULL OR last_at < excluded.last_at THEN excluded.last_at ELSE last_at END
			RETURNING login, count, last_at, locked_until`, login, at, cutoff))
		return err
	})
	if err != nil {
		return store.SignInFailures{}, wrap("record sign-in failure", err)
	}
	return f, nil
}

// LockSignIn sets the login's LockedUntil, making a record with no failures
// (Count 0, LastAt zero) if there is none. A zero until lifts the lock.
func (s *Store) LockSignIn(ctx context.Context, login string, until time.Time) error {
	if login == "" {
		return errors.New("sqlite: lock sign-in: login is required")
	}
	to, err := encodeOptionalTime(until)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (login, count, locked_until) VALUES (?, 0, ?)
			ON CONFLICT (login) DO UPDATE SET locked_until = excluded.locked_until`, login, to)
		return err
	})
	return wrap("lock sign-in", err)
}

// ClearSignInFailures forgets the login's record, if any.
func (s *Store) ClearSignInFailures(ctx context.Context, login string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE login = ?`, login)
		return err
	})
	return wrap("clear sign-in failures", err)
}

// PurgeSignInFailures forgets records whose LastAt and LockedUntil are both
// before before (a time not set counts as before).
func (s *Store) PurgeSignInFailures(ctx context.Context, before time.Time) error {
	cutoff, err := encodeTime(before)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures
			WHERE (last_at IS NULL OR last_at < ?) AND (locked_until IS NULL OR locked_until < ?)`,
			cutoff, cutoff)
		return err
	})
	return wrap("purge sign-in failures", err)
}
