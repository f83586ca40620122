package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

var oauthBase = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func testToken(hash, family string) store.RefreshToken {
	return store.RefreshToken{Hash: hash, FamilyID: family, ClientID: "webapp", UserID: "u1",
		Expires: oauthBase.Add(time.Hour)}
}

// tokenStates reads the state column of a family's rows, by hash.
func tokenStates(t *testing.T, s *Store, family string) map[string]string {
	t.Helper()
	rows, err := s.db.Query(`SELECT hash, state, retired_at IS NOT NULL FROM refresh_tokens WHERE family_id = ?`, family)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var h, st string
		var retired bool
		if err := rows.Scan(&h, &st, &retired); err != nil {
			t.Fatal(err)
		}
		if retired {
			st += "+retired_at"
		}
		out[h] = st
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConcurrentRotateRevokesFamily pins which of the conformance suite's
// two allowed outcomes SQLite gives: rotations are serialized, so every
// loser finds the token retired and is told ErrTokenReused, and the family,
// the winner's new token included, ends revoked.
func TestConcurrentRotateRevokesFamily(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "rot.db"))
	if err := s.SaveRefreshToken(ctx, testToken("rt", "fam")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.RotateRefreshToken(ctx, "rt", testToken(fmt.Sprintf("next-%d", i), "fam"), oauthBase)
		})
	}
	close(start)
	wg.Wait()
	wins, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrTokenReused):
			reused++
		default:
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if wins != 1 || reused != n-1 {
		t.Errorf("%d successes and %d ErrTokenReused, want 1 and %d", wins, reused, n-1)
	}
	states := tokenStates(t, s, "fam")
	if len(states) != 2 {
		t.Errorf("family has %d rows, want the old token and the winner's: %v", len(states), states)
	}
	for h, st := range states {
		want := "revoked"
		if h == "rt" {
			want = "revoked+retired_at" // keeps when it was exchanged
		}
		if st != want {
			t.Errorf("%s is %s, want %s", h, st, want)
		}
	}
}

// TestRetiredAndExpiredIsReuse: a retired token is replay even past its
// expiry, because its family may still hold a live successor.
func TestRetiredAndExpiredIsReuse(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "re.db"))
	t1 := testToken("rt1", "fam")
	if err := s.SaveRefreshToken(ctx, t1); err != nil {
		t.Fatal(err)
	}
	t2 := testToken("rt2", "fam")
	t2.Expires = oauthBase.Add(48 * time.Hour)
	if _, err := s.RotateRefreshToken(ctx, "rt1", t2, oauthBase); err != nil {
		t.Fatal(err)
	}
	late := oauthBase.Add(2 * time.Hour) // rt1 expired, rt2 not
	if _, err := s.RotateRefreshToken(ctx, "rt1", testToken("rt3", "fam"), late); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("reuse of an expired retired token: %v, want ErrTokenReused", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "rt2", late); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("successor after reuse: %v, want ErrNotFound", err)
	}
}

// TestTwoStoresConsumeOneCode: the server and another instance (or the CLI)
// on one file still spend a code exactly once.
func TestTwoStoresConsumeOneCode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "two.db")
	a, b := openAt(t, path), openAt(t, path)
	const codes = 10
	for i := range codes {
		c := store.AuthCode{Hash: fmt.Sprintf("c%d", i), ClientID: "webapp", Expires: oauthBase.Add(time.Minute)}
		if err := a.SaveAuthCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*codes)
	for i := range codes {
		for j, s := range []*Store{a, b} {
			wg.Go(func() {
				_, errs[2*i+j] = s.ConsumeAuthCode(ctx, fmt.Sprintf("c%d", i), oauthBase)
			})
		}
	}
	wg.Wait()
	for i := range codes {
		e1, e2 := errs[2*i], errs[2*i+1]
		ok := (e1 == nil && errors.Is(e2, store.ErrNotFound)) || (e2 == nil && errors.Is(e1, store.ErrNotFound))
		if !ok {
			t.Errorf("code %d: %v, %v; want one success and one ErrNotFound", i, e1, e2)
		}
	}
}

func TestOAuthInvalidInputRejected(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "v.db"))
	exp := oauthBase.Add(time.Hour)
	if err := s.SaveRefreshToken(ctx, testToken("live", "fam")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
	}{
		{"client without id", func() error { return s.CreateClient(ctx, &store.Client{Name: "x"}) }},
		{"client redirect URI with invalid UTF-8", func() error {
			return s.CreateClient(ctx, &store.Client{ID: "c", RedirectURIs: []string{"https://x/\xff"}})
		}},
		{"code without hash", func() error { return s.SaveAuthCode(ctx, store.AuthCode{Expires: exp}) }},
		{"code without expiry", func() error { return s.SaveAuthCode(ctx, store.AuthCode{Hash: "h"}) }},
		{"code amr with invalid UTF-8", func() error {
			return s.SaveAuthCode(ctx, store.AuthCode{Hash: "h", Expires: exp, AMR: []string{"\xff"}})
		}},
		{"token without family", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", Expires: exp})
		}},
		{"token without expiry", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", FamilyID: "f"})
		}},
		{"token expiry past year 9999", func() error {
			return s.SaveRefreshToken(ctx, store.RefreshToken{Hash: "h", FamilyID: "f",
				Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		}},
		{"rotate to a token without expiry", func() error {
			_, err := s.RotateRefreshToken(ctx, "live", store.RefreshToken{Hash: "n", FamilyID: "fam"}, oauthBase)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenReused) {
				t.Errorf("err = %v, want a plain validation error", err)
			}
		})
	}
	if cs, _ := s.ListClients(ctx); len(cs) != 0 {
		t.Errorf("%d clients stored by rejected calls", len(cs))
	}
	if _, err := s.ConsumeAuthCode(ctx, "h", oauthBase); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected code was stored: %v", err)
	}
	if got := tokenStates(t, s, "fam"); len(got) != 1 || got["live"] != "live" {
		t.Errorf("family after rejected calls = %v, want only the live token", got)
	}
}
