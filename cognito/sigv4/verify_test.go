package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

const region = "eu-west-1"

// rig is a real pool on SQLite with an access key, and an httptest server
// whose handler verifies each request with a Verifier on that pool, as the
// API will: it answers 200 with the principal, or AWS's error JSON.
type rig struct {
	t     *testing.T
	pool  *pool.Pool
	store store.Store
	key   *pool.NewAccessKey
	srv   *httptest.Server
	v     *sigv4.Verifier
	mu    sync.Mutex
	now   time.Time
}

func newRig(t *testing.T, throttle ratelimit.Throttle) *rig {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p, err := pool.New(t.Context(), s, pool.Config{Name: "test", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.CreateAccessKey(t.Context(), "tests", false)
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{t: t, pool: p, store: s, key: k, now: time.Now().Truncate(time.Second)}
	rg.v, err = sigv4.New(sigv4.Config{
		Region: region, Keys: p, Replay: s, Audit: p, Throttle: throttle,
		ClientIP: func(r *http.Request) string { return r.Header.Get("Test-Client-Ip") },
		Now:      rg.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	rg.srv = httptest.NewServer(http.HandlerFunc(rg.serve))
	t.Cleanup(rg.srv.Close)
	return rg
}

func (rg *rig) clock() time.Time {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.now
}

func (rg *rig) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ctx := pool.WithClientIP(r.Context(), r.Header.Get("Test-Client-Ip"))
	p, err := rg.v.Verify(r.WithContext(ctx), body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	var e *sigv4.Error
	switch {
	case errors.As(err, &e):
		w.Header().Set("X-Amzn-Errortype", e.Type)
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]string{"__type": e.Type, "message": e.Message})
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		// The principal, with what an AdminGetUser answer needs for the
		// JavaScript SDK to parse it.
		json.NewEncoder(w).Encode(map[string]any{"AccessKeyID": p.AccessKeyID, "ReadOnly": p.ReadOnly, "Username": "ada@example.com"})
	}
}

// request is an admin call as the SDKs send it.
func (rg *rig) request(body string) *http.Request {
	r, err := http.NewRequest(http.MethodPost, rg.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		rg.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminGetUser")
	r.Header.Set("Test-Client-Ip", "192.0.2.1")
	// As the SDKs do: it makes every call's signature unique.
	r.Header.Set("Amz-Sdk-Invocation-Id", uuid.NewString())
	return r
}

func bodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// sign signs r with aws-sdk-go-v2's SigV4 signer: a new one each time,
// since a signer caches derived keys by access key id, not by secret.
func (rg *rig) sign(r *http.Request, body, id, secret, service, reg string, at time.Time) {
	rg.t.Helper()
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r, bodyHash(body), service, reg, at)
	if err != nil {
		rg.t.Fatal(err)
	}
}

func (rg *rig) signed(body string) *http.Request {
	r := rg.request(body)
	rg.sign(r, body, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, rg.clock())
	return r
}

// send sends r and returns the principal, or the error's type and message.
func (rg *rig) send(r *http.Request) (p *sigv4.Principal, errType, msg string) {
	rg.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		rg.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		p = &sigv4.Principal{}
		if err := json.Unmarshal(raw, p); err != nil {
			rg.t.Fatal(err)
		}
		return p, "", ""
	}
	var e struct{ Type, Message string }
	json.Unmarshal(raw, &struct {
		Type    *string `json:"__type"`
		Message *string `json:"message"`
	}{&e.Type, &e.Message})
	if e.Type == "" || resp.Header.Get("X-Amzn-Errortype") != e.Type {
		rg.t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return nil, e.Type, e.Message
}

func (rg *rig) refused(r *http.Request, wantType, wantMsg string) {
	rg.t.Helper()
	p, typ, msg := rg.send(r)
	if p != nil {
		rg.t.Fatalf("accepted as %+v, want %s", p, wantType)
	}
	if typ != wantType || !strings.Contains(msg, wantMsg) {
		rg.t.Fatalf("%s: %s; want %s containing %q", typ, msg, wantType, wantMsg)
	}
}

const adminBody = `{"UserPoolId":"eu-west-1_abc","Username":"ada@example.com"}`

// TestSDKSignedAccepted: a request signed by aws-sdk-go-v2 for
// cognito-idp in the pool's region is accepted, once, as its key; a
// read-only key is reported so.
func TestSDKSignedAccepted(t *testing.T) {
	t.Parallel()
	rg := newRig(t, nil)
	p, typ, msg := rg.send(rg.signed(adminBody))
	if p == nil || p.AccessKeyID != rg.key.ID || p.ReadOnly {
		t.Fatalf("%+v %s %s", p, typ, msg)
	}
	ro, err := rg.pool.CreateAccessKey(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	r := rg.request(adminBody)
	rg.sign(r, adminBody, ro.ID, ro.SecretAccessKey, sigv4.Service, region, rg.clock())
	if p, typ, msg := rg.send(r); p == nil || p.AccessKeyID != ro.ID || !p.ReadOnly {
		t.Fatalf("read-only key: %+v %s %s", p, typ, msg)
	}
	// An empty body, an encoded path and a query, signed as the SDK signs
	// them (the path encoded twice, the query sorted).
	r, _ = http.NewRequest(http.MethodGet, rg.srv.URL+"/a%20b/c?Z=1&A=%20x&A=b&e=%E2%82%AC", nil)
	r.Header.Set("Test-Client-Ip", "192.0.2.1")
	rg.sign(r, "", rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, rg.clock())
	if p, typ, msg := rg.send(r); p == nil {
		t.Fatalf("GET with a query: %s %s", typ, msg)
	}
}

// TestRefusals: every way a request can be wrong is refused, with AWS's
// error name, and audited with its reason.
func TestRefusals(t *testing.T) {
	t.Parallel()
	rg := newRig(t, ratelimit.New(ratelimit.Limits{Rate: 100, Burst: 1000}))
	now := rg.clock()
	signedAt := func(at time.Time) *http.Request {
		r := rg.request(adminBody)
		rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, at)
		return r
	}
	cases := []struct {
		name            string
		req             func() *http.Request
		wantType, wantM string
		reason          string
	}{
		{"no Authorization", func() *http.Request { return rg.request(adminBody) },
			sigv4.TypeMissingToken, "Missing Authentication Token", sigv4.ReasonMissing},
		{"tampered signature", func() *http.Request {
			r := rg.signed(adminBody)
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			r.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			return r
		}, sigv4.TypeInvalidSignature, "does not match", sigv4.ReasonInvalidSignature},
		{"tampered body", func() *http.Request {
			r := rg.signed(adminBody)
			evil := strings.Replace(adminBody, "ada", "bob", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(evil)), int64(len(evil))
			return r
		}, sigv4.TypeInvalidSignature, "does not match", sigv4.ReasonInvalidSignature},
		{"tampered signed header", func() *http.Request {
			r := rg.signed(adminBody)
			r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminDeleteUser")
			return r
		}, sigv4.TypeInvalidSignature, "does not match", sigv4.ReasonInvalidSignature},
		{"unsigned x-amz-target", func() *http.Request {
			r := rg.request(adminBody)
			r.Header.Del("X-Amz-Target")
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, now)
			r.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminDeleteUser")
			return r
		}, sigv4.TypeIncomplete, "not signed: x-amz-target", sigv4.ReasonUnsignedHeader},
		{"unsigned content-type", func() *http.Request {
			r := rg.request(adminBody)
			r.Header.Del("Content-Type")
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, now)
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			return r
		}, sigv4.TypeIncomplete, "not signed: content-type", sigv4.ReasonUnsignedHeader},
		{"unsigned x-amz-* header", func() *http.Request {
			r := rg.signed(adminBody)
			r.Header.Set("X-Amz-Meta", "x")
			return r
		}, sigv4.TypeIncomplete, "not signed: x-amz-meta", sigv4.ReasonUnsignedHeader},
		{"host not signed", func() *http.Request {
			r := rg.signed(adminBody)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r
		}, sigv4.TypeIncomplete, "not signed: host", sigv4.ReasonUnsignedHeader},
		{"old date", func() *http.Request { return signedAt(now.Add(-6 * time.Minute)) },
			sigv4.TypeInvalidSignature, "Signature expired: ", sigv4.ReasonExpired},
		{"future date", func() *http.Request { return signedAt(now.Add(6 * time.Minute)) },
			sigv4.TypeInvalidSignature, "Signature not yet current: ", sigv4.ReasonExpired},
		{"scope of another day", func() *http.Request {
			r := signedAt(now.Add(-24 * time.Hour))
			r.Header.Set("X-Amz-Date", now.UTC().Format("20060102T150405Z"))
			return r
		}, sigv4.TypeInvalidSignature, "Date in Credential scope does not match", sigv4.ReasonScope},
		{"scope of another service", func() *http.Request {
			r := rg.request(adminBody)
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, "cognito-identity", region, now)
			return r
		}, sigv4.TypeInvalidSignature, "correct service: 'cognito-idp'", sigv4.ReasonScope},
		{"scope of another region", func() *http.Request {
			r := rg.request(adminBody)
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, "us-east-1", now)
			return r
		}, sigv4.TypeInvalidSignature, "valid region, not 'us-east-1'", sigv4.ReasonScope},
		{"unknown key", func() *http.Request {
			r := rg.request(adminBody)
			rg.sign(r, adminBody, "GHAKAAAAAAAAAAAAAAAA", rg.key.SecretAccessKey, sigv4.Service, region, now)
			return r
		}, sigv4.TypeUnrecognized, "security token included in the request is invalid", sigv4.ReasonUnknownKey},
		{"wrong secret", func() *http.Request {
			r := rg.request(adminBody)
			rg.sign(r, adminBody, rg.key.ID, strings.Repeat("A", 40), sigv4.Service, region, now)
			return r
		}, sigv4.TypeInvalidSignature, "does not match", sigv4.ReasonInvalidSignature},
		{"session token", func() *http.Request {
			r := rg.request(adminBody)
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: rg.key.ID, SecretAccessKey: rg.key.SecretAccessKey, SessionToken: "sts"}, r, bodyHash(adminBody), sigv4.Service, region, now)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, sigv4.TypeUnrecognized, "security token", sigv4.ReasonSecurityToken},
		{"payload hash of another body", func() *http.Request {
			r := rg.request(adminBody)
			r.Header.Set("X-Amz-Content-Sha256", bodyHash("{}"))
			rg.sign(r, "{}", rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, now)
			return r
		}, sigv4.TypeInvalidSignature, "x-amz-content-sha256", sigv4.ReasonPayloadHash},
		{"unsigned payload", func() *http.Request {
			r := rg.request(adminBody)
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, now)
			return r
		}, sigv4.TypeInvalidSignature, "x-amz-content-sha256", sigv4.ReasonPayloadHash},
		{"no X-Amz-Date", func() *http.Request {
			r := rg.signed(adminBody)
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
			return r
		}, sigv4.TypeIncomplete, "X-Amz-Date", sigv4.ReasonIncomplete},
		{"x-amz-target twice, both signed", func() *http.Request {
			r := rg.request(adminBody)
			r.Header.Add("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminDeleteUser")
			rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, now)
			return r
		}, sigv4.TypeIncomplete, "x-amz-target more than once", sigv4.ReasonIncomplete},
		{"just past the skew", func() *http.Request { return signedAt(now.Add(-sigv4.MaxSkew - time.Second)) },
			sigv4.TypeInvalidSignature, "Signature expired: ", sigv4.ReasonExpired},
		{"two Authorization headers", func() *http.Request {
			r := rg.signed(adminBody)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, sigv4.TypeIncomplete, "one Authorization header", sigv4.ReasonIncomplete},
	}
	malformed := map[string]string{
		"another algorithm":        "AWS4-HMAC-SHA1 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s",
		"component twice":          "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, Credential=X/1/2/3/4, SignedHeaders=host;x-amz-date, Signature=%s",
		"unknown component":        "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s, Extra=1",
		"short credential":         "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s",
		"uppercase signature":      "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=%S",
		"unsorted signed headers":  "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=x-amz-date;host, Signature=%s",
		"uppercase signed headers": "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=Host;x-amz-date, Signature=%s",
		"no signature":             "AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date%.0s",
	}
	for name, format := range malformed {
		cases = append(cases, struct {
			name            string
			req             func() *http.Request
			wantType, wantM string
			reason          string
		}{"malformed: " + name, func() *http.Request {
			r := rg.signed(adminBody)
			a := r.Header.Get("Authorization")
			sig := a[strings.LastIndex(a, "=")+1:]
			day := now.UTC().Format("20060102")
			h := strings.ReplaceAll(format, "%S", strings.ToUpper(sig))
			h = strings.Replace(h, "%s", rg.key.ID, 1)
			h = strings.Replace(h, "%s", day, 1)
			h = strings.Replace(h, "%s", sig, 1)
			h = strings.Replace(h, "%.0s", "", 1)
			r.Header.Set("Authorization", h)
			return r
		}, sigv4.TypeIncomplete, "", sigv4.ReasonIncomplete})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.req()
			rg.t = t
			rg.refused(r, c.wantType, c.wantM)
			events, err := rg.store.AuditEvents(t.Context(), store.AuditQuery{Types: []string{pool.AuditAdminAuthFailed}, Limit: 1})
			if err != nil || len(events) != 1 {
				t.Fatalf("audit: %v %v", events, err)
			}
			if e := events[0]; e.Reason != c.reason || e.IP != "192.0.2.1" {
				t.Errorf("audited %+v, want reason %s", e, c.reason)
			}
			if raw, _ := json.Marshal(events[0]); bytes.Contains(raw, []byte(rg.key.SecretAccessKey)) {
				t.Error("the audit holds the secret")
			}
		})
	}
}

