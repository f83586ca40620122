package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/store"
)

// UpdateUser applies up in one transaction. The user's row is locked (FOR
// UPDATE) before its attributes are read and merged, so concurrent updates
// of different attributes both land. An email taken by another user gives
// store.ErrConflict; an unknown user store.ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, userID string, up store.UserUpdate) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT attributes FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		args := []any{now()}
		sets := []string{"updated_at = $1"}
		set := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
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
			attrs := map[string]string{}
			if err := json.Unmarshal(raw, &attrs); err != nil {
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
			set("attributes", enc)
		}
		args = append(args, userID)
		_, err = tx.Exec(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = $`+strconv.Itoa(len(args)), args...)
		return err
	})
	if hasCode(err, uniqueViolation) {
		err = store.ErrConflict
	}
	return wrap("update user", err)
}

// SaveVerificationCode stores c, replacing the user's code of the same
// purpose; an unknown user gives store.ErrNotFound (the foreign key is the
// check, so it holds against a concurrent DeleteUser too).
func (s *Store) SaveVerificationCode(ctx context.Context, c store.VerificationCode) error {
	if c.UserID == "" || c.Purpose == "" || c.Expires.IsZero() {
		return errors.New("postgres: save verification code: user, purpose and expiry are required")
	}
	if c.Attempts < 0 {
		return errors.New("postgres: save verification code: negative attempts")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO verification_codes
		(user_id, purpose, hash, target, attempts, sent_at, expires) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id, purpose) DO UPDATE SET hash = excluded.hash, target = excluded.target,
			attempts = excluded.attempts, sent_at = excluded.sent_at, expires = excluded.expires`,
		c.UserID, c.Purpose, c.Hash, c.Target, c.Attempts, optionalTime(c.SentAt), c.Expires)
	if hasCode(err, foreignKeyViolation) {
		err = store.ErrNotFound
	}
	return wrap("save verification code", err)
}

const codeSelect = `SELECT user_id, purpose, hash, target, attempts, sent_at, expires FROM verification_codes
	WHERE user_id = $1 AND purpose = $2`

func scanCode(row pgx.Row) (*store.VerificationCode, error) {
	var (
		c    store.VerificationCode
		sent *time.Time
	)
	if err := row.Scan(&c.UserID, &c.Purpose, &c.Hash, &c.Target, &c.Attempts, &sent, &c.Expires); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	c.SentAt = fromOptional(sent)
	c.Expires = c.Expires.UTC()
	return &c, nil
}

// VerificationCode returns the user's code of that purpose, expired or not.
func (s *Store) VerificationCode(ctx context.Context, userID, purpose string) (*store.VerificationCode, error) {
	c, err := scanCode(s.db.QueryRow(ctx, codeSelect, userID, purpose))
	if err != nil {
		return nil, wrap("verification code", err)
	}
	return c, nil
}

// ConsumeVerificationCode checks hash against the live code in one
// transaction, with the code's row locked so that concurrent tries queue;
// see store.Store for what each outcome does.
func (s *Store) ConsumeVerificationCode(ctx context.Context, userID, purpose, hash string, maxAttempts int, now time.Time) (*store.VerificationCode, error) {
	if maxAttempts < 1 {
		return nil, errors.New("postgres: consume verification code: maxAttempts must be at least 1")
	}
	var out *store.VerificationCode
	mismatch := false
	err := s.write(ctx, func(tx pgx.Tx) error {
		c, err := scanCode(tx.QueryRow(ctx, codeSelect+` FOR UPDATE`, userID, purpose))
		if err != nil {
			return err
		}
		if !now.Before(c.Expires) || c.Attempts >= maxAttempts {
			return store.ErrNotFound
		}
		if store.SameHash(c.Hash, hash) {
			out = c
			_, err := tx.Exec(ctx, `DELETE FROM verification_codes WHERE user_id = $1 AND purpose = $2`, userID, purpose)
			return err
		}
		c.Attempts++
		out, mismatch = c, true
		if c.Attempts >= maxAttempts {
			_, err = tx.Exec(ctx, `DELETE FROM verification_codes WHERE user_id = $1 AND purpose = $2`, userID, purpose)
		} else {
			_, err = tx.Exec(ctx, `UPDATE verification_codes SET attempts = $1 WHERE user_id = $2 AND purpose = $3`,
				c.Attempts, userID, purpose)
		}
		return err
	})
	if err != nil {
		return nil, wrap("consume verification code", err)
	}
	if mismatch {
		return out, fmt.Errorf("postgres: consume verification code: %w", store.ErrCodeMismatch)
	}
	return out, nil
}

// DeleteVerificationCode removes the user's code of that purpose, if any.
func (s *Store) DeleteVerificationCode(ctx context.Context, userID, purpose string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM verification_codes WHERE user_id = $1 AND purpose = $2`, userID, purpose)
	return wrap("delete verification code", err)
}
