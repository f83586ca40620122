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

// AppendAudit stores e under the next id; a zero e.At is recorded as now.
// Ids come from an identity column: increasing in the order appends reach
// the database, never reused.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if e.Type == "" {
		return errors.New("postgres: append audit: type is required")
	}
	at := e.At
	if at.IsZero() {
		at = now()
	}
	detail, err := encodeAttributes(e.Detail)
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO audit_events (at, type, user_id, login, ip, reason, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, at, e.Type, e.UserID, e.Login, e.IP, e.Reason, detail)
	return wrap("append audit", err)
}

// AuditEvents returns the events q selects, highest id first. The filters
// are bound as parameters; only the shape of the WHERE clause varies.
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch {
	case q.UserID != "" && q.Login != "":
		where = append(where, "(user_id = "+arg(q.UserID)+" OR login = "+arg(q.Login)+")")
	case q.UserID != "":
		where = append(where, "user_id = "+arg(q.UserID))
	case q.Login != "":
		where = append(where, "login = "+arg(q.Login))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < "+arg(q.Until))
	}
	if len(q.Types) > 0 {
		where = append(where, "type = ANY("+arg(q.Types)+")")
	}
	if q.Before > 0 {
		where = append(where, "id < "+arg(q.Before))
	}
	query := `SELECT id, at, type, user_id, login, ip, reason, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT " + arg(q.AuditLimit())

	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap("audit events", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditEvent, error) {
		var (
			e      store.AuditEvent
			detail []byte
		)
		if err := row.Scan(&e.ID, &e.At, &e.Type, &e.UserID, &e.Login, &e.IP, &e.Reason, &detail); err != nil {
			return e, err
		}
		e.At = e.At.UTC()
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return e, fmt.Errorf("audit event %d detail: %w", e.ID, err)
		}
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		return e, nil
	})
	if err != nil {
		return nil, wrap("audit events", err)
	}
	if out == nil {
		out = []store.AuditEvent{}
	}
	return out, nil
}

// PurgeAudit forgets events whose At is before before.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) error {
	_, err := s.db.Exec(ctx, `DELETE FROM audit_events WHERE at < $1`, before)
	return wrap("purge audit", err)
}
