package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/bench/bigstore"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// The big-store benchmarks look users up in a store of a million (by
// default) users built by bench/cmd/bigstore. They skip unless one exists:
//
//	GATEHOUSE_BIGSTORE_SQLITE=<file>     a SQLite store built with -sqlite
//	GATEHOUSE_BIGSTORE_POSTGRES=<dsn>    a PostgreSQL schema built with -postgres
//	GATEHOUSE_BIGSTORE_N=<n>             how many users it holds (default 1000000)
const (
	bigSQLiteEnv   = "GATEHOUSE_BIGSTORE_SQLITE"
	bigPostgresEnv = "GATEHOUSE_BIGSTORE_POSTGRES"
	bigNEnv        = "GATEHOUSE_BIGSTORE_N"
)

// bigSample is how many distinct users a benchmark cycles through, picked
// at random over the whole store: enough that lookups land all over both
// indexes rather than on a few hot pages.
const bigSample = 1 << 16

type bigUser struct{ id, email string }

// big is the big stores, opened and warmed once per process: every
// benchmark (and every -count round) measures the same warm state.
var big struct {
	once   sync.Once
	stores map[string]store.Store
	users  []bigUser
	err    error
}

// bigStores returns every big store the environment names, each under its
// driver's name, and the sample of users to look up.
func bigStores(b *testing.B) (map[string]store.Store, []bigUser) {
	b.Helper()
	if os.Getenv(bigSQLiteEnv) == "" && os.Getenv(bigPostgresEnv) == "" {
		b.Skipf("no big store: build one with bench/cmd/bigstore and set %s or %s", bigSQLiteEnv, bigPostgresEnv)
	}
	big.once.Do(func() { big.stores, big.users, big.err = openBigStores(context.Background()) })
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big.stores, big.users
}

// openBigStores opens the stores (left open until the process ends),
// checks that each holds exactly the users it should, picks the sample,
// and looks every sampled user up once by email and by id, so that the
// pages the benchmarks read are in the OS page cache (and PostgreSQL's
// buffers, as far as they go), as on a server that has been running.
func openBigStores(ctx context.Context) (map[string]store.Store, []bigUser, error) {
	n := 1_000_000
	if v := os.Getenv(bigNEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			return nil, nil, fmt.Errorf("%s=%q: want a positive number", bigNEnv, v)
		}
	}
	stores := map[string]store.Store{}
	if path := os.Getenv(bigSQLiteEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", bigSQLiteEnv, err)
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		stores["sqlite"] = st
	}
	if dsn := os.Getenv(bigPostgresEnv); dsn != "" {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		stores["postgres"] = st
	}
	rng := rand.New(rand.NewPCG(1, 2))
	users := make([]bigUser, bigSample)
	for i := range users {
		k := rng.IntN(n)
		users[i] = bigUser{id: bigstore.UserID(k), email: bigstore.UserEmail(k)}
	}
	for name, st := range stores {
		last := n - 1
		if u, err := st.UserByEmail(ctx, bigstore.UserEmail(last)); err != nil || u.ID != bigstore.UserID(last) {
			return nil, nil, fmt.Errorf("%s store: user %d of %d: %v (was it built with -n %d?)", name, last, n, err, n)
		}
		if _, err := st.UserByEmail(ctx, bigstore.UserEmail(n)); !errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s store holds more than %d users (%v): set %s", name, n, err, bigNEnv)
		}
		for _, u := range users {
			if _, err := st.UserByEmail(ctx, u.email); err != nil {
				return nil, nil, fmt.Errorf("%s store: warming up: %w", name, err)
			}
			if _, err := st.UserByID(ctx, u.id); err != nil {
				return nil, nil, fmt.Errorf("%s store: warming up: %w", name, err)
			}
		}
	}
	return stores, users, nil
}

// benchBig runs lookup on each big store, one goroutine and then all cores.
func benchBig(b *testing.B, lookup func(st store.Store, u bigUser) (*store.User, error)) {
	stores, users := bigStores(b)
	for _, name := range []string{"sqlite", "postgres"} {
		st, ok := stores[name]
		if !ok {
			continue
		}
		check := func(u bigUser) error {
			got, err := lookup(st, u)
			if err != nil {
				return err
			}
			if got.ID != u.id || got.Email != u.email {
				return fmt.Errorf("looked up %s, got %s %s", u.email, got.ID, got.Email)
			}
			return nil
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := check(users[i%len(users)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportRate(b, "lookups/s")
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(users))
				for pb.Next() {
					if err := check(users[i%len(users)]); err != nil {
						b.Error(err) // not Fatal: this is not the benchmark's goroutine
						return
					}
					i++
				}
			})
			reportRate(b, "lookups/s")
		})
	}
}

// BenchmarkBigStoreUserByEmail is the store half of a sign-in: the user's
// row (and groups) by email, among a million.
func BenchmarkBigStoreUserByEmail(b *testing.B) {
	benchBig(b, func(st store.Store, u bigUser) (*store.User, error) {
		return st.UserByEmail(b.Context(), u.email)
	})
}

// BenchmarkBigStoreUserByID is the claims refresh's read: the user by id.
func BenchmarkBigStoreUserByID(b *testing.B) {
	benchBig(b, func(st store.Store, u bigUser) (*store.User, error) {
		return st.UserByID(b.Context(), u.id)
	})
}

// BenchmarkBigStoreUnknownEmail is a sign-in attempt for an email that is
// not in the store: an index miss.
func BenchmarkBigStoreUnknownEmail(b *testing.B) {
	stores, users := bigStores(b)
	for _, name := range []string{"sqlite", "postgres"} {
		st, ok := stores[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Same length and prefix as real emails, never stored.
				email := "x" + users[i%len(users)].email
				if _, err := st.UserByEmail(b.Context(), email); !errors.Is(err, store.ErrNotFound) {
					b.Fatalf("%s: %v, want ErrNotFound", email, err)
				}
				i++
			}
			reportRate(b, "lookups/s")
		})
	}
}
