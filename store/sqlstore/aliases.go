package sqlstore

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/store"
)

// aliasKinds is which sign-in aliases the store keeps keys of (set by
// KeepAliases before the store is shared, read by every user write).
type aliasKinds struct{ username, phone bool }

// keys returns the alias keys of attrs for the kinds kept, NULL for none.
func (a aliasKinds) keys(attrs map[string]string) (username, phone any) {
	u, p := store.AliasKeys(attrs, a.username, a.phone)
	return nullIfEmpty(u), nullIfEmpty(p)
}

// aliasMarker is the keys-table kind recording which kinds' keys were
// filled in for every user, so that a restart does not read every user
// again.
const aliasMarker = "alias_keys"

// KeepAliases sets the kinds kept and brings the keys in line (see
// store.AliasStore): a kind turned off is no longer found nor kept; a
// kind turned on is filled in once, user by user, oldest first, each
// write taking the key only if nobody has it yet.
func (s *Store) KeepAliases(ctx context.Context, kinds []string) (skipped []string, err error) {
	var want aliasKinds
	for _, k := range kinds {
		switch k {
		case store.AliasUsername:
			want.username = true
		case store.AliasPhone:
			want.phone = true
		default:
			return nil, s.invalid("keep aliases", "unknown alias kind "+k)
		}
	}
	s.aliases = want
	for _, kind := range []struct {
		name, col string
		on        bool
	}{{store.AliasUsername, "username_key", want.username}, {store.AliasPhone, "phone_key", want.phone}} {
		sk, err := s.keepAlias(ctx, kind.name, kind.col, kind.on)
		if err != nil {
			return nil, err
		}
		skipped = append(skipped, sk...)
	}
	return skipped, nil
}

// keepAlias runs under the caller's ctx alone, not the store's timeout:
// filling a kind in reads every user once, which may take longer than
// one operation may, and happens when a pool starts.
func (s *Store) keepAlias(ctx context.Context, kind, col string, on bool) (skipped []string, err error) {
	marked := false
	keys, err := s.Keys(ctx, aliasMarker)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		marked = marked || k.ID == kind
	}
	if !on {
		// The keys stay (nothing finds users by them while the kind is
		// off, and a write that changes their attribute clears them), so
		// that another instance on the store set otherwise, or the kind
		// turned off and on again, costs a new fill-in and no lost names.
		if !marked {
			return nil, nil
		}
		err := s.writeOne(ctx, func(c conn) error {
			_, err := c.exec(ctx, `DELETE FROM keys WHERE kind = ? AND id = ?`, aliasMarker, kind)
			return err
		})
		return nil, s.wrap("keep aliases", err)
	}
	if marked {
		return nil, nil
	}
	type row struct {
		id    string
		attrs map[string]string
	}
	rs, err := s.read().query(ctx, `SELECT id, attributes FROM users WHERE `+col+` IS NULL ORDER BY created_at, id`)
	users, err := collect(rs, err, func(sc scanner) (row, error) {
		var r row
		var raw []byte
		if err := sc.Scan(&r.id, &raw); err != nil {
			return r, err
		}
		r.attrs, err = decodeMap("user "+r.id+" attributes", raw)
		return r, err
	})
	if err != nil {
		return nil, s.wrap("keep aliases", err)
	}
	one := aliasKinds{username: kind == store.AliasUsername, phone: kind == store.AliasPhone}
	for _, u := range users {
		un, ph := one.keys(u.attrs)
		key := un
		if kind == store.AliasPhone {
			key = ph
		}
		if key == nil {
			continue
		}
		err := s.writeOne(ctx, func(c conn) error {
			return c.execOne(ctx, `UPDATE users SET `+col+` = ? WHERE id = ? AND NOT EXISTS
				(SELECT 1 FROM users WHERE `+col+` = ?)`, key, u.id, key)
		})
		if errors.Is(err, store.ErrNotFound) || err != nil && s.d.IsUniqueViolation(err) {
			skipped = append(skipped, u.id)
			continue
		}
		if err != nil {
			return nil, s.wrap("keep aliases", err)
		}
	}
	now, err := s.time(s.d.Now())
	if err != nil {
		return nil, err
	}
	err = s.writeOne(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO keys (kind, id, material, created_at) VALUES (?, ?, ?, ?)`,
			aliasMarker, kind, []byte("on"), now)
		return err
	})
	if err != nil && !s.d.IsUniqueViolation(err) {
		return nil, s.wrap("keep aliases", err)
	}
	return skipped, nil
}

// UserByAlias returns the user whose key of kind is key, or
// store.ErrNotFound. The key is compared byte for byte: folding a username
// (store.FoldUsername) or normalizing a number is the pool's job.
func (s *Store) UserByAlias(ctx context.Context, kind, key string) (_ *store.User, err error) {
	ctx, done := s.op(ctx, "UserByAlias", &err)
	defer done()
	var q string
	switch {
	case kind == store.AliasUsername && s.aliases.username:
		q = s.userByUsername
	case kind == store.AliasPhone && s.aliases.phone:
		q = s.userByPhone
	default:
		return nil, store.ErrNotFound
	}
	if key == "" {
		return nil, store.ErrNotFound
	}
	return s.userWhere(ctx, q, key)
}
