package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// nilToEmpty makes a nil list empty: the contract is about members and
// order, not about how an empty list is represented.
func nilToEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func newClient(id string) *store.Client {
	return &store.Client{
		ID:                     id,
		Name:                   "App " + id,
		SecretHash:             "sha256:" + id,
		RedirectURIs:           []string{"https://" + id + ".example.com/cb", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example.com/bye"},
		Scopes:                 []string{"openid", "email", "profile"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		IDTokenTTL:             time.Hour,
		AccessTokenTTL:         15 * time.Minute,
		RefreshTokenTTL:        720 * time.Hour,
	}
}

// normClient is c with what the contract leaves open made canonical: lists
// nil or empty alike, times in UTC.
func normClient(c store.Client) store.Client {
	c.RedirectURIs = nilToEmpty(c.RedirectURIs)
	c.PostLogoutRedirectURIs = nilToEmpty(c.PostLogoutRedirectURIs)
	c.Scopes = nilToEmpty(c.Scopes)
	c.GrantTypes = nilToEmpty(c.GrantTypes)
	c.CreatedAt = c.CreatedAt.UTC()
	return c
}

// sameClient compares everything but CreatedAt, which the store sets and
// the tests about it check.
func sameClient(t *testing.T, got *store.Client, want store.Client) {
	t.Helper()
	if got == nil {
		t.Errorf("client is nil, want %+v", want)
		return
	}
	g, w := normClient(*got), normClient(want)
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("client:\n got %+v\nwant %+v", g, w)
	}
}

func mustClient(t *testing.T, s store.Store, c *store.Client) {
	t.Helper()
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient(%s): %v", c.ID, err)
	}
}

func newCode(hash, clientID, userID string, expires time.Time) store.AuthCode {
	return store.AuthCode{
		Hash:                hash,
		ClientID:            clientID,
		UserID:              userID,
		RedirectURI:         "https://" + clientID + ".example.com/cb",
		Scope:               "openid email",
		Nonce:               "nonce-" + hash,
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		SessionID:           "sess-" + userID,
		AuthTime:            base.Add(-time.Minute),
		AMR:                 []string{"pwd", "otp"},
		Expires:             expires,
	}
}

func normCode(c store.AuthCode) store.AuthCode {
	c.AMR = nilToEmpty(c.AMR)
	c.AuthTime, c.Expires = c.AuthTime.UTC(), c.Expires.UTC()
	return c
}

func sameCode(t *testing.T, got *store.AuthCode, want store.AuthCode) {
	t.Helper()
	if got == nil {
		t.Errorf("auth code is nil, want %+v", want)
		return
	}
	if g, w := normCode(*got), normCode(want); !reflect.DeepEqual(g, w) {
		t.Errorf("auth code:\n got %+v\nwant %+v", g, w)
	}
}

func mustSaveCode(t *testing.T, s store.Store, c store.AuthCode) {
	t.Helper()
	if err := s.SaveAuthCode(context.Background(), c); err != nil {
		t.Fatalf("SaveAuthCode(%s): %v", c.Hash, err)
	}
}

func newToken(hash, family, clientID, userID string, expires time.Time) store.RefreshToken {
	return store.RefreshToken{
		Hash:      hash,
		FamilyID:  family,
		ClientID:  clientID,
		UserID:    userID,
		Scope:     "openid offline_access",
		SessionID: "sess-" + userID,
		AuthTime:  base.Add(-time.Hour),
		AMR:       []string{"pwd"},
		IssuedAt:  base.Add(-time.Minute),
		Expires:   expires,
	}
}

// nextToken is the successor of t in its family, with a new hash.
func nextToken(t store.RefreshToken, hash string) store.RefreshToken {
	t.Hash = hash
	t.IssuedAt = t.IssuedAt.Add(time.Second)
	return t
}

func normToken(t store.RefreshToken) store.RefreshToken {
	t.AMR = nilToEmpty(t.AMR)
	t.AuthTime, t.IssuedAt, t.Expires = t.AuthTime.UTC(), t.IssuedAt.UTC(), t.Expires.UTC()
	return t
}

func sameToken(t *testing.T, got *store.RefreshToken, want store.RefreshToken) {
	t.Helper()
	if got == nil {
		t.Errorf("refresh token is nil, want %+v", want)
		return
	}
	if g, w := normToken(*got), normToken(want); !reflect.DeepEqual(g, w) {
		t.Errorf("refresh token:\n got %+v\nwant %+v", g, w)
	}
}