// TestSkewEdges: a date exactly MaxSkew away, either way, is accepted.
func TestSkewEdges(t *testing.T) {
	t.Parallel()
	rg := newRig(t, nil)
	for _, d := range []time.Duration{-sigv4.MaxSkew, sigv4.MaxSkew} {
		r := rg.request(adminBody)
		rg.sign(r, adminBody, rg.key.ID, rg.key.SecretAccessKey, sigv4.Service, region, rg.clock().Add(d))
		if p, typ, msg := rg.send(r); p == nil {
			t.Errorf("signed %s from now: %s %s", d, typ, msg)
		}
	}
}

// TestReplay: the same signed request is accepted once, on one instance or
// another (a second Verifier on the same store).
func TestReplay(t *testing.T) {
	t.Parallel()
	rg := newRig(t, nil)
	r := rg.signed(adminBody)
	again := r.Clone(context.Background())
	again.Body = io.NopCloser(strings.NewReader(adminBody))
	if p, typ, msg := rg.send(r); p == nil {
		t.Fatalf("%s %s", typ, msg)
	}
	rg.refused(again, sigv4.TypeInvalidSignature, "used already")

	other, err := sigv4.New(sigv4.Config{Region: region, Keys: rg.pool, Replay: rg.store})
	if err != nil {
		t.Fatal(err)
	}
	third := rg.signed(adminBody)
	body := []byte(adminBody)
	if _, err := other.Verify(third, body); err != nil {
		t.Fatalf("another instance: %v", err)
	}
	third.Body = io.NopCloser(bytes.NewReader(body))
	rg.refused(third, sigv4.TypeInvalidSignature, "used already")
}

