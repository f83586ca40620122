package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CountHit adds one to key's count in the window starting at start and
// returns it with the previous window's count, in one write transaction.
func (s *Store) CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error) {
	if key == "" || length <= 0 {
		return 0, 0, errors.New("sqlite: count hit: key and a positive length are required")
	}
	at, err := encodeTime(start)
	if err != nil {
		return 0, 0, err
	}
	before, err := encodeTime(start.Add(-length))
	if err != nil {
		return 0, 0, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO rate_hits (key, window_start, count) VALUES (?, ?, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1
			RETURNING count`, key, at).Scan(&cur); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT count FROM rate_hits WHERE key = ? AND window_start = ?`, key, before).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			prev = 0
			return nil
		}
		return err
	})
	if err != nil {
		return 0, 0, wrap("count hit", err)
	}
	return cur, prev, nil
}

// PurgeHits forgets the windows that started before before.
func (s *Store) PurgeHits(ctx context.Context, before time.Time) error {
	at, err := encodeTime(before)
	if err != nil {
		return err
	}
	return wrap("purge hits", s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM rate_hits WHERE window_start < ?`, at)
		return err
	}))
}
