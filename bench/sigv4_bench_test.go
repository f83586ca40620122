package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/store"
)

const sigv4Body = `{"UserPoolId":"eu-west-1_bench","Username":"ada@example.com"}`

// signedAdminCalls makes n AdminGetUser requests signed by aws-sdk-go-v2's
// signer, each unique (as the SDKs' amz-sdk-invocation-id makes them), so
// that the replay check passes every one.
func signedAdminCalls(b *testing.B, n int, id, secret string) []*http.Request {
	b.Helper()
	sum := sha256.Sum256([]byte(sigv4Body))
	hash := hex.EncodeToString(sum[:])
	signer := v4.NewSigner()
	now := time.Now()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sigv4Body))
		r.Host = "auth.example.com"
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminGetUser")
		r.Header.Set("Amz-Sdk-Invocation-Id", strconv.Itoa(i))
		r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
		r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0")
		if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r, hash, sigv4.Service, "eu-west-1", now); err != nil {
			b.Fatal(err)
		}
		reqs[i] = r
	}
	return reqs
}

// memKeys and memCounter leave only the verification itself to measure.
type memKeys struct{ id, secret string }

func (k memKeys) AccessKeySecret(_ context.Context, id string) ([]byte, bool, error) {
	if id != k.id {
		return nil, false, store.ErrNotFound
	}
	return []byte(k.secret), false, nil
}

type memCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *memCounter) CountHit(_ context.Context, key string, _ time.Time, _ time.Duration) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[key]++
	return c.n[key], 0, nil
}

// BenchmarkSigV4Verify verifies admin calls signed by aws-sdk-go-v2:
// "crypto" with the key and the replay mark in memory (parsing, canonical
// request, payload hash, key derivation, HMAC); "key-from-store" with the
// secret read and opened from the pool's SQLite store; "store" as the API
// runs it,
// the secret read and opened from the pool's SQLite store and the signature
// marked in it (one read and one write transaction per call).
func BenchmarkSigV4Verify(b *testing.B) {
	b.Run("crypto", func(b *testing.B) {
		const id, secret = "GHAKAAAAAAAAAAAAAAAA", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		v, err := sigv4.New(sigv4.Config{Region: "eu-west-1", Keys: memKeys{id, secret}, Replay: &memCounter{n: map[string]int64{}}})
		if err != nil {
			b.Fatal(err)
		}
		verifyAll(b, v, signedAdminCalls(b, b.N, id, secret))
	})
	b.Run("key-from-store", func(b *testing.B) {
		e := newEnv(b, fastHash)
		k, err := e.pool.CreateAccessKey(b.Context(), "bench", false)
		if err != nil {
			b.Fatal(err)
		}
		v, err := sigv4.New(sigv4.Config{Region: "eu-west-1", Keys: e.pool, Replay: &memCounter{n: map[string]int64{}}})
		if err != nil {
			b.Fatal(err)
		}
		verifyAll(b, v, signedAdminCalls(b, b.N, k.ID, k.SecretAccessKey))
	})
	b.Run("store", func(b *testing.B) {
		e := newEnv(b, fastHash)
		k, err := e.pool.CreateAccessKey(b.Context(), "bench", false)
		if err != nil {
			b.Fatal(err)
		}
		v, err := sigv4.New(sigv4.Config{Region: "eu-west-1", Keys: e.pool, Replay: e.store, Audit: e.pool})
		if err != nil {
			b.Fatal(err)
		}
		verifyAll(b, v, signedAdminCalls(b, b.N, k.ID, k.SecretAccessKey))
	})
}

func verifyAll(b *testing.B, v *sigv4.Verifier, reqs []*http.Request) {
	body := []byte(sigv4Body)
	b.ReportAllocs()
	b.ResetTimer()
	for _, r := range reqs {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
