// Package oauthcall holds the OAuth 2.0 pieces the social connectors
// (GitHub, Facebook) share: the PKCE challenge, the state check, and calls
// to a provider's token and user endpoints whose failures come back as
// federation's error classes, so that each connector says only what is its
// own.
package oauthcall

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// MaxBody bounds what is read from a provider: user records and e-mail
// lists are a few kilobytes, and a provider (or whoever answers in its
// place) must not make us hold more.
const MaxBody = 1 << 20

// DefaultTimeout is the client's timeout when the pool gives none.
const DefaultTimeout = 15 * time.Second

// Client returns c, or a client with DefaultTimeout when c is nil.
func Client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// Challenge is PKCE's S256 code challenge of verifier (RFC 7636 4.2).
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CheckRequest refuses a Request that lacks what a code flow needs: the
// pages make them, so this is a programming error, not the user's.
func CheckRequest(req federation.Request) error {
	switch {
	case req.State == "":
		return errors.New("the request has no state")
	case len(req.Verifier) < 43 || len(req.Verifier) > 128:
		return errors.New("the request's PKCE verifier must be 43 to 128 characters (RFC 7636)")
	case req.RedirectURI == "":
		return errors.New("the request has no redirect URI")
	}
	return nil
}

// CheckState compares the callback's state with the request's in constant
// time; a mismatch is a forged or crossed answer.
func CheckState(got, want string) error {
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return federation.Invalid("the state does not match the sign-in that was started")
	}
	return nil
}

// StatusError is a provider's answer outside 2xx that is not an outage
// (4xx other than 429): the connector reads Body to say what it means.
type StatusError struct {
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the provider answered HTTP %d", e.Status)
}

// Do sends req and returns a 2xx answer's body and header. A request that
// does not reach the provider, a 5xx or a 429 wraps ErrUnavailable; any
// other non-2xx answer is a *StatusError; a body above MaxBody wraps
// ErrInvalidResponse.
func Do(client *http.Client, req *http.Request) ([]byte, http.Header, error) {
	resp, err := Client(client).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, query and all
		}
		return nil, nil, fmt.Errorf("%w: %s %s: %v", federation.ErrUnavailable, req.Method, redact(req), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading %s: %v", federation.ErrUnavailable, redact(req), err)
	}
	if len(body) > MaxBody {
		return nil, nil, federation.Invalid("%s answered more than %d bytes", redact(req), MaxBody)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, nil, fmt.Errorf("%w: %s answered HTTP %d", federation.ErrUnavailable, redact(req), resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return body, resp.Header, &StatusError{Status: resp.StatusCode, Body: body}
	}
	return body, resp.Header, nil
}

// DecodeJSON reads a provider's JSON answer into out; JSON that does not
// parse wraps ErrInvalidResponse.
func DecodeJSON(what string, body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return federation.Invalid("%s is not the JSON expected: %v", what, err)
	}
	return nil
}

// NewRequest is http.NewRequestWithContext for a provider's JSON endpoint.
func NewRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Gatehouse")
	return req, nil
}

// redact names a request's endpoint without its query, which may carry a
// token or a secret that must not reach the logs.
func redact(req *http.Request) string {
	u := *req.URL
	u.RawQuery = ""
	u.User = nil
	return u.String()
}

// BaseURL checks the base URL of a provider's server (an Enterprise
// Server, a test's stand-in) and returns it without a trailing slash. It
// must be https: the client secret and the user's token go to it. Plain
// http is taken only on loopback, where nothing travels.
func BaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return "", err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%q: want a server's URL alone (no query, fragment or credentials)", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return "", fmt.Errorf("%q: want https (plain http only on localhost)", raw)
		}
	default:
		return "", fmt.Errorf("%q is not an https URL", raw)
	}
	return u.String(), nil
}
