package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// UpdateUser applies up in one write transaction: the attributes are read,
// merged and written back under the write lock, so concurrent updates of
// different attributes both land. An email taken by another user gives
// store.ErrConflict; an unknown user store.ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, userID string, up store.UserUpdate) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var raw string
		err := tx.QueryRowContext(ctx, `SELECT attributes FROM users WHERE id = ?`, userID).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		sets := []string{"updated_at = ?"}
		args := []any{formatTime(time.Now())}
		if up.Email != nil {
			sets, args = append(sets, "email = ?"), append(args, *up.Email)
		}
		if up.EmailVerified != nil {
			sets, args = append(sets, "email_verified = ?"), append(args, boolInt(*up.EmailVerified))
		}
		if up.Name != nil {
			sets, args = append(sets, "name = ?"), append(args, *up.Name)
		}
		if up.Status != nil {
			sets, args = append(sets, "status = ?"), append(args, *up.Status)
		}
		if len(up.SetAttributes) > 0 || len(up.DeleteAttributes) > 0 {
			attrs := map[string]string{}
			if err := json.Unmarshal([]byte(raw), &attrs); err != nil {
				return fmt.Errorf("user %s attributes: %w", userID, err)
			}
			if attrs == nil {
				attrs = map[string]string{}
			}
			for k, v := range up.SetAttributes {
				attrs[k] = v
			}
			for _, k := range up.DeleteAttributes {
				delete(attrs, k)
			}
			enc, err := encodeAttributes(attrs)
			if err != nil {
				return err
			}
			sets, args = append(sets, "attributes = ?"), append(args, enc)
		}
		args = append(args, userID)
		_, err = tx.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
		return err
	})
	if isUniqueViolation(err) {
		err = store.ErrConflict
	}
	return wrap("update user", err)
}

// SaveVerificationCode stores c, replacing the user's code of the same
// purpose; an unknown user gives store.ErrNotFound.
func (s *Store) SaveVerificationCode(ctx context.Context, c store.VerificationCode) error {
	if c.UserID == "" || c.Purpose == "" || c.Expires.IsZero() {
		return errors.New("sqlite: save verification code: user, purpose and expiry are required")
	}
	if c.Attempts < 0 {
		return errors.New("sqlite: save verification code: negative attempts")
	}
	expires, err := encodeTime(c.Expires)
	if err != nil {
		return err
	}
	sent, err := encodeOptionalTime(c.SentAt)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, c.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO verification_codes
			(user_id, purpose, hash, target, attempts, sent_at, expires) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, purpose) DO UPDATE SET hash = excluded.hash, target = excluded.target,
				attempts = excluded.attempts, sent_at = excluded.sent_at, expires = excluded.expires`,
			c.UserID, c.Purpose, c.Hash, c.Target, c.Attempts, sent, expires)
		return err
	})
	return wrap("save verification code", err)
}

const codeSelect = `SELECT user_id, purpose, hash, target, attempts, sent_at, expires FROM verification_codes
	WHERE user_id = ? AND purpose = ?`

func scanCode(sc scanner) (*store.VerificationCode, error) {
	var (
		c       store.VerificationCode
		sent    sql.NullString
		expires string
	)
	if err := sc.Scan(&c.UserID, &c.Purpose, &c.Hash, &c.Target, &c.Attempts, &sent, &expires); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	var err error
	if c.SentAt, err = parseOptionalTime(sent); err != nil {
		return nil, err
	}
	if c.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &c, nil
}

// VerificationCode returns the user's code of that purpose, expired or not.
func (s *Store) VerificationCode(ctx context.Context, userID, purpose string) (*store.VerificationCode, error) {
	c, err := scanCode(s.db.QueryRowContext(ctx, codeSelect, userID, purpose))
	if err != nil {
		return nil, wrap("verification code", err)
	}
	return c, nil
}

// ConsumeVerificationCode checks hash against the live code in one write
// transaction; see store.Store for what each outcome does.
func (s *Store) ConsumeVerificationCode(ctx context.Context, userID, purpose, hash string, maxAttempts int, now time.Time) (*store.VerificationCode, error) {
	if maxAttempts < 1 {
		return nil, errors.New("sqlite: consume verification code: maxAttempts must be at least 1")
	}
	var out *store.VerificationCode
	mismatch := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanCode(tx.QueryRowContext(ctx, codeSelect, userID, purpose))
		if err != nil {
			return err
		}
		if !now.Before(c.Expires) || c.Attempts >= maxAttempts {
			return store.ErrNotFound
		}
		if store.SameHash(c.Hash, hash) {
			out = c
			_, err := tx.ExecContext(ctx, `DELETE FROM verification_codes WHERE user_id = ? AND purpose = ?`, userID, purpose)
			return err
		}
		c.Attempts++
		out, mismatch = c, true
		if c.Attempts >= maxAttempts {
			_, err = tx.ExecContext(ctx, `DELETE FROM verification_codes WHERE user_id = ? AND purpose = ?`, userID, purpose)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE verification_codes SET attempts = ? WHERE user_id = ? AND purpose = ?`,
				c.Attempts, userID, purpose)
		}
		return err
	})
	if err != nil {
		return nil, wrap("consume verification code", err)
	}
	if mismatch {
		return out, fmt.Errorf("sqlite: consume verification code: %w", store.ErrCodeMismatch)
	}
	return out, nil
}

// DeleteVerificationCode removes the user's code of that purpose, if any.
func (s *Store) DeleteVerificationCode(ctx context.Context, userID, purpose string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM verification_codes WHERE user_id = ? AND purpose = ?`, userID, purpose)
		return err
	})
	return wrap("delete verification code", err)
}
