package hostedui

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The pages hand the pool the client's address (Config.ClientIP) for its
// audit events, and tell it when a sign-in grants a session.
func TestSignInAudited(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.ClientIP = func(*http.Request) string { return "203.0.113.9" }
	})
	for _, pw := range []string{"wrong " + adaPassword, adaPassword} {
		cookie, tok := f.form(t, "/")
		r := postForm(signInForm(adaEmail, pw, tok, "/"), cookie)
		r.Header.Set("Origin", "http://example.com")
		f.do(r).Body.Close()
	}
	f.store.mu.Lock()
	events := append([]store.AuditEvent(nil), f.store.audit...)
	f.store.mu.Unlock()
	// The fixture's own setup (disabling a user) is audited first, from no
	// client.
	var got []store.AuditEvent
	for _, e := range events {
		if e.Login == adaEmail {
			got = append(got, e)
		}
	}
	if len(got) != 2 {
		t.Fatalf("events of %s: %+v, want a failure and a sign-in", adaEmail, got)
	}
	if e := got[0]; e.Type != pool.AuditSignInFailed || e.Reason != "invalid_credentials" || e.UserID != f.ada.ID || e.IP != "203.0.113.9" {
		t.Errorf("failure = %+v", e)
	}
	if e := got[1]; e.Type != pool.AuditSignIn || e.UserID != f.ada.ID || e.IP != "203.0.113.9" || e.Detail["amr"] != "pwd" {
		t.Errorf("sign-in = %+v", e)
	}
	for _, e := range events {
		for _, v := range append([]string{e.Login, e.Reason}, mapValues(e.Detail)...) {
			if strings.Contains(v, adaPassword) {
				t.Errorf("event %+v holds the password", e)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
