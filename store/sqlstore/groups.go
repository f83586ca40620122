package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/store"
)

const groupColumns = `name, description, precedence, created_at, updated_at`

func (s *Store) scanGroup(sc scanner) (store.Group, error) {
	var (
		g    store.Group
		prec sql.NullInt64
	)
	if err := sc.Scan(&g.Name, &g.Description, &prec, s.tm(&g.CreatedAt), s.tm(&g.UpdatedAt)); err != nil {
		return g, err
	}
	if prec.Valid {
		p := int(prec.Int64)
		g.Precedence = &p
	}
	return g, nil
}

// precedenceArg binds a precedence, nil as NULL; a negative one is refused
// here rather than by the CHECK, so both engines say the same.
func (s *Store) precedenceArg(op string, p *int) (any, error) {
	if p == nil {
		return nil, nil
	}
	if *p < 0 || int64(*p) > 1<<31-1 {
		return nil, s.invalid(op, "precedence must be 0 to 2147483647")
	}
	return int64(*p), nil
}

// CreateGroup stores g and writes back the times the store recorded; a
// taken name gives store.ErrConflict.
func (s *Store) CreateGroup(ctx context.Context, g *store.Group) (err error) {
	ctx, done := s.op(ctx, "CreateGroup", &err)
	defer done()
	const op = "create group"
	if g.Name == "" || !utf8.ValidString(g.Name) || !utf8.ValidString(g.Description) {
		return s.invalid(op, "a group needs a name, and valid UTF-8")
	}
	prec, err := s.precedenceArg(op, g.Precedence)
	if err != nil {
		return err
	}
	now := s.d.Now()
	ts, err := s.time(now)
	if err != nil {
		return err
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES (?, ?, ?, ?, ?)`,
			g.Name, g.Description, prec, ts, ts)
		return err
	})
	if err != nil {
		return s.wrapConflict(op, err)
	}
	g.CreatedAt, g.UpdatedAt = now, now
	return nil
}

// GroupByName returns the group, or store.ErrNotFound.
func (s *Store) GroupByName(ctx context.Context, name string) (_ *store.Group, err error) {
	ctx, done := s.op(ctx, "GroupByName", &err)
	defer done()
	g, err := s.scanGroup(s.read().queryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE name = ?`, name))
	if err != nil {
		return nil, s.wrap("read group", notFound(err))
	}
	return &g, nil
}

// UpdateGroup applies up and bumps UpdatedAt; an unknown group gives
// store.ErrNotFound.
func (s *Store) UpdateGroup(ctx context.Context, name string, up store.GroupUpdate) (err error) {
	ctx, done := s.op(ctx, "UpdateGroup", &err)
	defer done()
	const op = "update group"
	now, err := s.time(s.d.Now())
	if err != nil {
		return err
	}
	sets, args := []string{"updated_at = ?"}, []any{now}
	if up.Description != nil {
		if !utf8.ValidString(*up.Description) {
			return s.invalid(op, "description: invalid UTF-8")
		}
		sets, args = append(sets, "description = ?"), append(args, *up.Description)
	}
	if up.Precedence != nil {
		prec, err := s.precedenceArg(op, up.Precedence)
		if err != nil {
			return err
		}
		sets, args = append(sets, "precedence = ?"), append(args, prec)
	}
	return s.updateOne(ctx, op, `UPDATE groups SET `+strings.Join(sets, ", ")+` WHERE name = ?`,
		append(args, name)...)
}

// DeleteGroup removes the group; its memberships go with it through the
// foreign key's ON DELETE CASCADE. An unknown group gives
// store.ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, name string) (err error) {
	ctx, done := s.op(ctx, "DeleteGroup", &err)
	defer done()
	return s.updateOne(ctx, "delete group", `DELETE FROM groups WHERE name = ?`, name)
}

// pageLimit is p.Limit, or the default for none.
func pageLimit(p store.Page) int {
	if p.Limit <= 0 {
		return defaultListLimit
	}
	return p.Limit
}

// ListGroups returns up to p.Limit groups whose name sorts after p.After,
// by name.
func (s *Store) ListGroups(ctx context.Context, p store.Page) (_ []store.Group, err error) {
	ctx, done := s.op(ctx, "ListGroups", &err)
	defer done()
	rows, err := s.read().query(ctx, `SELECT `+groupColumns+` FROM groups WHERE name > ? ORDER BY name LIMIT ?`,
		p.After, pageLimit(p))
	gs, err := collect(rows, err, s.scanGroup)
	return gs, s.wrap("list groups", err)
}

