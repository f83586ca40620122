package oauthcall

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/federation"
)

func TestChallenge(t *testing.T) {
	t.Parallel()
	// The expected value was computed apart, with Python's hashlib and
	// base64.urlsafe_b64encode (padding stripped).
	if got := Challenge("dBjftJeZ4CVP-mJ92K9XEfTnrRhJ7OMqXHGEoUM9cMeI"); got != "f1EpAn6V-lqD3scBzP-udtDjpg5xxCOu5PvXSguQWJg" {
		t.Fatalf("challenge %q", got)
	}
}

func TestCheckState(t *testing.T) {
	t.Parallel()
	if CheckState("abc", "abc") != nil {
		t.Error("the same state was refused")
	}
	for _, c := range [][2]string{{"abd", "abc"}, {"", "abc"}, {"", ""}, {"abc", ""}} {
		if err := CheckState(c[0], c[1]); !errors.Is(err, federation.ErrInvalidResponse) {
			t.Errorf("CheckState(%q, %q) = %v", c[0], c[1], err)
		}
	}
}

func TestDoClassifies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"a":1}`))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", MaxBody+1)))
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"x"}`))
		}
	}))
	defer srv.Close()
	get := func(path string) ([]byte, error) {
		req, _ := NewRequest(context.Background(), http.MethodGet, srv.URL+path+"?access_token=SECRET", nil)
		b, _, err := Do(nil, req)
		return b, err
	}
	if b, err := get("/ok"); err != nil || string(b) != `{"a":1}` {
		t.Errorf("ok: %q %v", b, err)
	}
	if _, err := get("/big"); !errors.Is(err, federation.ErrInvalidResponse) {
		t.Errorf("big: %v", err)
	}
	for _, p := range []string{"/busy", "/down"} {
		if _, err := get(p); !errors.Is(err, federation.ErrUnavailable) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v", p, err)
		}
	}
	var se *StatusError
	if _, err := get("/bad"); !errors.As(err, &se) || se.Status != 400 || string(se.Body) != `{"error":"x"}` {
		t.Errorf("bad: %v", err)
	}
	srv.Close()
	if _, err := get("/ok"); !errors.Is(err, federation.ErrUnavailable) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("closed: %v", err)
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://ghe.example.com/":     "https://ghe.example.com",
		"https://ghe.example.com":      "https://ghe.example.com",
		"http://127.0.0.1:8080/":       "http://127.0.0.1:8080",
		"http://localhost:9":           "http://localhost:9",
		"https://proxy.example/graph/": "https://proxy.example/graph",
	} {
		if got, err := BaseURL(raw); err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"ghe.example.com", "http://ghe.example.com", "ftp://ghe.example.com", "https://u:p@ghe.example.com",
		"https://ghe.example.com/?a=b", "https://ghe.example.com/#x", "https://", "javascript:alert(1)", "http://127.0.0.1.evil.example"} {
		if got, err := BaseURL(raw); err == nil {
			t.Errorf("BaseURL(%q) = %q, accepted", raw, got)
		}
	}
}