func mustSaveToken(t *testing.T, s store.Store, tok store.RefreshToken) {
	t.Helper()
	if err := s.SaveRefreshToken(context.Background(), tok); err != nil {
		t.Fatalf("SaveRefreshToken(%s): %v", tok.Hash, err)
	}
}

// live asserts that the token with hash is live at now, and returns it.
func live(t *testing.T, s store.Store, hash string, now time.Time) *store.RefreshToken {
	t.Helper()
	got, err := s.RefreshTokenByHash(context.Background(), hash, now)
	if err != nil {
		t.Errorf("RefreshTokenByHash(%s): %v, want the live token", hash, err)
	}
	return got
}

// dead asserts that the token with hash is not live at now.
func dead(t *testing.T, s store.Store, hash string, now time.Time) {
	t.Helper()
	got, err := s.RefreshTokenByHash(context.Background(), hash, now)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RefreshTokenByHash(%s) = %+v, %v; want ErrNotFound", hash, got, err)
	}
}

// raceN runs op in n goroutines released at once and returns their errors.
func raceN(n int, op func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = op(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testClients(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		c := newClient("webapp")
		c.Name = "Web App — «ünïcode» 山田"
		c.RedirectURIs = []string{"https://b.example.com/cb", "https://a.example.com/cb?x=1&y=%20", "myapp://cb"}
		c.PostLogoutRedirectURIs = []string{"https://b.example.com/bye", "https://a.example.com/"}
		c.Scopes = []string{"profile", "openid", "custom:tenant"}
		c.GrantTypes = []string{"refresh_token", "client_credentials", "authorization_code"}
		// Durations a lossy encoding (seconds, float) would not keep.
		c.IDTokenTTL = 90*time.Minute + 1
		c.AccessTokenTTL = 1500 * time.Millisecond
		c.RefreshTokenTTL = 30*24*time.Hour + 7*time.Second + 123456789
		c.RefreshTokenRotation = "off"
		c.RefreshTokenGrace = 10*time.Second + 1
		c.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // ignored: the store sets it
		want := *c
		clk := startClock()
		mustClient(t, s, c)
		clk.stop()
		clk.check(t, "CreatedAt set on the argument", c.CreatedAt)

		got, err := s.ClientByID(ctx, "webapp")
		if err != nil {
			t.Fatalf("ClientByID: %v", err)
		}
		sameClient(t, got, want)
		if !got.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("stored CreatedAt %v != CreatedAt set on the argument %v", got.CreatedAt, c.CreatedAt)
		}

		// A public client: no secret, empty lists, zero durations.
		pub := &store.Client{ID: "spa", Public: true, RedirectURIs: []string{"http://localhost:3000/cb"}}
		wantPub := *pub
		mustClient(t, s, pub)
		// Rotation on with no grace (negative) is kept as given.
		strict := &store.Client{ID: "strict", Public: true, RefreshTokenRotation: "on", RefreshTokenGrace: -1}
		wantStrict := *strict
		mustClient(t, s, strict)
		if got, err := s.ClientByID(ctx, "strict"); err != nil {
			t.Fatalf("ClientByID(strict): %v", err)
		} else {
			sameClient(t, got, wantStrict)
		}
		got, err = s.ClientByID(ctx, "spa")
		if err != nil {
			t.Fatalf("ClientByID(spa): %v", err)
		}
		sameClient(t, got, wantPub)
		if !got.Public || got.SecretHash != "" {
			t.Errorf("public client = %+v", got)
		}
	})

	t.Run("SealedSecret", func(t *testing.T) {
		s := open(t)
		// Bytes of every value, as a sealed secret has.
		sealed := make([]byte, 256)
		for i := range sealed {
			sealed[i] = byte(i)
		}
		c := newClient("sealed")
		c.SecretSealed = sealed
		want := *c
		mustClient(t, s, c)
		got, err := s.ClientByID(ctx, "sealed")
		if err != nil {
			t.Fatal(err)
		}
		sameClient(t, got, want)
		// A client made without one (before secrets were sealed) reads nil.
		old := newClient("digest-only")
		mustClient(t, s, old)
		if got, err := s.ClientByID(ctx, "digest-only"); err != nil || got.SecretSealed != nil || got.SecretHash != old.SecretHash {
			t.Fatalf("digest-only client: %+v, %v", got, err)
		}
		// A rotation replaces both; an unknown or public client is not found.
		if err := s.SetClientSecret(ctx, "digest-only", "sha256:new", []byte{0, 1, 2}); err != nil {
			t.Fatalf("SetClientSecret: %v", err)
		}
		want = *old
		want.SecretHash, want.SecretSealed = "sha256:new", []byte{0, 1, 2}
		got, err = s.ClientByID(ctx, "digest-only")
		if err != nil {
			t.Fatal(err)
		}
		sameClient(t, got, want)
		wantErr(t, "SetClientSecret unknown", s.SetClientSecret(ctx, "nobody", "sha256:x", []byte{1}), store.ErrNotFound)
		mustClient(t, s, &store.Client{ID: "spa", Public: true})
		wantErr(t, "SetClientSecret public", s.SetClientSecret(ctx, "spa", "sha256:x", []byte{1}), store.ErrNotFound)
		if got, err := s.ClientByID(ctx, "spa"); err != nil || got.SecretHash != "" || got.SecretSealed != nil {
			t.Fatalf("public client after a refused SetClientSecret: %+v, %v", got, err)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		orig := newClient("webapp")
		want := *orig
		mustClient(t, s, orig)
		dup := newClient("webapp")
		dup.Name, dup.SecretHash, dup.Public = "Impostor", "", true
		dup.RedirectURIs = []string{"https://evil.example.com/cb"}
		wantErr(t, "CreateClient duplicate", s.CreateClient(ctx, dup), store.ErrConflict)
		got, err := s.ClientByID(ctx, "webapp")
		if err != nil {
			t.Fatalf("ClientByID: %v", err)
		}
		sameClient(t, got, want)
		if cs, err := s.ListClients(ctx); err != nil || len(cs) != 1 {
			t.Errorf("ListClients after conflict: %v, %d clients, want 1", err, len(cs))
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		mustClient(t, s, newClient("webapp"))
		for _, id := range []string{"nope", "WEBAPP", ""} {
			_, err := s.ClientByID(ctx, id)
			wantErr(t, fmt.Sprintf("ClientByID(%q)", id), err, store.ErrNotFound)
			wantErr(t, fmt.Sprintf("DeleteClient(%q)", id), s.DeleteClient(ctx, id), store.ErrNotFound)
		}
		if _, err := s.ClientByID(ctx, "webapp"); err != nil {
			t.Errorf("failed deletes removed webapp: %v", err)
		}
	})

	t.Run("ListOrder", func(t *testing.T) {
		s := open(t)
		got, err := s.ListClients(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("ListClients on empty store: %v, %d clients, want none", err, len(got))
		}
		// Created out of order so insertion order cannot pass for id order;
		// byte order puts upper case first.
		ids := []string{"mobile", "Admin", "web", "api", "web-2"}
		for _, id := range ids {
			mustClient(t, s, newClient(id))
		}
		got, err = s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients: %v", err)
		}
		var gotIDs []string
		for _, c := range got {
			gotIDs = append(gotIDs, c.ID)
		}
		if want := []string{"Admin", "api", "mobile", "web", "web-2"}; !slices.Equal(gotIDs, want) {
			t.Fatalf("ListClients = %q, want %q", gotIDs, want)
		}
		// Listed clients are whole clients.
		sameClient(t, got[1], *newClient("api"))
		if got[1].CreatedAt.IsZero() {
			t.Error("listed client has no CreatedAt")
		}
	})

	t.Run("DeleteCascades", func(t *testing.T) {
		s := open(t)
		mustClient(t, s, newClient("gone"))
		mustClient(t, s, newClient("kept"))
		exp := base.Add(time.Hour)
		mustSaveCode(t, s, newCode("code-gone", "gone", "u1", exp))
		mustSaveCode(t, s, newCode("code-kept", "kept", "u1", exp))
		mustSaveToken(t, s, newToken("rt-gone", "fam-gone", "gone", "u1", exp))
		mustSaveToken(t, s, newToken("rt-gone-2", "fam-gone-2", "gone", "u2", exp))
		mustSaveToken(t, s, newToken("rt-kept", "fam-kept", "kept", "u1", exp))

		if err := s.DeleteClient(ctx, "gone"); err != nil {
			t.Fatalf("DeleteClient: %v", err)
		}
		_, err := s.ClientByID(ctx, "gone")
		wantErr(t, "ClientByID deleted", err, store.ErrNotFound)
		wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "gone"), store.ErrNotFound)

		// Re-creating the client must not bring its codes and tokens back.
		mustClient(t, s, newClient("gone"))
		_, err = s.ConsumeAuthCode(ctx, "code-gone", base)
		wantErr(t, "ConsumeAuthCode of deleted client's code", err, store.ErrNotFound)
		dead(t, s, "rt-gone", base)
		dead(t, s, "rt-gone-2", base)
		// Gone, not merely retired: presenting it is not reuse.
		_, err = s.RotateRefreshToken(ctx, "rt-gone", nextToken(newToken("rt-gone", "fam-gone", "gone", "u1", exp), "rt-gone-next"), base)
		wantErr(t, "RotateRefreshToken of deleted client's token", err, store.ErrNotFound)

		// The other client's are untouched.
		got, err := s.ConsumeAuthCode(ctx, "code-kept", base)
		if err != nil {
			t.Errorf("ConsumeAuthCode of the other client's code: %v", err)
		}
		sameCode(t, got, newCode("code-kept", "kept", "u1", exp))
		sameToken(t, live(t, s, "rt-kept", base), newToken("rt-kept", "fam-kept", "kept", "u1", exp))
	})
}

