package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// TestCreateTemporaryPassword: an administrator's temporary password makes
// a FORCE_CHANGE_PASSWORD user who must choose their own at first sign-in.
func TestCreateTemporaryPassword(t *testing.T) {
	e := newEnv(t, "")
	const temp = "Temporary-Pass-2031"
	e.secrets = append(e.secrets, temp)
	out := e.ok("users", "create", "--email", "grace@example.com", "--temporary-password", temp,
		"--name", "Grace Hopper", "--attribute", "custom:tenant=navy")
	if !strings.Contains(out, "must choose a new password at first sign-in") {
		t.Errorf("create printed %q", out)
	}
	u := e.show("grace@example.com")
	if u.Status != "FORCE_CHANGE_PASSWORD" || !u.EmailVerified || u.Attributes["custom:tenant"] != "navy" {
		t.Errorf("user %+v", u)
	}
	text := e.ok("users", "show", "--email", "grace@example.com")
	if !regexp.MustCompile(`(?m)^status:\s+FORCE_CHANGE_PASSWORD$`).MatchString(text) {
		t.Errorf("show prints:\n%s", text)
	}
	_, err := e.openPool().SignIn(t.Context(), "grace@example.com", temp)
	if !errors.Is(err, pool.ErrNewPasswordRequired) {
		t.Errorf("sign-in with the temporary password: %v, want ErrNewPasswordRequired", err)
	}
}

func TestCreateInvite(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	e := newEnv(t, `mail `+smtp.URL()+` {
				from "Example <no-reply@example.com>"
			}`)
	out := e.ok("users", "create", "--email", "Ada@Example.com", "--invite", "--group", "staff")
	if !strings.Contains(out, "invitation was emailed") {
		t.Errorf("create printed %q", out)
	}
	msg := smtp.WaitFor(t, "ada@example.com", 1, 10*time.Second)
	m := regexp.MustCompile(`(?m)^\s{4}(\S{20,})\s*$`).FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no generated password in the invitation:\n%s", msg.Text)
	}
	if strings.Contains(out, m[1]) {
		t.Error("the generated password was printed")
	}
	if u := e.show("ada@example.com"); u.Status != "FORCE_CHANGE_PASSWORD" || len(u.Groups) != 1 {
		t.Errorf("user %+v", u)
	}
	if _, err := e.openPool().SignIn(t.Context(), "ada@example.com", m[1]); !errors.Is(err, pool.ErrNewPasswordRequired) {
		t.Errorf("sign-in with the mailed password: %v", err)
	}

	// A refused invitation leaves no user behind, so a rerun works.
	smtp.SetFailure(errors.New("mailbox full"))
	e.fails(e.gh("users", "create", "--email", "bob@example.com", "--invite"), "the user was not created")
	smtp.SetFailure(nil)
	e.ok("users", "create", "--email", "bob@example.com", "--invite")
}

func TestCreateInviteOutbox(t *testing.T) {
	e := newEnv(t, "mail outbox ./outbox")
	e.ok("users", "create", "--email", "ada@example.com", "--invite")
	entries, err := os.ReadDir(filepath.Join(e.dir, "outbox"))
	if err != nil || len(entries) != 1 || !strings.Contains(entries[0].Name(), "invitation") {
		t.Fatalf("outbox: %v, %v", entries, err)
	}
}

func TestCreatePasswordChoices(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--password", "correct horse battery", "--temporary-password", "Temporary-Pass-1"}, "not both"},
		{[]string{"--invite"}, "no mail configured"},
		{[]string{}, "a password is required"},
		{[]string{"--temporary-password", "short"}, "at least 12"},
		{[]string{"--temporary-password", "password1234"}, "most common"},
		{[]string{"--password", "correct horse battery", "--attribute", "novalue"}, "name=value"},
	} {
		e.fails(e.gh(append([]string{"users", "create", "--email", "x@example.com"}, tc.args...)...), tc.want)
	}
	if r := e.gh("users", "show", "--email", "x@example.com"); r.code == 0 {
		t.Error("a refused create left a user behind")
	}
}

func TestShowDisabledStatus(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery")
	e.ok("users", "disable", "--email", "ada@example.com")
	text := e.ok("users", "show", "--email", "ada@example.com")
	if !regexp.MustCompile(`(?m)^status:\s+DISABLED$`).MatchString(text) {
		t.Errorf("show of a disabled user:\n%s", text)
	}
	if u := e.show("ada@example.com"); u.Status != "DISABLED" || u.Enabled {
		t.Errorf("json: %+v", u)
	}
	if list := e.ok("users", "list"); !strings.Contains(list, "DISABLED") {
		t.Errorf("list:\n%s", list)
	}
	e.ok("users", "enable", "--email", "ada@example.com")
	if u := e.show("ada@example.com"); u.Status != "CONFIRMED" {
		t.Errorf("after enabling: %s", u.Status)
	}
}
