package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/store"
)

// rowsPerInsert bounds one multi-row INSERT's placeholders (10 columns a
// user: 2,000), well under SQLite's 32,766 and PostgreSQL's 65,535.
const rowsPerInsert = 200

// ImportUsers writes users in one transaction (see store.ImportStore):
// first it reads which ids exist and which emails and identities are
// taken, then writes the new users with multi-row INSERTs, so that a
// batch costs a few statements rather than a few per user.
func (s *Store) ImportUsers(ctx context.Context, users []store.ImportedUser) (created []string, err error) {
	ctx, done := s.op(ctx, "ImportUsers", &err)
	defer done()
	const op = "import users"
	if len(users) > store.MaxImportBatch {
		return nil, s.invalid(op, fmt.Sprintf("%d users, at most %d a call", len(users), store.MaxImportBatch))
	}
	rows, err := s.importRows(op, users)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(c conn) error {
		created = created[:0]
		fresh, err := s.importFresh(ctx, c, users)
		if err != nil {
			return err
		}
		if len(fresh) == 0 {
			return nil
		}
		var us, gs, ids, fs [][]any
		groups := map[string]bool{}
		for _, i := range fresh {
			r := rows[i]
			us = append(us, r.user)
			for _, g := range users[i].User.Groups {
				groups[g] = true
				gs = append(gs, []any{r.id, g})
			}
			ids = append(ids, r.identities...)
			fs = append(fs, r.factors...)
			created = append(created, r.id)
		}
		if err := insertRows(ctx, c, `INSERT INTO users
			(id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at) VALUES `, us); err != nil {
			return err
		}
		// An alias goes to the newcomer only if nobody has it yet
		// (store.AliasStore): an import is not refused for it.
		for _, i := range fresh {
			for _, k := range rows[i].aliases {
				if _, err := c.exec(ctx, `UPDATE users SET `+k.col+` = ? WHERE id = ? AND NOT EXISTS
					(SELECT 1 FROM users WHERE `+k.col+` = ?)`, k.key, rows[i].id, k.key); err != nil {
					return err
				}
			}
		}
		now, err := s.time(s.d.Now())
		if err != nil {
			return err
		}
		for g := range groups {
			if _, err := c.exec(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES (?, '', NULL, ?, ?)
				ON CONFLICT (name) DO UPDATE SET updated_at = groups.updated_at`, g, now, now); err != nil {
				return err
			}
		}
		if err := insertRows(ctx, c, `INSERT INTO user_groups (user_id, group_name) VALUES `, gs); err != nil {
			return err
		}
		if err := insertRows(ctx, c, `INSERT INTO identities
			(provider, subject, user_id, provider_type, issuer, is_primary, created_at) VALUES `, ids); err != nil {
			return err
		}
		return insertRows(ctx, c, `INSERT INTO mfa_factors
			(id, user_id, kind, name, secret, confirmed, last_step, created_at, last_used_at) VALUES `, fs)
	})
	if err != nil {
		return nil, s.wrapConflict(op, err)
	}
	return created, nil
}

// importRow is one user encoded for its INSERTs.
type importRow struct {
	id                  string
	user                []any
	identities, factors [][]any
	aliases             []aliasKey
}

// aliasKey is one alias key of an imported user, by its column.
type aliasKey struct{ col, key string }

// importRows checks users and encodes them, refusing a call that repeats
// an id, an email or an identity.
func (s *Store) importRows(op string, users []store.ImportedUser) ([]importRow, error) {
	seenID, seenEmail, seenIdentity := map[string]bool{}, map[string]bool{}, map[string]bool{}
	rows := make([]importRow, len(users))
	for i, iu := range users {
		u := iu.User
		if u == nil || u.ID == "" || u.Email == "" {
			return nil, s.invalid(op, fmt.Sprintf("user %d: id and email are required", i))
		}
		if seenID[u.ID] {
			return nil, s.invalid(op, fmt.Sprintf("user %d: id %q twice", i, u.ID))
		}
		if seenEmail[u.Email] {
			return nil, &store.ImportConflictError{Index: i, What: "email"}
		}
		seenID[u.ID], seenEmail[u.Email] = true, true
		attrs, err := s.encodeMap("attribute", u.Attributes)
		if err != nil {
			return nil, err
		}
		ts := times{s: s}
		createdAt := ts.or(u.CreatedAt)
		updatedAt := createdAt
		if !u.UpdatedAt.IsZero() {
			updatedAt = ts.enc(u.UpdatedAt)
		}
		r := importRow{id: u.ID, user: []any{u.ID, u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Status, u.Enabled, attrs, createdAt, updatedAt}}
		un, ph := store.AliasKeys(u.Attributes, s.aliases.username, s.aliases.phone)
		if un != "" {
			r.aliases = append(r.aliases, aliasKey{"username_key", un})
		}
		if ph != "" {
			r.aliases = append(r.aliases, aliasKey{"phone_key", ph})
		}
		providers := map[string]bool{}
		for _, id := range u.Identities {
			if id.Provider == "" || id.Subject == "" {
				return nil, s.invalid(op, fmt.Sprintf("user %d: identity provider and subject are required", i))
			}
			key := id.Provider + "\x00" + id.Subject
			if seenIdentity[key] || providers[id.Provider] {
				return nil, &store.ImportConflictError{Index: i, What: "identity " + id.Provider}
			}
			seenIdentity[key], providers[id.Provider] = true, true
			r.identities = append(r.identities, []any{id.Provider, id.Subject, u.ID, id.ProviderType, id.Issuer, id.Primary, ts.or(id.CreatedAt)})
		}
		for _, f := range iu.Factors {
			if f.ID == "" || f.Kind == "" || f.LastStep < 0 {
				return nil, s.invalid(op, fmt.Sprintf("user %d: factor id and kind are required, last step not negative", i))
			}
			r.factors = append(r.factors, []any{f.ID, u.ID, f.Kind, f.Name, nonNil(f.Secret), f.Confirmed, f.LastStep, ts.or(f.CreatedAt), ts.opt(f.LastUsedAt)})
		}
		if ts.err != nil {
			return nil, ts.err
		}
		rows[i] = r
	}
	return rows, nil
}

// importFresh returns the indexes of the users not in the store yet, and
// an *ImportConflictError for one whose email or identity is another's.
func (s *Store) importFresh(ctx context.Context, c conn, users []store.ImportedUser) ([]int, error) {
	byID := map[string]bool{}
	emailOwner := map[string]string{}
	for start := 0; start < len(users); start += rowsPerInsert {
		chunk := users[start:min(start+rowsPerInsert, len(users))]
		args := make([]any, 0, 2*len(chunk))
		for _, iu := range chunk {
			args = append(args, iu.User.ID)
		}
		for _, iu := range chunk {
			args = append(args, iu.User.Email)
		}
		in := "(?" + strings.Repeat(", ?", len(chunk)-1) + ")"
		rows, err := c.query(ctx, `SELECT id, email FROM users WHERE id IN `+in+` OR email IN `+in, args...)
		pairs, err := collect(rows, err, func(sc scanner) ([2]string, error) {
			var p [2]string
			return p, sc.Scan(&p[0], &p[1])
		})
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			byID[p[0]] = true
			emailOwner[p[1]] = p[0]
		}
	}
	var fresh []int
	for i, iu := range users {
		u := iu.User
		if byID[u.ID] {
			continue
		}
		if _, taken := emailOwner[u.Email]; taken {
			return nil, &store.ImportConflictError{Index: i, What: "email"}
		}
		for _, id := range u.Identities {
			var owner string
			err := c.queryRow(ctx, `SELECT user_id FROM identities WHERE provider = ? AND subject = ?`, id.Provider, id.Subject).Scan(&owner)
			if err == nil {
				return nil, &store.ImportConflictError{Index: i, What: "identity " + id.Provider}
			}
			if err := notFound(err); err != store.ErrNotFound {
				return nil, err
			}
		}
		fresh = append(fresh, i)
	}
	return fresh, nil
}

// insertRows runs prefix with rows as its VALUES, rowsPerInsert at a time.
func insertRows(ctx context.Context, c conn, prefix string, rows [][]any) error {
	for start := 0; start < len(rows); start += rowsPerInsert {
		chunk := rows[start:min(start+rowsPerInsert, len(rows))]
		one := "(?" + strings.Repeat(", ?", len(chunk[0])-1) + ")"
		args := make([]any, 0, len(chunk)*len(chunk[0]))
		for _, r := range chunk {
			args = append(args, r...)
		}
		if _, err := c.exec(ctx, prefix+one+strings.Repeat(", "+one, len(chunk)-1), args...); err != nil {
			return err
		}
	}
	return nil
}
