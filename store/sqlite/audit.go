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

// AppendAudit stores e under the next id; a zero e.At is recorded as now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if e.Type == "" {
		return errors.New("sqlite: append audit: type is required")
	}
	at := formatTime(time.Now())
	if !e.At.IsZero() {
		var err error
		if at, err = encodeTime(e.At); err != nil {
			return err
		}
	}
	detail, err := encodeAttributes(e.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (at, type, user_id, login, ip, reason, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, at, e.Type, e.UserID, e.Login, e.IP, e.Reason, detail)
		return err
	})
	return wrap("append audit", err)
}

// AuditEvents returns the events q selects, highest id first. The filters
// are bound as parameters; only the shape of the WHERE clause varies.
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	switch {
	case q.UserID != "" && q.Login != "":
		where = append(where, "(user_id = ? OR login = ?)")
		args = append(args, q.UserID, q.Login)
	case q.UserID != "":
		where = append(where, "user_id = ?")
		args = append(args, q.UserID)
	case q.Login != "":
		where = append(where, "login = ?")
		args = append(args, q.Login)
	}
	if !q.Since.IsZero() {
		since, err := encodeTime(q.Since)
		if err != nil {
			return nil, err
		}
		where = append(where, "at >= ?")
		args = append(args, since)
	}
	if !q.Until.IsZero() {
		until, err := encodeTime(q.Until)
		if err != nil {
			return nil, err
		}
		where = append(where, "at < ?")
		args = append(args, until)
	}
	if len(q.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(q.Types)-1)+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if q.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	query := `SELECT id, at, type, user_id, login, ip, reason, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.AuditLimit())

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("audit events", err)
	}
	defer rows.Close()
	out := []store.AuditEvent{}
	for rows.Next() {
		var (
			e          store.AuditEvent
			at, detail string
		)
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.Login, &e.IP, &e.Reason, &detail); err != nil {
			return nil, wrap("audit events", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: audit event %d detail: %w", e.ID, err)
		}
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit events", err)
	}
	return out, nil
}

// PurgeAudit forgets events whose At is before before. The AUTOINCREMENT
// counter is kept, so ids given later stay above every id given before.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) error {
	cutoff, err := encodeTime(before)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE at < ?`, cutoff)
		return err
	})
	return wrap("purge audit", err)
}
