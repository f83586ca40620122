package postgres

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
)

// TestOutageUnavailableWithinTimeout puts the database behind a proxy and
// makes it hang (accepting, never answering) and then refuse: both give
// store.ErrUnavailable within about the store's timeout, never a wait for
// the database to return, and the store works again once it does.
func TestOutageUnavailableWithinTimeout(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	s := openAt(t, u.String())
	s.SetTimeout(500 * time.Millisecond)
	ctx := context.Background()
	user := &store.User{ID: "u1", Email: "a@x.io", Status: store.StatusConfirmed, Enabled: true}
	if err := s.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}

	check := func(what string) {
		t.Helper()
		for _, op := range []struct {
			name string
			run  func() error
		}{
			{"read", func() error { _, err := s.UserByEmail(ctx, "a@x.io"); return err }},
			{"write", func() error { return s.SetEnabled(ctx, "u1", true) }},
		} {
			start := time.Now()
			err := op.run()
			took := time.Since(start)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s, %s: %v, want store.ErrUnavailable", what, op.name, err)
			}
			if took > 3*time.Second {
				t.Errorf("%s, %s took %v, want about the 500ms timeout", what, op.name, took)
			}
			t.Logf("%s, %s: %v after %v", what, op.name, err, took)
		}
	}
	recovered := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := s.UserByEmail(ctx, "a@x.io")
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: still %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	proxy.Pause()
	check("hung")
	proxy.Resume()
	recovered("resume")

	proxy.Cut()
	check("refused")
	proxy.Restore()
	recovered("restore")
}
