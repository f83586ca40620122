package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// AddMFAFactor stores f as given; a zero f.CreatedAt is recorded as now. An
// unknown user gives store.ErrNotFound (checked first, so a taken id is only
// reported for a user that exists), a taken f.ID store.ErrConflict.
func (s *Store) AddMFAFactor(ctx context.Context, f store.MFAFactor) (err error) {
	ctx, done := s.op(ctx, "AddMFAFactor", &err)
	defer done()
	const op = "add MFA factor"
	if f.ID == "" || f.UserID == "" || f.Kind == "" {
		return s.invalid(op, "id, user and kind are required")
	}
	if f.LastStep < 0 {
		return s.invalid(op, "negative LastStep")
	}
	ts := times{s: s}
	created, lastUsed := ts.or(f.CreatedAt), ts.opt(f.LastUsedAt)
	if ts.err != nil {
		return ts.err
	}
	err = s.write(ctx, func(c conn) error {
		if err := requireUser(ctx, c, f.UserID, KeyShare); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO mfa_factors
			(id, user_id, kind, name, secret, confirmed, last_step, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.UserID, f.Kind, f.Name, nonNil(f.Secret), f.Confirmed, f.LastStep, created, lastUsed)
		return err
	})
	return s.wrapConflict(op, err)
}

// MFAFactors returns the user's factors, oldest first (ties by id); an
// unknown user has none.
func (s *Store) MFAFactors(ctx context.Context, userID string) (_ []store.MFAFactor, err error) {
	ctx, done := s.op(ctx, "MFAFactors", &err)
	defer done()
	rows, err := s.read().query(ctx, `SELECT id, user_id, kind, name, secret, confirmed, last_step,
		created_at, last_used_at FROM mfa_factors WHERE user_id = ? ORDER BY created_at, id`, userID)
	out, err := collect(rows, err, func(sc scanner) (store.MFAFactor, error) {
		var f store.MFAFactor
		// Scan into *[]byte copies, so Secret is the caller's to keep.
		err := sc.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.Secret, &f.Confirmed, &f.LastStep,
			s.tm(&f.CreatedAt), s.tm(&f.LastUsedAt))
		f.Secret = nonNil(f.Secret)
		return f, err
	})
	return out, s.wrap("MFA factors", err)
}

// ConfirmMFAFactor marks the factor confirmed and raises its LastStep to
// step. It never lowers LastStep: confirming again with an older code must
// not reopen steps already accepted.
func (s *Store) ConfirmMFAFactor(ctx context.Context, userID, factorID string, step int64) (err error) {
	ctx, done := s.op(ctx, "ConfirmMFAFactor", &err)
	defer done()
	return s.updateOne(ctx, "confirm MFA factor", `UPDATE mfa_factors
		SET confirmed = ?, last_step = CASE WHEN last_step < ? THEN ? ELSE last_step END
		WHERE user_id = ? AND id = ?`, true, step, step, userID, factorID)
}

// SetMFASecret replaces the factor's secret.
func (s *Store) SetMFASecret(ctx context.Context, userID, factorID string, secret []byte) (err error) {
	ctx, done := s.op(ctx, "SetMFASecret", &err)
	defer done()
	return s.updateOne(ctx, "set MFA secret",
		`UPDATE mfa_factors SET secret = ? WHERE user_id = ? AND id = ?`, nonNil(secret), userID, factorID)
}

// DeleteMFAFactor removes one factor; store.ErrNotFound if the user has no
// such factor. The user's recovery codes stay.
func (s *Store) DeleteMFAFactor(ctx context.Context, userID, factorID string) (err error) {
	ctx, done := s.op(ctx, "DeleteMFAFactor", &err)
	defer done()
	return s.updateOne(ctx, "delete MFA factor", `DELETE FROM mfa_factors WHERE user_id = ? AND id = ?`, userID, factorID)
}

// DeleteMFA removes every factor and recovery code of the user.
func (s *Store) DeleteMFA(ctx context.Context, userID string) (err error) {
	ctx, done := s.op(ctx, "DeleteMFA", &err)
	defer done()
	err = s.write(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM mfa_factors WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err := c.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
		return err
	})
	return s.wrap("delete MFA", err)
}

