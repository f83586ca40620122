package postgres

import (
	"context"
	"errors"
	"time"
)

// CountHit adds one to key's count in the window starting at start and
// returns it with the previous window's count, in one statement.
func (s *Store) CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error) {
	if key == "" || length <= 0 {
		return 0, 0, errors.New("postgres: count hit: key and a positive length are required")
	}
	err = s.db.QueryRow(ctx, `WITH hit AS (
			INSERT INTO rate_hits AS h (key, window_start, count) VALUES ($1, $2, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET count = h.count + 1
			RETURNING count)
		SELECT hit.count, COALESCE((SELECT count FROM rate_hits WHERE key = $1 AND window_start = $3), 0) FROM hit`,
		key, start, start.Add(-length)).Scan(&cur, &prev)
	if err != nil {
		return 0, 0, wrap("count hit", err)
	}
	return cur, prev, nil
}

// PurgeHits forgets the windows that started before before.
func (s *Store) PurgeHits(ctx context.Context, before time.Time) error {
	_, err := s.db.Exec(ctx, `DELETE FROM rate_hits WHERE window_start < $1`, before)
	return wrap("purge hits", err)
}
