package cli_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
)

func TestAudit(t *testing.T) {
	e := newEnv(t, "")
	const password = "correct horse battery"
	sub := e.create("ada@example.com", password)
	e.secrets = append(e.secrets, "wrong "+password)

	// Sign-ins as the server makes them, from a client's address.
	p := e.openPool()
	ctx := pool.WithClientIP(t.Context(), "198.51.100.4")
	for _, login := range []string{"ada@example.com", "nobody@example.com"} {
		if _, err := p.SignIn(ctx, login, "wrong "+password); !errors.Is(err, pool.ErrInvalidCredentials) {
			t.Fatalf("wrong password for %s: %v", login, err)
		}
	}
	e.ok("users", "disable", "--email", "ada@example.com")

	text := e.ok("audit", "--email", "Ada@Example.com")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("audit --email printed:\n%s\nwant a header and two events", text)
	}
	for i, re := range []string{
		`^\d{4}-\d\d-\d\dT\S+Z\s+user_disabled\s+ada@example\.com\s+-\s+-\s+by=admin$`,
		`^\S+\s+sign_in_failed\s+ada@example\.com\s+198\.51\.100\.4\s+invalid_credentials\s+-$`,
	} {
		if !regexp.MustCompile(re).MatchString(lines[i+1]) {
			t.Errorf("line %d = %q, want it to match %s", i+1, lines[i+1], re)
		}
	}

	var events []struct {
		ID     int64             `json:"id"`
		At     time.Time         `json:"at"`
		Type   string            `json:"type"`
		UserID string            `json:"user_id"`
		Login  string            `json:"login"`
		IP     string            `json:"ip"`
		Reason string            `json:"reason"`
		Detail map[string]string `json:"detail"`
	}
	decode := func(out string) {
		t.Helper()
		events = nil
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&events); err != nil {
			t.Fatalf("decoding %q: %v", out, err)
		}
	}
	decode(e.ok("audit", "--all", "--json"))
	if len(events) != 3 || events[0].ID <= events[1].ID || events[1].ID <= events[2].ID {
		t.Fatalf("audit --all --json = %+v, want three events, newest first", events)
	}
	if ev := events[1]; ev.Type != "sign_in_failed" || ev.UserID != "" || ev.Login != "nobody@example.com" || ev.IP != "198.51.100.4" {
		t.Errorf("unknown login's failure = %+v", ev)
	}
	if ev := events[2]; ev.UserID != sub || ev.At.IsZero() || ev.Detail == nil {
		t.Errorf("ada's failure = %+v", ev)
	}

	decode(e.ok("audit", "--all", "--type", "sign_in_failed", "--limit", "1", "--json"))
	if len(events) != 1 || events[0].Login != "nobody@example.com" {
		t.Errorf("--type sign_in_failed --limit 1 = %+v", events)
	}
	decode(e.ok("audit", "--all", "--since", "1h", "--json"))
	if len(events) != 3 {
		t.Errorf("--since 1h: %d events, want 3", len(events))
	}
	decode(e.ok("audit", "--all", "--since", time.Now().Add(time.Hour).Format(time.RFC3339), "--json"))
	if len(events) != 0 {
		t.Errorf("--since an hour ahead: %+v, want none", events)
	}

	// The trail outlives the account: found by the address it had.
	e.ok("users", "delete", "--email", "ada@example.com")
	decode(e.ok("audit", "--email", "ada@example.com", "--json"))
	if len(events) != 3 || events[0].Type != "user_deleted" || events[0].UserID != sub {
		t.Errorf("after deleting the user: %+v", events)
	}
	// --user takes the sub (the account is gone) or the address.
	decode(e.ok("audit", "--user", sub, "--json"))
	if len(events) != 3 || events[0].Type != "user_deleted" || events[1].Type != "user_disabled" || events[2].Type != "sign_in_failed" {
		t.Errorf("audit --user <sub> = %+v, want ada's three events", events)
	}
	decode(e.ok("audit", "--user", "ada@example.com", "--json"))
	if len(events) != 3 {
		t.Errorf("audit --user <email> = %+v, want the three of --email", events)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit"}, "give --email <email>, --user <email or sub>, or --all"},
		{[]string{"audit", "--all", "--email", "ada@example.com"}, "give --email <email>, --user <email or sub>, or --all"},
		{[]string{"audit", "--user", sub, "--all"}, "give --user or --all, not both"},
		{[]string{"audit", "--user", sub, "--email", "ada@example.com"}, "give --email or --user, not both"},
		{[]string{"audit", "--email", "not an address"}, "not a valid email address"},
		{[]string{"audit", "--all", "--type", "sign_out"}, `--type "sign_out": unknown`},
		{[]string{"audit", "--all", "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"audit", "--all", "--limit", "-1"}, "--limit -1"},
	} {
		e.fails(e.gh(tc.args...), tc.want)
	}
}
