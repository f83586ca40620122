package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/transfer"
)

// importUsers is the size of the import benchmarks' file.
const importUsers = 100_000

// importFile is a JSON Lines file of importUsers users, each with a bcrypt
// hash, two attributes and a group, one in ten with a federation link:
// the shape of a real move, made once per process.
var importFile = sync.OnceValue(func() []byte {
	const hash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	var b bytes.Buffer
	b.WriteString(`{"group":{"name":"staff","description":"Everyone","precedence":10}}` + "\n")
	for i := range importUsers {
		fmt.Fprintf(&b, `{"user":{"id":"u-%06d","email":"user%06d@example.com","email_verified":true,"name":"User %d","password_hash":%q,"attributes":{"given_name":"User","custom:tenant":"t%d"},"groups":["staff"]`,
			i, i, i, hash, i%100)
		if i%10 == 0 {
			fmt.Fprintf(&b, `,"identities":[{"provider":"github","subject":"%d"}]`, i)
		}
		b.WriteString("}}\n")
	}
	return b.Bytes()
})

// timedStore records how long each ImportUsers transaction took: the
// longest is the longest the store's write lock was held.
type timedStore struct {
	store.Store
	longest time.Duration
}

func (s *timedStore) ImportUsers(ctx context.Context, users []store.ImportedUser) ([]string, error) {
	start := time.Now()
	created, err := s.Store.ImportUsers(ctx, users)
	s.longest = max(s.longest, time.Since(start))
	return created, err
}

// benchImport reads and checks the file, then imports it into a fresh
// store from open, per iteration; run with -benchtime 1x.
func benchImport(b *testing.B, open func(b *testing.B) store.Store) {
	file := importFile()
	var longest time.Duration
	for b.Loop() {
		b.StopTimer()
		st := &timedStore{Store: open(b)}
		p, err := pool.New(b.Context(), st, pool.Config{Name: "bench", Hash: fastHash})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		plan, err := transfer.ReadJSONL(bytes.NewReader(file), transfer.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := transfer.Import(b.Context(), p, plan, transfer.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if res.UsersCreated != importUsers {
			b.Fatalf("imported %d users, want %d", res.UsersCreated, importUsers)
		}
		longest = max(longest, st.longest)
	}
	b.ReportMetric(float64(importUsers)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(longest.Milliseconds()), "longest-tx-ms")
}

// BenchmarkImport100kSQLite: 100,000 users into a fresh SQLite store.
func BenchmarkImport100kSQLite(b *testing.B) {
	benchImport(b, func(b *testing.B) store.Store {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

// BenchmarkImport100kPostgres: the same into a fresh PostgreSQL schema.
func BenchmarkImport100kPostgres(b *testing.B) {
	benchImport(b, func(b *testing.B) store.Store {
		st, err := postgres.Open(b.Context(), testenv.PostgresDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

// BenchmarkImportRead100k is the part of both before the store: reading
// and checking the file (JSON, emails, hash formats, repeats).
func BenchmarkImportRead100k(b *testing.B) {
	file := importFile()
	for b.Loop() {
		plan, err := transfer.ReadJSONL(bytes.NewReader(file), transfer.ReadOptions{})
		if err != nil || len(plan.Users) != importUsers {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(importUsers)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
