package openid

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// FuzzComplete feeds arbitrary answers to Complete: it must not panic, and
// every refusal must be one the pages can name.
func FuzzComplete(f *testing.F) {
	for _, q := range []string{
		"state=S&code=c",
		"state=S&error=access_denied&error_description=no",
		"state=S&iss=https%3A%2F%2Fevil.example&code=c",
		"state=X&code=c",
		"state=S&error=%3Cscript%3E",
		"state=S&user=%7B%22name%22%3A1%7D&code=c",
	} {
		f.Add(q)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := &OIDC{ClientOptions: ClientOptions{Issuer: "http://" + addr, ClientID: "c", ClientSecret: "s"}}
	c, err := m.Open(f.Context(), federation.Env{Name: "corp"})
	if err != nil {
		f.Fatal(err)
	}
	req := federation.Request{State: "S", Nonce: "N", Verifier: "V", RedirectURI: "https://pool.example/cb"}
	f.Fuzz(func(t *testing.T, query string) {
		params, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		id, err := c.Complete(t.Context(), federation.Callback{Request: req, Params: params})
		if err == nil {
			t.Fatalf("an answer from nowhere signed in: %+v", id)
		}
		if !errors.Is(err, federation.ErrDenied) && !errors.Is(err, federation.ErrInvalidResponse) && !errors.Is(err, federation.ErrUnavailable) {
			t.Fatal(fmt.Errorf("an error the pages cannot name: %w", err))
		}
	})
}