// UseTOTPStep accepts step with one conditional UPDATE. Concurrent callers,
// in this process or another, queue on the factor's row (or the database's
// write lock), and each re-checks last_step < step as the one before it left
// it, so only the first succeeds. When nothing was updated, a second read
// tells a missing or unconfirmed factor (store.ErrNotFound) from a step
// already used (store.ErrStepUsed).
func (s *Store) UseTOTPStep(ctx context.Context, userID, factorID string, step int64, at time.Time) (err error) {
	ctx, done := s.op(ctx, "UseTOTPStep", &err)
	defer done()
	const op = "use TOTP step"
	if at.IsZero() {
		return s.invalid(op, "time is required")
	}
	used, err := s.time(at)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c conn) error {
		res, err := c.exec(ctx, `UPDATE mfa_factors SET last_step = ?, last_used_at = ?
			WHERE user_id = ? AND id = ? AND confirmed = ? AND last_step < ?`,
			step, used, userID, factorID, true, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var confirmed bool
		err = c.queryRow(ctx, `SELECT confirmed FROM mfa_factors WHERE user_id = ? AND id = ?`,
			userID, factorID).Scan(&confirmed)
		switch {
		case err != nil:
			return notFound(err)
		case !confirmed:
			return store.ErrNotFound
		}
		return store.ErrStepUsed
	})
	return s.wrap(op, err)
}

// ReplaceRecoveryCodes makes hashes the user's only recovery codes, all
// unused. A hash listed twice is kept once. An empty hash is refused: it
// would match a caller that forgot to hash what it was given.
//
// The user's row is held (NoKeyUpdate) so that two replacements queue: at
// READ COMMITTED the second one's DELETE would not see the first one's new
// codes, and both sets would be left standing.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string) (err error) {
	ctx, done := s.op(ctx, "ReplaceRecoveryCodes", &err)
	defer done()
	for _, h := range hashes {
		if h == "" {
			return s.invalid("replace recovery codes", "empty hash")
		}
	}
	err = s.write(ctx, func(c conn) error {
		if err := requireUser(ctx, c, userID, NoKeyUpdate); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if len(hashes) == 0 {
			return nil
		}
		args := make([]any, 0, 2*len(hashes))
		for _, h := range hashes {
			args = append(args, userID, h)
		}
		_, err := c.exec(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES `+
			strings.Repeat("(?, ?), ", len(hashes)-1)+`(?, ?) ON CONFLICT DO NOTHING`, args...)
		return err
	})
	return s.wrap("replace recovery codes", err)
}

// UseRecoveryCode spends the code with one conditional UPDATE (only an unused
// code matches, so of concurrent callers, queued on its row, only the first
// does) and counts what is left in the same transaction.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string) (_ int, err error) {
	ctx, done := s.op(ctx, "UseRecoveryCode", &err)
	defer done()
	now, err := s.time(s.d.Now())
	if err != nil {
		return 0, err
	}
	var left int
	err = s.write(ctx, func(c conn) error {
		if err := c.execOne(ctx, `UPDATE recovery_codes SET used_at = ?
			WHERE user_id = ? AND hash = ? AND used_at IS NULL`, now, userID, hash); err != nil {
			return err
		}
		return c.queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`,
			userID).Scan(&left)
	})
	if err != nil {
		return 0, s.wrap("use recovery code", err)
	}
	return left, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes; an unknown user
