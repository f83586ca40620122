package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

type suiteVector struct {
	name, request, canonical, stringToSign, signature string
}

const (
	suiteKeyID  = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

// parseSuiteRequest reads a vector's request as it is written: a request
// line whose target may hold spaces and raw UTF-8 (which no HTTP parser
// takes), "Name:value" header lines, a blank line, the body.
func parseSuiteRequest(t *testing.T, raw string) (*http.Request, []byte) {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(head, "\n")
	first := lines[0]
	method, rest, _ := strings.Cut(first, " ")
	target := rest[:strings.LastIndex(rest, " ")]
	path, query, _ := strings.Cut(target, "?")
	r := &http.Request{Method: method, RequestURI: target, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}, ContentLength: int64(len(body))}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("header line %q", l)
		}
		if strings.EqualFold(name, "host") {
			r.Host = value
			continue
		}
		r.Header.Add(name, value)
	}
	return r.WithContext(context.Background()), []byte(body)
}

// TestSuiteVectors checks, for each case of AWS's test suite, that the
// canonical request and string to sign are AWS's, and that the signature
// computed is the one AWS gives.
func TestSuiteVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range suiteVectors {
		t.Run(vec.name, func(t *testing.T) {
			r, body := parseSuiteRequest(t, vec.request)
			a, e := parseAuthorization(r.Header.Get("Authorization"))
			if e != nil {
				t.Fatal(e)
			}
			sum := sha256.Sum256(body)
			creq, ok := canonicalRequest(r, a.signedHeaders, a.signedHeadersRaw, hex.EncodeToString(sum[:]))
			if !ok {
				t.Fatal("a signed header is missing")
			}
			if creq != vec.canonical {
				t.Fatalf("canonical request:\n%s\nwant:\n%s", creq, vec.canonical)
			}
			sts := stringToSign(r.Header.Get("X-Amz-Date"), a.scope(), creq)
			if sts != vec.stringToSign {
				t.Fatalf("string to sign:\n%s\nwant:\n%s", sts, vec.stringToSign)
			}
			sig := hex.EncodeToString(signature([]byte(suiteSecret), a.date, a.region, a.service, sts))
			if sig != vec.signature || sig != hex.EncodeToString(a.signature) {
				t.Fatalf("signature %s, want %s", sig, vec.signature)
			}
		})
	}
}

// TestSuiteVectorsVerify runs each vector through the whole Verify (with
// the suite's service and clock), then the same request with one byte of
// its signature changed.
func TestSuiteVectorsVerify(t *testing.T) {
	t.Parallel()
	for _, vec := range suiteVectors {
		t.Run(vec.name, func(t *testing.T) {
			v := suiteVerifier(t)
			r, body := parseSuiteRequest(t, vec.request)
			p, err := v.Verify(r, body)
			if err != nil {
				t.Fatal(err)
			}
			if p.AccessKeyID != suiteKeyID || p.ReadOnly {
				t.Errorf("principal %+v", p)
			}
			r, body = parseSuiteRequest(t, strings.Replace(vec.request, "Signature="+vec.signature[:4], "Signature="+flipHex(vec.signature[:4]), 1))
			var e *Error
			if _, err := v.Verify(r, body); !errors.As(err, &e) || e.Type != TypeInvalidSignature {
				t.Errorf("tampered signature: %v, want InvalidSignatureException", err)
			}
		})
	}
}

func flipHex(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

// staticKeys is a KeySource of fixed keys (the pool's is tested with a
// real pool in pool_test.go).
type staticKeys map[string]staticKey

type staticKey struct {
	secret   string
	readOnly bool
}

func (k staticKeys) AccessKeySecret(_ context.Context, id string) ([]byte, bool, error) {
	s, ok := k[id]
	if !ok {
		return nil, false, store.ErrNotFound
	}
	return []byte(s.secret), s.readOnly, nil
}

// memCounter is CountHit in memory, as the stores keep it.
type memCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *memCounter) CountHit(_ context.Context, key string, start time.Time, _ time.Duration) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	k := key + "@" + start.UTC().Format(time.RFC3339Nano)
	c.n[k]++
	return c.n[k], 0, nil
}

func suiteVerifier(t *testing.T) *Verifier {
	v, err := New(Config{
		Region: "us-east-1",
		Keys:   staticKeys{suiteKeyID: {secret: suiteSecret}},
		Replay: &memCounter{},
		Now:    func() time.Time { return suiteTime.Add(time.Minute) },
	})
	if err != nil {
		t.Fatal(err)
	}
	v.service = "service"
	return v
}