// TestRevokedKey: a key revoked is refused on the next request, on this
// instance and any other on the store.
func TestRevokedKey(t *testing.T) {
	t.Parallel()
	rg := newRig(t, nil)
	if p, typ, msg := rg.send(rg.signed(adminBody)); p == nil {
		t.Fatalf("%s %s", typ, msg)
	}
	if err := rg.pool.RevokeAccessKey(t.Context(), rg.key.ID); err != nil {
		t.Fatal(err)
	}
	rg.refused(rg.signed(adminBody), sigv4.TypeUnrecognized, "invalid")
}

// TestThrottle: a client address over its failure budget is refused
// before any work, even with a good signature, until the budget refills;
// another address is not. Failures with a known key id do not lock its
// owner out.
func TestThrottle(t *testing.T) {
	t.Parallel()
	rg := newRig(t, ratelimit.New(ratelimit.Limits{Rate: 1.0 / 60, Burst: 3, Now: func() time.Time { return time.Now() }}))
	bad := func(ip string) *http.Request {
		r := rg.request(adminBody)
		rg.sign(r, adminBody, rg.key.ID, strings.Repeat("B", 40), sigv4.Service, region, rg.clock())
		r.Header.Set("Test-Client-Ip", ip)
		return r
	}
	for range 3 {
		rg.refused(bad("198.51.100.9"), sigv4.TypeInvalidSignature, "does not match")
	}
	rg.refused(bad("198.51.100.9"), sigv4.TypeTooManyRequests, "Rate exceeded")
	good := rg.signed(adminBody)
	good.Header.Set("Test-Client-Ip", "198.51.100.9")
	rg.refused(good, sigv4.TypeTooManyRequests, "Rate exceeded")

	// Another address: its own budget; the key's failures are throttled
	// but its owner's good signature passes.
	rg.refused(bad("203.0.113.5"), sigv4.TypeTooManyRequests, "Rate exceeded") // the key's budget is spent
	if p, typ, msg := rg.send(rg.signed(adminBody)); p == nil {
		t.Fatalf("the key's owner, from elsewhere: %s %s", typ, msg)
	}
}
