package bench

import (
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// The sign-in benchmarks run at pool.DefaultHashParams (argon2id, 19 MiB,
// t=2, p=1): what a sign-in costs in production. One goroutine, so the
// signins/s metric is per core.

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkSignIn is a successful sign-in: email normalization, the user's
// row from SQLite, one argon2id verification.
func BenchmarkSignIn(b *testing.B) {
	e := newEnv(b, pool.HashParams{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.pool.SignIn(b.Context(), "ada@example.com", password); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "signins/s")
}

// BenchmarkSignInWrongPassword is a known user with a wrong password.
func BenchmarkSignInWrongPassword(b *testing.B) {
	e := newEnv(b, pool.HashParams{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.pool.SignIn(b.Context(), "ada@example.com", "not the password"); !errors.Is(err, pool.ErrInvalidCredentials) {
			b.Fatal(err)
		}
	}
	reportRate(b, "signins/s")
}

// BenchmarkSignInUnknownUser is a login that matches no user: the pool
// verifies against its dummy hash so that this costs what a real sign-in
// does. Compare its ns/op with BenchmarkSignIn's.
func BenchmarkSignInUnknownUser(b *testing.B) {
	e := newEnv(b, pool.HashParams{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.pool.SignIn(b.Context(), "nobody@example.com", password); !errors.Is(err, pool.ErrInvalidCredentials) {
			b.Fatal(err)
		}
	}
	reportRate(b, "signins/s")
}

// BenchmarkSignInParallel runs sign-ins on every core at once; the pool's
// hasher admits GOMAXPROCS hashes at a time. signins/s is for the machine.
func BenchmarkSignInParallel(b *testing.B) {
	e := newEnv(b, pool.HashParams{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.pool.SignIn(b.Context(), "ada@example.com", password); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, "signins/s")
}

// BenchmarkArgon2idHash is one raw argon2id key derivation at the default
// parameters, without the pool or the store around it.
func BenchmarkArgon2idHash(b *testing.B) {
	p := pool.DefaultHashParams
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		b.Fatal(err)
	}
	pw := []byte(password)
	b.ReportAllocs()
	for b.Loop() {
		argon2.IDKey(pw, salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	}
	reportRate(b, "hashes/s")
}