func testAuthCodes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	exp := base.Add(10 * time.Minute)

	t.Run("ConsumeOnce", func(t *testing.T) {
		s := open(t)
		c := newCode("h1", "webapp", "u1", exp)
		c.Scope = "openid   email\tprofile" // kept as given, not normalized
		other := newCode("h2", "webapp", "u2", exp)
		mustSaveCode(t, s, c)
		mustSaveCode(t, s, other)

		got, err := s.ConsumeAuthCode(ctx, "h1", base)
		if err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
		sameCode(t, got, c)
		got, err = s.ConsumeAuthCode(ctx, "h1", base)
		wantErr(t, "second ConsumeAuthCode", err, store.ErrNotFound)
		if got != nil {
			t.Errorf("second ConsumeAuthCode returned %+v", got)
		}
		// Consuming one code leaves the others.
		got, err = s.ConsumeAuthCode(ctx, "h2", base)
		if err != nil {
			t.Fatalf("ConsumeAuthCode(h2): %v", err)
		}
		sameCode(t, got, other)
	})

	t.Run("ZeroValueFields", func(t *testing.T) {
		s := open(t)
		c := store.AuthCode{Hash: "h", Expires: exp}
		mustSaveCode(t, s, c)
		got, err := s.ConsumeAuthCode(ctx, "h", base)
		if err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
		sameCode(t, got, c)
		if !got.AuthTime.IsZero() {
			t.Errorf("AuthTime = %v, want zero", got.AuthTime)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := open(t)
		c := newCode("h1", "webapp", "u1", exp)
		mustSaveCode(t, s, c)
		dup := newCode("h1", "evil", "u2", exp.Add(time.Hour))
		wantErr(t, "SaveAuthCode duplicate", s.SaveAuthCode(ctx, dup), store.ErrConflict)
		got, err := s.ConsumeAuthCode(ctx, "h1", base)
		if err != nil {
			t.Fatalf("ConsumeAuthCode: %v", err)
		}
		sameCode(t, got, c)
	})

	t.Run("Unknown", func(t *testing.T) {
		s := open(t)
		mustSaveCode(t, s, newCode("h1", "webapp", "u1", exp))
		for _, h := range []string{"nope", "H1", ""} {
			_, err := s.ConsumeAuthCode(ctx, h, base)
			wantErr(t, fmt.Sprintf("ConsumeAuthCode(%q)", h), err, store.ErrNotFound)
		}
		if _, err := s.ConsumeAuthCode(ctx, "h1", base); err != nil {
			t.Errorf("ConsumeAuthCode(h1) after misses: %v", err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		// Expiry is judged against the now argument, not the clock (base is
		// in the past), and a code is expired at its Expires instant.
		cases := []struct {
			name    string
			now     time.Time
			expired bool
		}{
			{"well before", exp.Add(-9 * time.Minute), false},
			{"just before", exp.Add(-time.Microsecond), false},
			{"at expiry", exp, true},
			{"just after", exp.Add(time.Microsecond), true},
			{"long after", exp.Add(24 * time.Hour), true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				c := newCode("h", "webapp", "u1", exp)
				mustSaveCode(t, s, c)
				got, err := s.ConsumeAuthCode(ctx, "h", tc.now)
				if !tc.expired {
					if err != nil {
						t.Fatalf("ConsumeAuthCode before expiry: %v", err)
					}
					sameCode(t, got, c)
					return
				}
				wantErr(t, "ConsumeAuthCode expired", err, store.ErrNotFound)
				if got != nil {
					t.Errorf("expired ConsumeAuthCode returned %+v", got)
				}
				// The failed attempt still used it up: it is gone even
				// for a caller whose clock says it is valid.
				_, err = s.ConsumeAuthCode(ctx, "h", base)
				wantErr(t, "ConsumeAuthCode after expired attempt", err, store.ErrNotFound)
			})
		}
	})

	t.Run("ConcurrentConsume", func(t *testing.T) {
		s := open(t)
		c := newCode("h", "webapp", "u1", exp)
		mustSaveCode(t, s, c)
		var mu sync.Mutex
		var winners []*store.AuthCode
		errs := raceN(20, func(int) error {
			got, err := s.ConsumeAuthCode(ctx, "h", base)
			if err == nil {
				mu.Lock()
				winners = append(winners, got)
				mu.Unlock()
			}
			return err
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("goroutine %d: %v, want nil or ErrNotFound", i, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d of 20 goroutines consumed the code, want exactly 1", len(winners))
		}
		sameCode(t, winners[0], c)
	})

	t.Run("ConcurrentDistinct", func(t *testing.T) {
		// Contention alone, with no real conflict, must not fail anyone.
		s := open(t)
		const n = 20
		for i := range n {
			mustSaveCode(t, s, newCode(fmt.Sprintf("h%d", i), "webapp", "u1", exp))
		}
		errs := raceN(n, func(i int) error {
			_, err := s.ConsumeAuthCode(ctx, fmt.Sprintf("h%d", i), base)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
	})
}

func testRefreshTokens(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	exp := base.Add(30 * 24 * time.Hour)

	t.Run("SaveAndRead", func(t *testing.T) {
		s := open(t)
		tok := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, tok)
		sameToken(t, live(t, s, "rt1", base), tok)
		dead(t, s, "nope", base)
		dead(t, s, "RT1", base)

		graced := newToken("rt-g", "fam-g", "webapp", "u1", exp)
		graced.Grace = 10*time.Second + 1
		mustSaveToken(t, s, graced)
		sameToken(t, live(t, s, "rt-g", base), graced)

		zero := store.RefreshToken{Hash: "rt0", FamilyID: "fam0", Expires: exp}
		mustSaveToken(t, s, zero)
		sameToken(t, live(t, s, "rt0", base), zero)
	})

	t.Run("SaveConflict", func(t *testing.T) {
		s := open(t)
		tok := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, tok)
		wantErr(t, "SaveRefreshToken duplicate hash",
			s.SaveRefreshToken(ctx, newToken("rt1", "fam2", "evil", "u2", exp)), store.ErrConflict)
		sameToken(t, live(t, s, "rt1", base), tok)
		// Save starts a new family; joining an existing one would bypass
		// rotation, and could revive a revoked family.
		if err := s.RevokeRefreshFamily(ctx, "fam1"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "SaveRefreshToken into an existing family",
			s.SaveRefreshToken(ctx, newToken("rt2", "fam1", "webapp", "u1", exp)), store.ErrConflict)
		dead(t, s, "rt2", base)
	})

	t.Run("ExpiryUsesNow", func(t *testing.T) {
		s := open(t)
		tok := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, tok)
		live(t, s, "rt1", exp.Add(-time.Microsecond))
		dead(t, s, "rt1", exp) // expired at its Expires instant
		dead(t, s, "rt1", exp.Add(time.Hour))
		// Only a judgement: the token is still there for an earlier now.
		live(t, s, "rt1", base)

		_, err := s.RotateRefreshToken(ctx, "rt1", nextToken(tok, "rt2"), exp)
		wantErr(t, "RotateRefreshToken expired", err, store.ErrNotFound)
		dead(t, s, "rt2", base)
		// The failed rotation did not retire it.
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(tok, "rt2"), exp.Add(-time.Microsecond)); err != nil {
			t.Errorf("RotateRefreshToken just before expiry: %v", err)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		bystander := newToken("other", "fam-other", "webapp", "u1", exp)
		mustSaveToken(t, s, bystander)

		t2 := nextToken(t1, "rt2")
		t2.Expires = exp.Add(time.Hour)
		t2.Scope = "openid"
		got, err := s.RotateRefreshToken(ctx, "rt1", t2, base)
		if err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		sameToken(t, got, t1) // returns the old token
		sameToken(t, live(t, s, "rt2", base), t2)
		dead(t, s, "rt1", base) // retired

		// The chain goes on.
		t3 := nextToken(t2, "rt3")
		got, err = s.RotateRefreshToken(ctx, "rt2", t3, base.Add(time.Minute))
		if err != nil {
			t.Fatalf("second RotateRefreshToken: %v", err)
		}
		sameToken(t, got, t2)
		sameToken(t, live(t, s, "rt3", base), t3)
		dead(t, s, "rt2", base)
		sameToken(t, live(t, s, "other", base), bystander)
	})

	t.Run("Reuse", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		bystander := newToken("other", "fam-other", "webapp", "u1", exp)
		mustSaveToken(t, s, bystander)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		live(t, s, "rt2", base)

		// rt1 again: a replay. The family dies, the legitimate rt2 with it.
		got, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base)
		wantErr(t, "RotateRefreshToken of a retired token", err, store.ErrTokenReused)
		if got != nil {
			t.Errorf("reuse returned %+v", got)
		}
		dead(t, s, "rt2", base)
		dead(t, s, "rt3", base) // the replay's successor was not stored
		_, err = s.RotateRefreshToken(ctx, "rt2", nextToken(t1, "rt4"), base)
		wantErr(t, "RotateRefreshToken of the revoked successor", err, store.ErrNotFound)
		dead(t, s, "rt4", base)

		// Presenting rt1 yet again fails either way, and revives nothing.
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt5"), base); !errors.Is(err, store.ErrTokenReused) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("third use of rt1: %v, want ErrTokenReused or ErrNotFound", err)
		}
		dead(t, s, "rt5", base)
		dead(t, s, "rt2", base)

		sameToken(t, live(t, s, "other", base), bystander)
	})

	t.Run("ReuseJudgedBeforeNext", func(t *testing.T) {
		// Reuse is about the token presented, whatever next is: a caller
		// that only wants to report a replay (the provider probing a token
		// that is not live) passes a next of another family, and must still
		// get ErrTokenReused and the family revoked.
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		probe := store.RefreshToken{Hash: "probe", FamilyID: "probe-family", Expires: base.Add(time.Minute)}
		_, err := s.RotateRefreshToken(ctx, "rt1", probe, base)
		wantErr(t, "RotateRefreshToken of a retired token with a probe", err, store.ErrTokenReused)
		dead(t, s, "rt2", base)
		dead(t, s, "probe", base)
	})

	t.Run("RotateWrongFamily", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		bad := nextToken(t1, "rt2")
		bad.FamilyID = "fam2"
		got, err := s.RotateRefreshToken(ctx, "rt1", bad, base)
		if err == nil {
			t.Fatalf("RotateRefreshToken into another family succeeded: %+v", got)
		}
		if errors.Is(err, store.ErrTokenReused) {
			t.Errorf("err = %v: a caller's bug is not reuse", err)
		}
		dead(t, s, "rt2", base)
		// Nothing happened: rt1 is still live and rotates normally.
		live(t, s, "rt1", base)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Errorf("RotateRefreshToken after the refused one: %v", err)
		}
	})

	t.Run("RotateNextConflict", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		other := newToken("other", "fam2", "webapp", "u2", exp)
		mustSaveToken(t, s, other)
		// A next whose hash is taken fails as a whole: rt1 stays live.
		if got, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "other"), base); err == nil {
			t.Fatalf("RotateRefreshToken onto a taken hash succeeded: %+v", got)
		}
		sameToken(t, live(t, s, "rt1", base), t1)
		sameToken(t, live(t, s, "other", base), other)
	})

	t.Run("RotateUnknownOrRevoked", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		_, err := s.RotateRefreshToken(ctx, "nope", nextToken(t1, "rt2"), base)
		wantErr(t, "RotateRefreshToken unknown", err, store.ErrNotFound)
		dead(t, s, "rt2", base)

		if err := s.RevokeRefreshFamily(ctx, "fam1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base)
		wantErr(t, "RotateRefreshToken revoked", err, store.ErrNotFound)
		dead(t, s, "rt2", base)
	})

	t.Run("RevokeFamily", func(t *testing.T) {
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		same := newToken("same-user", "fam2", "webapp", "u1", exp)
		mustSaveToken(t, s, same)

		if err := s.RevokeRefreshFamily(ctx, "fam1"); err != nil {
			t.Fatalf("RevokeRefreshFamily: %v", err)
		}
		dead(t, s, "rt2", base)
		dead(t, s, "rt1", base)
		// Other families, even of the same user and client, are untouched.
		sameToken(t, live(t, s, "same-user", base), same)

		for _, f := range []string{"fam1", "unknown", ""} {
			if err := s.RevokeRefreshFamily(ctx, f); err != nil {
				t.Errorf("RevokeRefreshFamily(%q): %v, want nil", f, err)
			}
		}
		live(t, s, "same-user", base)
	})

	t.Run("RevokeUser", func(t *testing.T) {
		s := open(t)
		a := newToken("u1-a", "fam-a", "webapp", "u1", exp)
		b := newToken("u1-b", "fam-b", "mobile", "u1", exp)
		c := newToken("u2-c", "fam-c", "webapp", "u2", exp)
		for _, tok := range []store.RefreshToken{a, b, c} {
			mustSaveToken(t, s, tok)
		}
		if _, err := s.RotateRefreshToken(ctx, "u1-a", nextToken(a, "u1-a2"), base); err != nil {
			t.Fatal(err)
		}

		if err := s.RevokeUserRefreshTokens(ctx, "u1"); err != nil {
			t.Fatalf("RevokeUserRefreshTokens: %v", err)
		}
		for _, h := range []string{"u1-a", "u1-a2", "u1-b"} {
			dead(t, s, h, base)
		}
		_, err := s.RotateRefreshToken(ctx, "u1-b", nextToken(b, "u1-b2"), base)
		wantErr(t, "RotateRefreshToken of a revoked user's token", err, store.ErrNotFound)
		dead(t, s, "u1-b2", base)
		sameToken(t, live(t, s, "u2-c", base), c)

		if err := s.RevokeUserRefreshTokens(ctx, "nobody"); err != nil {
			t.Errorf("RevokeUserRefreshTokens(nobody): %v, want nil", err)
		}
		live(t, s, "u2-c", base)
	})

	t.Run("ConcurrentRotate", func(t *testing.T) {
		// Twenty holders of one token: exactly one exchange succeeds. A
		// backend may then either keep the family with the winner's token
		// live, or treat the losers as replay and revoke the family; never
		// may two successors be live.
		s := open(t)
		const n = 20
		t1 := newToken("rt", "fam", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		next := func(i int) string { return fmt.Sprintf("next-%02d", i) }
		errs := raceN(n, func(i int) error {
			_, err := s.RotateRefreshToken(ctx, "rt", nextToken(t1, next(i)), base)
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("goroutines %d and %d both rotated the token", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrTokenReused) && !errors.Is(err, store.ErrNotFound):
				t.Errorf("goroutine %d: %v, want nil, ErrTokenReused or ErrNotFound", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no goroutine rotated the token")
		}
		dead(t, s, "rt", base)
		for i := range n {
			if i != winner {
				dead(t, s, next(i), base)
			}
		}
		if _, err := s.RefreshTokenByHash(ctx, next(winner), base); err == nil {
			// Family intact: the winner's token goes on working, and the
			// old one is retired, so presenting it now is reuse.
			_, err := s.RotateRefreshToken(ctx, "rt", nextToken(t1, "late"), base)
			wantErr(t, "RotateRefreshToken of the raced token afterwards", err, store.ErrTokenReused)
			dead(t, s, next(winner), base)
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RefreshTokenByHash(winner's token): %v", err)
		}
	})

	// A token issued with a grace may be presented again for that long after
	// its retirement (a second tab, a retried request) without counting as
	// reuse; after it, reuse revokes the family as without one.
	graced := func(hash, family string) store.RefreshToken {
		tok := newToken(hash, family, "webapp", "u1", exp)
		tok.Grace = 10 * time.Second
		return tok
	}

	t.Run("GraceAllowsAConcurrentExchange", func(t *testing.T) {
		s := open(t)
		t1 := graced("rt1", "fam1")
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}
		// Within the grace the retired token still reads as exchangeable
		// and is exchanged again: another live token of the family.
		sameToken(t, live(t, s, "rt1", base.Add(9*time.Second)), t1)
		got, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base.Add(9*time.Second))
		if err != nil {
			t.Fatalf("RotateRefreshToken within the grace: %v", err)
		}
		sameToken(t, got, t1)
		live(t, s, "rt2", base.Add(9*time.Second))
		live(t, s, "rt3", base.Add(9*time.Second))
		// Each successor rotates by the usual rules.
		if _, err := s.RotateRefreshToken(ctx, "rt3", nextToken(t1, "rt4"), base.Add(9*time.Second)); err != nil {
			t.Fatalf("RotateRefreshToken of the grace's successor: %v", err)
		}
		live(t, s, "rt4", base.Add(9*time.Second))
	})

	t.Run("GraceIsNotExtended", func(t *testing.T) {
		// The grace counts from the first exchange: exchanging the token
		// again inside it does not move the retirement time.
		s := open(t)
		t1 := graced("rt1", "fam1")
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base.Add(9*time.Second)); err != nil {
			t.Fatalf("within the grace: %v", err)
		}
		dead(t, s, "rt1", base.Add(10*time.Second)) // the grace ends at its instant
		_, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt5"), base.Add(10*time.Second))
		wantErr(t, "RotateRefreshToken once the grace is over", err, store.ErrTokenReused)
		for _, h := range []string{"rt2", "rt3", "rt5"} {
			dead(t, s, h, base.Add(10*time.Second))
		}
	})

	t.Run("GraceEndsWithTheFamily", func(t *testing.T) {
		// A revoked family stays revoked: its retired token is reuse even
		// inside its grace.
		s := open(t)
		t1 := graced("rt1", "fam1")
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeRefreshFamily(ctx, "fam1"); err != nil {
			t.Fatal(err)
		}
		dead(t, s, "rt1", base.Add(time.Second))
		_, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base.Add(time.Second))
		wantErr(t, "RotateRefreshToken of a revoked family's token within the grace", err, store.ErrTokenReused)
		dead(t, s, "rt3", base.Add(time.Second))
	})

	t.Run("GraceDoesNotOutliveExpiry", func(t *testing.T) {
		s := open(t)
		t1 := graced("rt1", "fam1")
		t1.Expires = base.Add(5 * time.Second)
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		dead(t, s, "rt1", base.Add(5*time.Second))
		_, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base.Add(5*time.Second))
		wantErr(t, "RotateRefreshToken of an expired token within the grace", err, store.ErrNotFound)
		dead(t, s, "rt3", base)
	})

	t.Run("GraceKeepsTheFamilyRule", func(t *testing.T) {
		// Within the grace, next must still be of old's family.
		s := open(t)
		t1 := graced("rt1", "fam1")
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		bad := nextToken(t1, "rt3")
		bad.FamilyID = "fam-evil"
		if got, err := s.RotateRefreshToken(ctx, "rt1", bad, base.Add(time.Second)); err == nil {
			t.Fatalf("RotateRefreshToken into another family within the grace succeeded: %+v", got)
		}
		dead(t, s, "rt3", base)
		live(t, s, "rt2", base.Add(time.Second))
	})

	t.Run("NoGraceIsReuseAtOnce", func(t *testing.T) {
		// A token issued without a grace (as before this setting existed)
		// is reuse the moment after its retirement.
		s := open(t)
		t1 := newToken("rt1", "fam1", "webapp", "u1", exp)
		mustSaveToken(t, s, t1)
		if _, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt2"), base); err != nil {
			t.Fatal(err)
		}
		dead(t, s, "rt1", base)
		_, err := s.RotateRefreshToken(ctx, "rt1", nextToken(t1, "rt3"), base)
		wantErr(t, "RotateRefreshToken of a retired token without grace", err, store.ErrTokenReused)
		dead(t, s, "rt2", base)
	})

	t.Run("ConcurrentRotateWithGrace", func(t *testing.T) {
		// Twenty holders of one graced token at once (a browser's tabs):
		// every one gets a live successor, and the family stands.
		s := open(t)
		const n = 20
		t1 := graced("rt", "fam")
		mustSaveToken(t, s, t1)
		next := func(i int) string { return fmt.Sprintf("next-%02d", i) }
		errs := raceN(n, func(i int) error {
			_, err := s.RotateRefreshToken(ctx, "rt", nextToken(t1, next(i)), base)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v, want a successor within the grace", i, err)
			}
		}
		for i := range n {
			live(t, s, next(i), base)
		}
	})
}