// has none.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (_ int, err error) {
	ctx, done := s.op(ctx, "RecoveryCodesLeft", &err)
	defer done()
	var n int
	err = s.read().queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`,
		userID).Scan(&n)
	if err != nil {
		return 0, s.wrap("recovery codes left", err)
	}
	return n, nil
}

func (s *Store) scanFailures(sc scanner) (store.SignInFailures, error) {
	var f store.SignInFailures
	err := sc.Scan(&f.Login, &f.Count, s.tm(&f.LastAt), s.tm(&f.LockedUntil))
	return f, err
}

// SignInFailures returns the login's record, or a zero one with Login set.
func (s *Store) SignInFailures(ctx context.Context, login string) (_ store.SignInFailures, err error) {
	ctx, done := s.op(ctx, "SignInFailures", &err)
	defer done()
	f, err := s.scanFailures(s.read().queryRow(ctx,
		`SELECT login, count, last_at, locked_until FROM sign_in_failures WHERE login = ?`, login))
	if notFound(err) == store.ErrNotFound {
		return store.SignInFailures{Login: login}, nil
	}
	if err != nil {
		return store.SignInFailures{}, s.wrap("sign-in failures", err)
	}
	return f, nil
}

// RecordSignInFailure counts one failure with a single upsert, which the
// engine makes atomic: of concurrent failures none is lost. SET expressions
// read the row as it was, so the window is judged on the previous LastAt.
// LastAt never moves back: a caller whose clock is a little behind
// another's does not rewind it.
func (s *Store) RecordSignInFailure(ctx context.Context, login string, now time.Time, window time.Duration) (_ store.SignInFailures, err error) {
	ctx, done := s.op(ctx, "RecordSignInFailure", &err)
	defer done()
	const op = "record sign-in failure"
	if login == "" {
		return store.SignInFailures{}, s.invalid(op, "login is required")
	}
	if window <= 0 {
		return store.SignInFailures{}, s.invalid(op, "window must be positive")
	}
	ts := times{s: s}
	at, cutoff := ts.enc(now), ts.enc(now.Add(-window))
	if ts.err != nil {
		return store.SignInFailures{}, ts.err
	}
	var f store.SignInFailures
	err = s.writeOne(ctx, func(c conn) error {
		var err error
		f, err = s.scanFailures(c.queryRow(ctx, `INSERT INTO sign_in_failures (login, count, last_at)
			VALUES (?, 1, ?)
			ON CONFLICT (login) DO UPDATE SET
				count = CASE WHEN sign_in_failures.last_at IS NULL OR sign_in_failures.last_at < ?
					THEN 1 ELSE sign_in_failures.count + 1 END,
				last_at = CASE WHEN sign_in_failures.last_at IS NULL OR sign_in_failures.last_at < excluded.last_at
					THEN excluded.last_at ELSE sign_in_failures.last_at END
			RETURNING login, count, last_at, locked_until`, login, at, cutoff))
		return err
	})
	if err != nil {
		return store.SignInFailures{}, s.wrap(op, err)
	}
	return f, nil
}

// LockSignIn sets the login's LockedUntil, making a record with no failures
// (Count 0, LastAt zero) if there is none. A zero until lifts the lock.
func (s *Store) LockSignIn(ctx context.Context, login string, until time.Time) (err error) {
	ctx, done := s.op(ctx, "LockSignIn", &err)
	defer done()
	const op = "lock sign-in"
	if login == "" {
		return s.invalid(op, "login is required")
	}
	to, err := s.optionalTime(until)
	if err != nil {
		return err
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO sign_in_failures (login, count, locked_until) VALUES (?, 0, ?)
			ON CONFLICT (login) DO UPDATE SET locked_until = excluded.locked_until`, login, to)
		return err
	})
	return s.wrap(op, err)
}

// ClearSignInFailures forgets the login's record, if any.
func (s *Store) ClearSignInFailures(ctx context.Context, login string) (err error) {
	ctx, done := s.op(ctx, "ClearSignInFailures", &err)
	defer done()
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `DELETE FROM sign_in_failures WHERE login = ?`, login)
		return err
	})
	return s.wrap("clear sign-in failures", err)
}

// PurgeSignInFailures forgets records whose LastAt and LockedUntil are both
// before before (a time not set counts as before).
func (s *Store) PurgeSignInFailures(ctx context.Context, before time.Time) (err error) {
	ctx, done := s.op(ctx, "PurgeSignInFailures", &err)
	defer done()
	return s.deleteBefore(ctx, "purge sign-in failures", `DELETE FROM sign_in_failures
		WHERE (last_at IS NULL OR last_at < ?) AND (locked_until IS NULL OR locked_until < ?)`, before)
}
