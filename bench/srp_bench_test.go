package bench

import (
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// USER_SRP_AUTH against USER_PASSWORD_AUTH on one pool (SRP on, argon2id
// at pool.DefaultHashParams), through the sign-in machine, to the
// finished Authentication (audited). The SRP figures count the server's
// work only: the client's (a, its key, the signature) runs with the timer
// stopped, and is measured alone in BenchmarkSRPClient.

const srpBenchPool = "Bench1"

func newSRPPool(b *testing.B) *pool.Pool {
	b.Helper()
	ctx := b.Context()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, err := pool.New(ctx, st, pool.Config{Name: "bench", SRP: pool.SRPConfig{PoolName: srpBenchPool}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.CreateUser(ctx, pool.NewUser{Email: "ada@example.com", Password: password, EmailVerified: true}); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkMachinePasswordSignIn is InitiatePasswordAuth to the end: one
// argon2id verification, the user's row, the verifier check (SRP is on:
// the pool reads the user's verifier to see that it has one), the audit.
func BenchmarkMachinePasswordSignIn(b *testing.B) {
	p := newSRPPool(b)
	b.ReportAllocs()
	for b.Loop() {
		step, err := p.InitiatePasswordAuth(b.Context(), pool.PasswordAuth{Username: "ada@example.com", Password: password, Client: "bench"})
		if err != nil || step.Auth == nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "signins/s")
}

// BenchmarkMachineSRPSignIn is InitiateSRPAuth and its answer to the end,
// server side: the user's row and verifier (opened), b and B = kv + g^b,
// S = (A v^u)^b and HKDF, the session sealed; then the session opened and
// spent, the signature checked, the user read, the audit. No argon2id.
func BenchmarkMachineSRPSignIn(b *testing.B) {
	p := newSRPPool(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := srp.NewClient()
		A := c.AHex()
		b.StartTimer()
		step, err := p.InitiateSRPAuth(ctx, pool.SRPAuth{Username: "ada@example.com", SRPA: A, Client: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ps := step.Challenge.Parameters
		key, err := c.Key(srpBenchPool, ps["USER_ID_FOR_SRP"], password, ps["SALT"], ps["SRP_B"])
		if err != nil {
			b.Fatal(err)
		}
		block, _ := base64.StdEncoding.DecodeString(ps["SECRET_BLOCK"])
		ts := srp.FormatTimestamp(time.Now())
		a := pool.Answer{Client: "bench", PasswordClaimSecretBlock: ps["SECRET_BLOCK"], Timestamp: ts,
			PasswordClaimSignature: srp.Signature(key, srpBenchPool, ps["USER_ID_FOR_SRP"], block, ts)}
		b.StartTimer()
		done, err := p.RespondToAuthChallenge(ctx, a)
		if err != nil || done.Auth == nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "signins/s")
}

// BenchmarkSRPServe is the server's arithmetic alone: srp.Serve (one
// exponentiation for g^b, one for v^u, one for the power b, all with
// 256-bit exponents mod the 3072-bit N) and HKDF.
func BenchmarkSRPServe(b *testing.B) {
	_, v := srp.NewVerifier(srpBenchPool, "u", password)
	A, _ := srp.ParseA(srp.NewClient().AHex())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := srp.Serve(A, v, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSRPVerifier makes one verifier (g^x, a 256-bit exponent): what
// setting a password adds in a pool with SRP on.
func BenchmarkSRPVerifier(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		srp.NewVerifier(srpBenchPool, "u", password)
	}
}

// BenchmarkSRPClient is the client's side, for scale: A = g^a (a of 1024
// bits, as amazon-cognito-identity-js) and S = (B - kg^x)^(a+ux), in Go.
func BenchmarkSRPClient(b *testing.B) {
	salt, v := srp.NewVerifier(srpBenchPool, "u", password)
	b.ReportAllocs()
	for b.Loop() {
		c := srp.NewClient()
		A, _ := srp.ParseA(c.AHex())
		ex, err := srp.Serve(A, v, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Key(srpBenchPool, "u", password, srp.SaltHex(salt), ex.B); err != nil {
			b.Fatal(err)
		}
	}
}
