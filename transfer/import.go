package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// DefaultBatch is how many users one transaction writes: large enough that
// 100,000 users take a few hundred transactions, small enough that each
// holds SQLite's write lock for milliseconds, not seconds.
const DefaultBatch = 500

// ImportOptions tune Import.
type ImportOptions struct {
	// Batch is the users per transaction (1 to store.MaxImportBatch);
	// 0 means DefaultBatch.
	Batch int
}

// Result counts what an import did. A user, group or client already in
// the pool (by id, name) is skipped, left as it is: running a file again
// writes nothing, and resumes one that was cut short.
type Result struct {
	UsersCreated, UsersSkipped     int
	GroupsCreated, GroupsSkipped   int
	ClientsCreated, ClientsSkipped int
}

// Import writes plan into p's store. It first checks the plan against
// the store (an email or identity of another user fails, naming the
// line, before anything is written), then writes groups, clients and
// users in batches. Should a write fail after all (the store failed, or a
// user signed up with a planned email meanwhile), what this call wrote is
// deleted again, so that a file goes in whole or not at all.
func Import(ctx context.Context, p *pool.Pool, plan *Plan, opts ImportOptions) (Result, error) {
	var res Result
	st := p.Store()
	batch := opts.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	if batch > store.MaxImportBatch {
		return res, fmt.Errorf("batch %d is above %d", batch, store.MaxImportBatch)
	}
	if err := checkAgainst(ctx, st, plan); err != nil {
		return res, err
	}
	var (
		groups, clients, users []string
		err                    error
	)
	defer func() {
		if err != nil {
			undo(context.WithoutCancel(ctx), st, groups, clients, users)
		}
	}()
	for _, g := range plan.Groups {
		if _, e := st.GroupByName(ctx, g.Group.Name); e == nil {
			res.GroupsSkipped++
			continue
		} else if !errors.Is(e, store.ErrNotFound) {
			err = e
			return res, err
		}
		gr := g.Group
		if err = st.CreateGroup(ctx, &gr); err != nil {
			return res, lineWrap(g.Line, err)
		}
		groups = append(groups, gr.Name)
		res.GroupsCreated++
	}
	for _, c := range plan.Clients {
		if _, e := st.ClientByID(ctx, c.Client.ID); e == nil {
			res.ClientsSkipped++
			continue
		} else if !errors.Is(e, store.ErrNotFound) {
			err = e
			return res, err
		}
		cl := c.Client
		if err = st.CreateClient(ctx, &cl); err != nil {
			return res, lineWrap(c.Line, err)
		}
		clients = append(clients, cl.ID)
		res.ClientsCreated++
	}
	for start := 0; start < len(plan.Users); start += batch {
		chunk := plan.Users[start:min(start+batch, len(plan.Users))]
		in := make([]store.ImportedUser, len(chunk))
		for i, pu := range chunk {
			in[i] = pu.User
			if len(pu.User.Factors) > 0 {
				in[i].Factors = make([]store.MFAFactor, len(pu.User.Factors))
				for j, f := range pu.User.Factors {
					f.Secret = p.SealFactorSecret(f, f.Secret)
					in[i].Factors[j] = f
				}
			}
		}
		var created []string
		created, err = st.ImportUsers(ctx, in)
		if err != nil {
			var ce *store.ImportConflictError
			if errors.As(err, &ce) {
				err = lineErr(chunk[ce.Index].Line, "%s belongs to another user of the pool", ce.What)
			}
			return res, err
		}
		users = append(users, created...)
		res.UsersCreated += len(created)
		res.UsersSkipped += len(chunk) - len(created)
	}
	return res, nil
}

func lineWrap(n int, err error) error { return &LineError{Line: n, Err: err} }

// checkAgainst refuses a plan whose user takes an email or identity that
// another user of the store has, reading the store's users once.
func checkAgainst(ctx context.Context, st store.Store, plan *Plan) error {
	if len(plan.Users) == 0 {
		return nil
	}
	ids := map[string]bool{}
	emailOwner, identityOwner := map[string]string{}, map[string]string{}
	after := ""
	for {
		page, err := st.ListUsers(ctx, store.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, u := range page {
			ids[u.ID] = true
			emailOwner[u.Email] = u.ID
			for _, id := range u.Identities {
				identityOwner[id.Provider+"\x00"+id.Subject] = u.ID
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Email
	}
	for _, pu := range plan.Users {
		u := pu.User.User
		if ids[u.ID] {
			continue // skipped, whatever it holds
		}
		if owner, ok := emailOwner[u.Email]; ok {
			return lineErr(pu.Line, "email %s belongs to another user of the pool (%s)", u.Email, owner)
		}
		for _, id := range u.Identities {
			if owner, ok := identityOwner[id.Provider+"\x00"+id.Subject]; ok {
				return lineErr(pu.Line, "identity %s belongs to another user of the pool (%s)", id.Provider, owner)
			}
		}
	}
	return nil
}

// undo deletes what a failed import wrote, users first.
func undo(ctx context.Context, st store.Store, groups, clients, users []string) {
	for _, id := range users {
		_ = st.DeleteUser(ctx, id)
	}
	for _, id := range clients {
		_ = st.DeleteClient(ctx, id)
	}
	for _, g := range groups {
		_ = st.DeleteGroup(ctx, g)
	}
}
