package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

func newEvent(typ, userID, login string, at time.Time) store.AuditEvent {
	return store.AuditEvent{At: at, Type: typ, UserID: userID, Login: login, IP: "192.0.2.7"}
}

func mustAppend(t *testing.T, s store.Store, es ...store.AuditEvent) {
	t.Helper()
	for _, e := range es {
		if err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatalf("AppendAudit(%s, %s): %v", e.Type, e.Login, err)
		}
	}
}

func mustEvents(t *testing.T, s store.Store, q store.AuditQuery) []store.AuditEvent {
	t.Helper()
	es, err := s.AuditEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("AuditEvents(%+v): %v", q, err)
	}
	if es == nil {
		t.Fatalf("AuditEvents(%+v) = nil, want a non-nil list", q)
	}
	return es
}

// eventTypes names each event by its type and login, newest first as
// returned, so a failed comparison reads as a list of what happened.
func eventTypes(es []store.AuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Type + ":" + e.Login
	}
	return out
}

func sameEvents(t *testing.T, what string, got []store.AuditEvent, want ...string) {
	t.Helper()
	if g := eventTypes(got); !slices.Equal(g, want) {
		t.Errorf("%s = %q, want %q", what, g, want)
	}
}

func testAudit(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("AppendAndList", func(t *testing.T) {
		s := open(t)
		// At out of order: the order is the order of appending (ids), not
		// of At, which a caller's clock sets.
		mustAppend(t, s,
			newEvent("sign_in", "u1", "ada@example.com", base.Add(time.Minute)),
			newEvent("sign_in_failed", "", "nobody@example.com", base),
			newEvent("password_changed", "u1", "ada@example.com", base.Add(30*time.Second)),
		)
		got := mustEvents(t, s, store.AuditQuery{})
		sameEvents(t, "all", got, "password_changed:ada@example.com", "sign_in_failed:nobody@example.com", "sign_in:ada@example.com")
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Errorf("ids %d then %d, want decreasing (newest first)", got[i-1].ID, got[i].ID)
			}
		}
		if len(got) == 3 {
			e := got[1]
			if !e.At.Equal(base) || e.UserID != "" || e.IP != "192.0.2.7" || e.Reason != "" {
				t.Errorf("event = %+v, want At %v, no user, IP 192.0.2.7, no reason", e, base)
			}
			if e.Detail == nil || len(e.Detail) != 0 {
				t.Errorf("Detail = %#v, want empty and non-nil", e.Detail)
			}
		}
	})

	t.Run("StoreSetsAtWhenZero", func(t *testing.T) {
		s := open(t)
		clock := startClock()
		mustAppend(t, s, newEvent("sign_in", "u1", "ada@example.com", time.Time{}))
		clock.stop()
		got := mustEvents(t, s, store.AuditQuery{})
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		clock.check(t, "At", got[0].At)
	})

	t.Run("TypeRequired", func(t *testing.T) {
		s := open(t)
		if err := s.AppendAudit(ctx, newEvent("", "u1", "ada@example.com", base)); err == nil {
			t.Error("AppendAudit without a type: nil error")
		}
	})

	t.Run("DetailRoundTrip", func(t *testing.T) {
		s := open(t)
		e := newEvent("mfa_enrolled", "u1", "ada@example.com", base)
		e.Reason = "wrong_mfa_code"
		e.IP = "2001:db8::1"
		e.Detail = map[string]string{"kind": "totp", "name": "Téléphone 山田 🔐", "quote": `"{}\` + "\n", "": "empty key"}
		mustAppend(t, s, e)
		got := mustEvents(t, s, store.AuditQuery{})
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		g := got[0]
		if !g.At.Equal(e.At) || g.Type != e.Type || g.UserID != e.UserID || g.Login != e.Login ||
			g.IP != e.IP || g.Reason != e.Reason || !reflect.DeepEqual(g.Detail, e.Detail) {
			t.Errorf("event:\n got %+v\nwant %+v", g, e)
		}
		bad := newEvent("x", "u1", "ada@example.com", base)
		bad.Detail = map[string]string{"k": "\xff"}
		if err := s.AppendAudit(ctx, bad); err == nil {
			t.Error("invalid UTF-8 in Detail: nil error, want a refusal (it would not come back as given)")
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s := open(t)
		mustAppend(t, s,
			newEvent("sign_in_failed", "", "ada@example.com", base),                       // before the account
			newEvent("sign_in", "u1", "ada@example.com", base.Add(1*time.Minute)),         //
			newEvent("sign_in", "u2", "grace@example.com", base.Add(2*time.Minute)),       //
			newEvent("email_changed", "u1", "ada@new.example", base.Add(3*time.Minute)),   // new address
			newEvent("sign_in_failed", "u1", "ada@new.example", base.Add(4*time.Minute)),  //
			newEvent("locked_out", "", "ada@example.com", base.Add(5*time.Minute)),        // old address, no user
			newEvent("sign_in_failed", "", "nobody@example.com", base.Add(6*time.Minute)), //
		)
		for _, c := range []struct {
			name string
			q    store.AuditQuery
			want []string
		}{
			{"user", store.AuditQuery{UserID: "u1"}, []string{
				"sign_in_failed:ada@new.example", "email_changed:ada@new.example", "sign_in:ada@example.com"}},
			{"login", store.AuditQuery{Login: "ada@example.com"}, []string{
				"locked_out:ada@example.com", "sign_in:ada@example.com", "sign_in_failed:ada@example.com"}},
			{"user or login", store.AuditQuery{UserID: "u1", Login: "ada@example.com"}, []string{
				"locked_out:ada@example.com", "sign_in_failed:ada@new.example", "email_changed:ada@new.example",
				"sign_in:ada@example.com", "sign_in_failed:ada@example.com"}},
			{"unknown user", store.AuditQuery{UserID: "u9"}, []string{}},
			{"types", store.AuditQuery{Types: []string{"sign_in", "locked_out"}}, []string{
				"locked_out:ada@example.com", "sign_in:grace@example.com", "sign_in:ada@example.com"}},
			{"one type and user", store.AuditQuery{UserID: "u1", Types: []string{"sign_in_failed"}}, []string{
				"sign_in_failed:ada@new.example"}},
			{"since (inclusive)", store.AuditQuery{Since: base.Add(5 * time.Minute)}, []string{
				"sign_in_failed:nobody@example.com", "locked_out:ada@example.com"}},
			{"until (exclusive)", store.AuditQuery{Until: base.Add(1 * time.Minute)}, []string{
				"sign_in_failed:ada@example.com"}},
			{"since and until", store.AuditQuery{Since: base.Add(2 * time.Minute), Until: base.Add(4 * time.Minute)}, []string{
				"email_changed:ada@new.example", "sign_in:grace@example.com"}},
			{"everything", store.AuditQuery{UserID: "u1", Login: "ada@example.com", Types: []string{"sign_in", "locked_out"},
				Since: base.Add(time.Second), Until: base.Add(time.Hour)}, []string{
				"locked_out:ada@example.com", "sign_in:ada@example.com"}},
		} {
			sameEvents(t, c.name, mustEvents(t, s, c.q), c.want...)
		}
	})

	t.Run("PagingByBefore", func(t *testing.T) {
		s := open(t)
		for i := range 7 {
			mustAppend(t, s, newEvent(fmt.Sprintf("e%d", i), "u1", "ada@example.com", base.Add(time.Duration(i)*time.Second)))
			mustAppend(t, s, newEvent(fmt.Sprintf("o%d", i), "u2", "grace@example.com", base.Add(time.Duration(i)*time.Second)))
		}
		var pages [][]string
		q := store.AuditQuery{UserID: "u1", Limit: 3}
		for range 5 {
			page := mustEvents(t, s, q)
			if len(page) == 0 {
				break
			}
			var types []string
			for _, e := range page {
				types = append(types, e.Type)
			}
			pages = append(pages, types)
			q.Before = page[len(page)-1].ID
		}
		want := [][]string{{"e6", "e5", "e4"}, {"e3", "e2", "e1"}, {"e0"}}
		if !reflect.DeepEqual(pages, want) {
			t.Errorf("pages = %q, want %q", pages, want)
		}
	})

	t.Run("LimitBounds", func(t *testing.T) {
		s := open(t)
		n := store.MaxAuditLimit + 5
		for i := range n {
			mustAppend(t, s, newEvent("sign_in", "u1", "ada@example.com", base.Add(time.Duration(i)*time.Millisecond)))
		}
		for _, c := range []struct{ limit, want int }{
			{0, store.DefaultAuditLimit},
			{-1, store.DefaultAuditLimit},
			{1, 1},
			{250, 250},
			{store.MaxAuditLimit, store.MaxAuditLimit},
			{store.MaxAuditLimit + 1, store.MaxAuditLimit},
			{1 << 30, store.MaxAuditLimit},
		} {
			got := mustEvents(t, s, store.AuditQuery{Limit: c.limit})
			if len(got) != c.want {
				t.Errorf("Limit %d: %d events, want %d", c.limit, len(got), c.want)
			}
			if len(got) > 0 && !got[0].At.Equal(base.Add(time.Duration(n-1)*time.Millisecond)) {
				t.Errorf("Limit %d: first event at %v, want the newest", c.limit, got[0].At)
			}
		}
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		mustAppend(t, s,
			newEvent("old", "u1", "ada@example.com", base.Add(-time.Hour)),
			newEvent("edge", "u1", "ada@example.com", base),
			newEvent("new", "u1", "ada@example.com", base.Add(time.Hour)),
		)
		if err := s.PurgeAudit(ctx, base); err != nil {
			t.Fatalf("PurgeAudit: %v", err)
		}
		sameEvents(t, "after purge", mustEvents(t, s, store.AuditQuery{}), "new:ada@example.com", "edge:ada@example.com")
		before := mustEvents(t, s, store.AuditQuery{})[0].ID

		// Ids keep increasing past the purged ones, even when the purge
		// took the newest: a page boundary never meets an id twice.
		if err := s.PurgeAudit(ctx, base.Add(2*time.Hour)); err != nil {
			t.Fatalf("PurgeAudit: %v", err)
		}
		sameEvents(t, "after purging all", mustEvents(t, s, store.AuditQuery{}))
		mustAppend(t, s, newEvent("later", "u1", "ada@example.com", base))
		got := mustEvents(t, s, store.AuditQuery{})
		if len(got) != 1 || got[0].ID <= before {
			t.Errorf("after purging all and appending: %+v, want one event with an id above %d", got, before)
		}
	})

	t.Run("SurvivesUserDeletion", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newUser("u1", "ada@example.com"))
		mustAppend(t, s,
			newEvent("sign_in", "u1", "ada@example.com", base),
			newEvent("user_deleted", "u1", "ada@example.com", base.Add(time.Second)),
		)
		if err := s.DeleteUser(ctx, "u1"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		sameEvents(t, "after DeleteUser", mustEvents(t, s, store.AuditQuery{UserID: "u1"}),
			"user_deleted:ada@example.com", "sign_in:ada@example.com")
		// And an event may name an account that no longer exists.
		mustAppend(t, s, newEvent("sign_in_failed", "u1", "ada@example.com", base.Add(2*time.Second)))
	})

	t.Run("ConcurrentAppends", func(t *testing.T) {
		s := open(t)
		const n = 40
		errs := raceN(n, func(i int) error {
			return s.AppendAudit(ctx, newEvent(fmt.Sprintf("e%02d", i), "u1", "ada@example.com", base))
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
		got := mustEvents(t, s, store.AuditQuery{Limit: 2 * n})
		if len(got) != n {
			t.Fatalf("%d events kept, want %d", len(got), n)
		}
		types := map[string]bool{}
		for i, e := range got {
			types[e.Type] = true
			if i > 0 && e.ID >= got[i-1].ID {
				t.Errorf("ids %d then %d, want distinct and decreasing", got[i-1].ID, e.ID)
			}
		}
		if len(types) != n {
			t.Errorf("%d distinct events, want %d", len(types), n)
		}
	})
}