// ListUsersInGroup returns up to p.Limit members of the group whose email
// sorts after p.After, by email; an unknown group gives store.ErrNotFound.
func (s *Store) ListUsersInGroup(ctx context.Context, group string, p store.Page) (_ []*store.User, err error) {
	ctx, done := s.op(ctx, "ListUsersInGroup", &err)
	defer done()
	const op = "list users in group"
	if err := s.exists(ctx, `SELECT 1 FROM groups WHERE name = ?`, group); err != nil {
		return nil, s.wrap(op, err)
	}
	rows, err := s.read().query(ctx, s.userSelect+
		` WHERE email > ? AND id IN (SELECT user_id FROM user_groups WHERE group_name = ?) ORDER BY email LIMIT ?`,
		p.After, group, pageLimit(p))
	users, err := collect(rows, err, s.scanUser)
	return users, s.wrap(op, err)
}

// GroupsOfUser returns up to p.Limit groups of the user whose name sorts
// after p.After, by name; an unknown user gives store.ErrNotFound.
func (s *Store) GroupsOfUser(ctx context.Context, userID string, p store.Page) (_ []store.Group, err error) {
	ctx, done := s.op(ctx, "GroupsOfUser", &err)
	defer done()
	const op = "groups of user"
	if err := s.exists(ctx, `SELECT 1 FROM users WHERE id = ?`, userID); err != nil {
		return nil, s.wrap(op, err)
	}
	rows, err := s.read().query(ctx, `SELECT `+groupColumns+` FROM groups
		WHERE name > ? AND name IN (SELECT group_name FROM user_groups WHERE user_id = ?) ORDER BY name LIMIT ?`,
		p.After, userID, pageLimit(p))
	gs, err := collect(rows, err, s.scanGroup)
	return gs, s.wrap(op, err)
}

// exists gives store.ErrNotFound when query, selecting 1 by arg, finds no
// row.
func (s *Store) exists(ctx context.Context, query string, arg any) error {
	var one int
	return notFound(s.read().queryRow(ctx, query, arg).Scan(&one))
}

// SearchUsers returns up to p.Limit users f matches whose email sorts
// after p.After, by email. A prefix compares the value's first characters
// (substr counts characters in both engines), so no LIKE pattern, with its
// wildcards and its engine-dependent case folding, is ever built from
// input.
func (s *Store) SearchUsers(ctx context.Context, f *store.UserFilter, p store.Page) (_ []*store.User, err error) {
	ctx, done := s.op(ctx, "SearchUsers", &err)
	defer done()
	const op = "search users"
	where, args := `email > ?`, []any{p.After}
	if f != nil {
		cond, cargs, err := s.filterCondition(op, f)
		if err != nil {
			return nil, err
		}
		where += ` AND ` + cond
		args = append(args, cargs...)
	}
	rows, err := s.read().query(ctx, s.userSelect+` WHERE `+where+` ORDER BY email LIMIT ?`,
		append(args, pageLimit(p))...)
	users, err := collect(rows, err, s.scanUser)
	return users, s.wrap(op, err)
}

// usernameExpr is a users row's Cognito username (store.SearchUsername):
// the id, or for a federated user the primary (else oldest) identity's
// provider_subject.
const usernameExpr = `(CASE WHEN status = '` + store.StatusExternalProvider + `' THEN COALESCE(
	(SELECT i.provider || '_' || i.subject FROM identities i WHERE i.user_id = users.id
		ORDER BY i.is_primary DESC, i.created_at, i.provider LIMIT 1), id) ELSE id END)`

// filterCondition is f as a WHERE condition and its arguments.
func (s *Store) filterCondition(op string, f *store.UserFilter) (string, []any, error) {
	if !utf8.ValidString(f.Value) {
		return "", nil, s.invalid(op, "filter value: invalid UTF-8")
	}
	var (
		expr  string
		eargs []any
	)
	switch f.Attribute {
	case store.SearchID:
		expr = "id"
	case store.SearchUsername:
		expr = usernameExpr
	case store.SearchEmail:
		expr = "email"
	case store.SearchName:
		expr = "name"
	case store.SearchStatus:
		expr = "status"
	case store.SearchNone:
		return "1 = 0", nil, nil
	case store.SearchEnabled:
		if f.Prefix || (f.Value != "true" && f.Value != "false") {
			return "", nil, s.invalid(op, `enabled matches exactly "true" or "false"`)
		}
		return "enabled = ?", []any{f.Value == "true"}, nil
	default:
		key, ok := strings.CutPrefix(f.Attribute, "attr:")
		if !ok || key == "" || !utf8.ValidString(key) {
			return "", nil, s.invalid(op, "unknown search attribute "+f.Attribute)
		}
		expr, eargs = s.d.AttributeValue(), []any{key}
	}
	if !f.Prefix {
		return expr + " = ?", append(eargs, f.Value), nil
	}
	if f.Value == "" {
		return expr + " IS NOT NULL", eargs, nil
	}
	return "substr(" + expr + ", 1, ?) = ?", append(eargs, utf8.RuneCountInString(f.Value), f.Value), nil
}
