package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// AppendAudit stores e under the next id; a zero e.At is recorded as now.
// Ids only grow, in the order appends reach the database, and are never
// reused, purged ones included.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (err error) {
	ctx, done := s.op(ctx, "AppendAudit", &err)
	defer done()
	const op = "append audit"
	if e.Type == "" {
		return s.invalid(op, "type is required")
	}
	at, err := s.timeOr(e.At)
	if err != nil {
		return err
	}
	detail, err := s.encodeMap("detail", e.Detail)
	if err != nil {
		return s.wrap(op, err)
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO audit_events (at, type, user_id, login, ip, reason, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, at, e.Type, e.UserID, e.Login, e.IP, e.Reason, detail)
		return err
	})
	return s.wrap(op, err)
}

// AuditEvents returns the events q selects, highest id first. The filters
// are bound as parameters; only the shape of the WHERE clause varies.
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) (_ []store.AuditEvent, err error) {
	ctx, done := s.op(ctx, "AuditEvents", &err)
	defer done()
	var (
		where []string
		args  []any
	)
	switch {
	case q.UserID != "" && q.Login != "":
		where, args = append(where, "(user_id = ? OR login = ?)"), append(args, q.UserID, q.Login)
	case q.UserID != "":
		where, args = append(where, "user_id = ?"), append(args, q.UserID)
	case q.Login != "":
		where, args = append(where, "login = ?"), append(args, q.Login)
	}
	ts := times{s: s}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ts.enc(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, ts.enc(q.Until))
	}
	if ts.err != nil {
		return nil, ts.err
	}
	if len(q.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(q.Types)-1)+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if q.Before > 0 {
		where, args = append(where, "id < ?"), append(args, q.Before)
	}
	query := `SELECT id, at, type, user_id, login, ip, reason, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.AuditLimit())

	rows, err := s.read().query(ctx, query, args...)
	out, err := collect(rows, err, func(sc scanner) (store.AuditEvent, error) {
		var (
			e      store.AuditEvent
			detail []byte
		)
		if err := sc.Scan(&e.ID, s.tm(&e.At), &e.Type, &e.UserID, &e.Login, &e.IP, &e.Reason, &detail); err != nil {
			return e, err
		}
		var err error
		e.Detail, err = decodeMap(fmt.Sprintf("audit event %d detail", e.ID), detail)
		return e, err
	})
	return out, s.wrap("audit events", err)
}

// PurgeAudit forgets events whose At is before before. The id counter is
// kept, so ids given later stay above every id given before.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (err error) {
	ctx, done := s.op(ctx, "PurgeAudit", &err)
	defer done()
	return s.deleteBefore(ctx, "purge audit", `DELETE FROM audit_events WHERE at < ?`, before)
}

// CountHit adds one to key's count in the window starting at start and
// returns it with the previous window's count, in one transaction.
func (s *Store) CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error) {
	ctx, done := s.op(ctx, "CountHit", &err)
	defer done()
	const op = "count hit"
	if key == "" || length <= 0 {
		return 0, 0, s.invalid(op, "key and a positive length are required")
	}
	ts := times{s: s}
	at, before := ts.enc(start), ts.enc(start.Add(-length))
	if ts.err != nil {
		return 0, 0, ts.err
	}
	err = s.writeOne(ctx, func(c conn) error {
		return c.queryRow(ctx, `INSERT INTO rate_hits (key, window_start, count) VALUES (?, ?, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET count = rate_hits.count + 1
			RETURNING count, COALESCE((SELECT p.count FROM rate_hits p WHERE p.key = ? AND p.window_start = ?), 0)`,
			key, at, key, before).Scan(&cur, &prev)
	})
	if err != nil {
		return 0, 0, s.wrap(op, err)
	}
	return cur, prev, nil
}

// PurgeHits forgets the windows that started before before.
func (s *Store) PurgeHits(ctx context.Context, before time.Time) (err error) {
	ctx, done := s.op(ctx, "PurgeHits", &err)
	defer done()
	return s.deleteBefore(ctx, "purge hits", `DELETE FROM rate_hits WHERE window_start < ?`, before)
}
