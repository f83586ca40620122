package pool

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Groups, as Cognito has them: a name, a description and a precedence.
// A group is made with CreateGroup, or by adding a user to a name no group
// has (AddToGroup, as before groups had fields: configurations, the CLI and
// `require group` keep working); it lives until DeleteGroup, whatever its
// members. Lists come in pages of at most MaxPageSize, each with an opaque
// token for the next.

var (
	// ErrGroupExists means CreateGroup was given a name a group has.
	ErrGroupExists = errors.New("a group with this name already exists")
	// ErrGroupNotFound means no group has that name.
	ErrGroupNotFound = errors.New("no such group")
	// ErrInvalidGroupDescription means a description is longer than
	// MaxGroupDescription characters or not UTF-8.
	ErrInvalidGroupDescription = errors.New("group descriptions are at most 2048 characters")
	// ErrInvalidPrecedence means a precedence is negative or above
	// MaxPrecedence.
	ErrInvalidPrecedence = errors.New("a group's precedence is a whole number from 0 to 2147483647")
	// ErrInvalidPageToken means a pagination token this pool did not
	// give for that list.
	ErrInvalidPageToken = errors.New("invalid pagination token")
	// ErrInvalidPageLimit means a page size outside 0..MaxPageSize.
	ErrInvalidPageLimit = errors.New("the page size is at most 60")
)

const (
	// MaxGroupDescription is Cognito's limit on a description, in
	// characters.
	MaxGroupDescription = 2048
	// MaxPrecedence is the largest precedence (Cognito's is a 32-bit
	// integer).
	MaxPrecedence = 1<<31 - 1
	// MaxPageSize is the most items a page holds, and the size of a page
	// asked with limit 0: Cognito's 60 for ListUsers, ListGroups,
	// ListUsersInGroup and AdminListGroupsForUser.
	MaxPageSize = 60
)

// NewGroup is what CreateGroup needs. Precedence nil means none.
type NewGroup struct {
	Name        string
	Description string
	Precedence  *int
}

func checkGroupName(name string) error {
	if !groupName.MatchString(name) {
		return ErrInvalidGroup
	}
	return nil
}

func checkGroupFields(description *string, precedence *int) error {
	if description != nil && (!utf8.ValidString(*description) || utf8.RuneCountInString(*description) > MaxGroupDescription) {
		return ErrInvalidGroupDescription
	}
	if precedence != nil && (*precedence < 0 || *precedence > MaxPrecedence) {
		return ErrInvalidPrecedence
	}
	return nil
}

func mapGroupNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrGroupNotFound
	}
	return err
}

// CreateGroup makes a group; ErrGroupExists if the name is taken (also by
// a group made by use).
func (p *Pool) CreateGroup(ctx context.Context, ng NewGroup) (*store.Group, error) {
	if err := checkGroupName(ng.Name); err != nil {
		return nil, err
	}
	if err := checkGroupFields(&ng.Description, ng.Precedence); err != nil {
		return nil, err
	}
	g := &store.Group{Name: ng.Name, Description: ng.Description, Precedence: ng.Precedence}
	if err := p.store.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrGroupExists
		}
		return nil, err
	}
	return g, nil
}

// Group returns a group, or ErrGroupNotFound.
func (p *Pool) Group(ctx context.Context, name string) (*store.Group, error) {
	if err := checkGroupName(name); err != nil {
		return nil, err
	}
	g, err := p.store.GroupByName(ctx, name)
	return g, mapGroupNotFound(err)
}

// UpdateGroup changes the fields up sets and returns the group as it now
// is; ErrGroupNotFound for an unknown group. Members' tokens and sessions
// show a new precedence order from their next refresh.
func (p *Pool) UpdateGroup(ctx context.Context, name string, up store.GroupUpdate) (*store.Group, error) {
	if err := checkGroupName(name); err != nil {
		return nil, err
	}
	if err := checkGroupFields(up.Description, up.Precedence); err != nil {
		return nil, err
	}
	if err := p.store.UpdateGroup(ctx, name, up); err != nil {
		return nil, mapGroupNotFound(err)
	}
	return p.Group(ctx, name)
}

