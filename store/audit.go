package store

import (
	"context"
	"time"
)

// Bounds of AuditQuery.Limit.
const (
	// DefaultAuditLimit is the page size of a query that names none.
	DefaultAuditLimit = 100
	// MaxAuditLimit is the largest page a query gets, whatever it asks.
	MaxAuditLimit = 1000
)

// AuditEvent is one entry of a pool's audit trail of account security: a
// sign-in, a failed one, a lockout, a change of factor or password. The
// trail outlives the accounts it names: deleting a user keeps their events.
// It never holds a password, code, secret or token.
type AuditEvent struct {
	// ID is set by the store, increasing in the order events are appended;
	// any value given to AppendAudit is ignored.
	ID int64
	// At is when it happened; a zero At is recorded as the store's now.
	At time.Time
	// Type names what happened ("sign_in_failed"), from the pool's list.
	Type string
	// UserID is the account the event is about; empty when there is none
	// (a failed sign-in for an address nobody has).
	UserID string
	// Login is the normalized email the event is about: as typed for a
	// sign-in, the account's address at the time for the rest. It keeps
	// the events of a deleted account, or of no account, findable.
	Login string
	// IP is the client's address, empty when the event did not come from
	// a client (the CLI).
	IP string
	// Reason says why, for a failure ("invalid_credentials").
	Reason string
	// Detail holds what else is worth keeping ("kind", "until"). Never nil
	// on an event read from a store.
	Detail map[string]string
}

// AuditQuery selects events, newest first. Every field left zero selects
// everything.
type AuditQuery struct {
	// UserID and Login select the events of that account and of that
	// login. When both are set an event matching either is returned: an
	// account's own events together with the failed sign-ins typed for its
	// address, before it existed or after it was deleted.
	UserID string
	Login  string
	// Since (inclusive) and Until (exclusive) bound At.
	Since time.Time
	Until time.Time
	// Types, when not empty, keeps only events of these types.
	Types []string
	// Before, when positive, keeps only events with a lower ID: the next
	// page starts before the last ID of the previous one.
	Before int64
	// Limit caps the events returned: 0 (or less) means
	// DefaultAuditLimit, and more than MaxAuditLimit means MaxAuditLimit.
	Limit int
}

// AuditLimit is q.Limit within its bounds, as every backend applies it.
func (q AuditQuery) AuditLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultAuditLimit
	case q.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return q.Limit
}

// AuditStore is the part of Store that keeps the audit trail. Each method
// is one transaction.
type AuditStore interface {
	// AppendAudit stores e with a new ID, greater than every ID given
	// before (also those of purged events). Type is required. Concurrent
	// appends are all kept.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// AuditEvents returns the events q selects, newest (highest ID)
	// first; none is an empty list, not an error.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// PurgeAudit forgets events whose At is before before.
	PurgeAudit(ctx context.Context, before time.Time) error
}
