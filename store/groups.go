package store

import (
	"context"
	"time"
)

// Group is a named set of users with Cognito's group fields. A group exists
// on its own (CreateGroup) and also comes into being when a user is added
// to a name no group has (AddToGroup), so configurations that only ever
// named groups by membership keep working.
type Group struct {
	Name        string
	Description string
	// Precedence orders a user's groups: lower first, groups without one
	// last (ties by name). Nil means none, as Cognito's optional field.
	Precedence *int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// GroupUpdate lists the changes UpdateGroup makes; nil fields change
// nothing (Cognito's UpdateGroup cannot clear a precedence either).
type GroupUpdate struct {
	Description *string
	Precedence  *int
}

// Page asks for one page of a list ordered by a unique key: After is the
// key to start after ("" for the first page), Limit caps the number
// returned (0 means a backend default of 100).
type Page struct {
	After string
	Limit int
}

// Search attributes a UserFilter may name besides a key of
// User.Attributes.
const (
	// SearchID matches User.ID (Cognito's sub, and the username of a
	// user who is not federated).
	SearchID = "id"
	// SearchUsername matches the user's Cognito username: User.ID, or
	// for an EXTERNAL_PROVIDER user <provider>_<subject> of the primary
	// identity (else the oldest), as tokens' cognito:username.
	SearchUsername = "username"
	// SearchEmail matches User.Email as stored (normalized by the pool).
	SearchEmail = "email"
	// SearchName matches User.Name.
	SearchName = "name"
	// SearchStatus matches User.Status as stored (CONFIRMED, ...).
	SearchStatus = "status"
	// SearchEnabled matches "true" or "false" against User.Enabled.
	SearchEnabled = "enabled"
	// SearchNone matches no user, whatever the value: a condition the
	// caller knows no user can meet (Cognito's status = "enabled").
	SearchNone = "none"
)

// UserFilter is one condition on a user: the named attribute equals
// Value, or starts with it when Prefix is set. Values compare byte for
// byte (case folding is the caller's: the pool stores emails lower-cased).
// Attribute is one of the Search* constants or "attr:" followed by a key
// of User.Attributes ("attr:given_name"); a user without that attribute
// never matches.
type UserFilter struct {
	Attribute string
	Value     string
	Prefix    bool
}

// AttributeSearch is the UserFilter.Attribute that names a key of
// User.Attributes.
func AttributeSearch(key string) string { return "attr:" + key }

// GroupStore keeps groups and their fields. Memberships stay with
// AddToGroup and RemoveFromGroup of Store.
type GroupStore interface {
	// CreateGroup stores g (Name, Description, Precedence; the times are
	// set by the store and written back to g); ErrConflict if the name is
	// taken.
	CreateGroup(ctx context.Context, g *Group) error
	// GroupByName returns the group, or ErrNotFound.
	GroupByName(ctx context.Context, name string) (*Group, error)
	// UpdateGroup applies up and bumps UpdatedAt; ErrNotFound for an
	// unknown group.
	UpdateGroup(ctx context.Context, name string, up GroupUpdate) error
	// DeleteGroup removes the group and every membership of it;
	// ErrNotFound for an unknown group.
	DeleteGroup(ctx context.Context, name string) error
	// ListGroups returns groups ordered by name (byte order), after
	// p.After.
	ListGroups(ctx context.Context, p Page) ([]Group, error)
	// ListUsersInGroup returns the group's members ordered by email, after
	// the email p.After; ErrNotFound for an unknown group.
	ListUsersInGroup(ctx context.Context, group string, p Page) ([]*User, error)
	// GroupsOfUser returns the groups the user is a member of, ordered by
	// name, after p.After; ErrNotFound for an unknown user.
	GroupsOfUser(ctx context.Context, userID string, p Page) ([]Group, error)
	// SearchUsers returns the users f matches (all users for a nil f),
	// ordered by email, after the email p.After. An Attribute it does not
	// know is an error, never "no match".
	SearchUsers(ctx context.Context, f *UserFilter, p Page) ([]*User, error)
}