// DeleteGroup removes a group and every membership of it;
// ErrGroupNotFound for an unknown group. Members lose the group in their
// tokens and sessions from the next refresh, as for RemoveFromGroup.
func (p *Pool) DeleteGroup(ctx context.Context, name string) error {
	if err := checkGroupName(name); err != nil {
		return err
	}
	return mapGroupNotFound(p.store.DeleteGroup(ctx, name))
}

// ListGroups returns a page of groups by name, and the token of the next
// page ("" after the last).
func (p *Pool) ListGroups(ctx context.Context, limit int, token string) ([]store.Group, string, error) {
	page, err := readPage(pageGroups, limit, token)
	if err != nil {
		return nil, "", err
	}
	gs, err := p.store.ListGroups(ctx, page)
	if err != nil {
		return nil, "", err
	}
	gs, next := cutPage(gs, page.Limit, pageGroups, func(g store.Group) string { return g.Name })
	return gs, next, nil
}

// ListUsersInGroup returns a page of the group's members by email, and the
// token of the next page; ErrGroupNotFound for an unknown group.
func (p *Pool) ListUsersInGroup(ctx context.Context, group string, limit int, token string) ([]*store.User, string, error) {
	if err := checkGroupName(group); err != nil {
		return nil, "", err
	}
	page, err := readPage(pageMembers, limit, token)
	if err != nil {
		return nil, "", err
	}
	us, err := p.store.ListUsersInGroup(ctx, group, page)
	if err != nil {
		return nil, "", mapGroupNotFound(err)
	}
	us, next := cutPage(us, page.Limit, pageMembers, func(u *store.User) string { return u.Email })
	return us, next, nil
}

// GroupsOfUser returns a page of the user's groups by name, and the token
// of the next page; ErrUserNotFound for an unknown user. (User.Groups has
// the names in precedence order, without paging.)
func (p *Pool) GroupsOfUser(ctx context.Context, userID string, limit int, token string) ([]store.Group, string, error) {
	page, err := readPage(pageUserGroups, limit, token)
	if err != nil {
		return nil, "", err
	}
	gs, err := p.store.GroupsOfUser(ctx, userID, page)
	if err != nil {
		return nil, "", mapNotFoundErr(err)
	}
	gs, next := cutPage(gs, page.Limit, pageUserGroups, func(g store.Group) string { return g.Name })
	return gs, next, nil
}

// ListUsersFiltered returns a page of the users f matches (all for nil)
// by email, and the token of the next page. f is usually what
// cognito/filter.Parse made of a ListUsers Filter.
func (p *Pool) ListUsersFiltered(ctx context.Context, f *store.UserFilter, limit int, token string) ([]*store.User, string, error) {
	page, err := readPage(pageUsers, limit, token)
	if err != nil {
		return nil, "", err
	}
	us, err := p.store.SearchUsers(ctx, f, page)
	if err != nil {
		return nil, "", err
	}
	us, next := cutPage(us, page.Limit, pageUsers, func(u *store.User) string { return u.Email })
	return us, next, nil
}

// Page kinds: a token names the list it was made for, so that one list's
// token is refused by another rather than read as its key.
const (
	pageGroups     = "g"
	pageMembers    = "m"
	pageUserGroups = "ug"
	pageUsers      = "u"
)

// readPage turns a limit and a token into the store's page. The page asks
// one item more than the limit, which cutPage drops: that item says
// whether there is a next page, so the last page gives no token.
func readPage(kind string, limit int, token string) (store.Page, error) {
	if limit < 0 || limit > MaxPageSize {
		return store.Page{}, ErrInvalidPageLimit
	}
	if limit == 0 {
		limit = MaxPageSize
	}
	after := ""
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return store.Page{}, ErrInvalidPageToken
		}
		k, key, ok := strings.Cut(string(raw), "\x00")
		if !ok || k != kind || key == "" || !utf8.ValidString(key) {
			return store.Page{}, ErrInvalidPageToken
		}
		after = key
	}
	return store.Page{After: after, Limit: limit + 1}, nil
}

// cutPage trims items to the page's limit and makes the next page's token
// from the key of the last item kept, if more followed.
func cutPage[T any](items []T, asked int, kind string, key func(T) string) ([]T, string) {
	limit := asked - 1
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + key(items[limit-1])))
}
