package sigv4_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
)

// TestInstancesOnPostgres: two instances, each with its own store
// connection and pool on one PostgreSQL schema. A key made on one (as the
// CLI would) verifies on the other; a request accepted by one is a replay
// on the other; a key revoked on one is refused by the other at once.
func TestInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	var pools [2]*pool.Pool
	var verifiers [2]*sigv4.Verifier
	for i := range pools {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		p, err := pool.New(t.Context(), st, pool.Config{Name: "test", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
		if err != nil {
			t.Fatal(err)
		}
		pools[i] = p
		if verifiers[i], err = sigv4.New(sigv4.Config{Region: region, Keys: p, Replay: st, Audit: p}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := pools[0].CreateAccessKey(t.Context(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	signed := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(adminBody))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminGetUser")
		r.Header.Set("Amz-Sdk-Invocation-Id", uuid.NewString())
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.SecretAccessKey},
			r, bodyHash(adminBody), sigv4.Service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	refusedAs := func(err error, typ string) {
		t.Helper()
		var e *sigv4.Error
		if !errors.As(err, &e) || e.Type != typ {
			t.Fatalf("%v, want %s", err, typ)
		}
	}
	r := signed()
	if p, err := verifiers[1].Verify(r, []byte(adminBody)); err != nil || p.AccessKeyID != k.ID {
		t.Fatalf("the other instance: %+v %v", p, err)
	}
	_, err = verifiers[0].Verify(r, []byte(adminBody))
	refusedAs(err, sigv4.TypeInvalidSignature)

	if err := pools[0].RevokeAccessKey(t.Context(), k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = verifiers[1].Verify(signed(), []byte(adminBody))
	refusedAs(err, sigv4.TypeUnrecognized)
}
