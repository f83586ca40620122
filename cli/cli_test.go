package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cli"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// ghBin is the gatehouse binary built once for all tests: the CLI is tested
// as operators run it, a separate process with its own flags and exit code.
var ghBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse() // for testing.Verbose
	dir, err := os.MkdirTemp("", "gatehouse-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ghBin = filepath.Join(dir, "gatehouse")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", ghBin, "../cmd/gatehouse").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("built %s in %s\n", ghBin, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// env is one test's pool: a directory with a Caddyfile and its database.
type env struct {
	t         *testing.T
	dir       string
	caddyfile string
	db        string
	// secrets are the passwords the test used; no output may contain them.
	secrets []string
}

// newEnv writes a Caddyfile whose pool "default" keeps its users in a fresh
// SQLite file; poolOptions are added to the pool block.
func newEnv(t *testing.T, poolOptions string) *env {
	t.Helper()
	t.Parallel()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, caddyfile: filepath.Join(dir, "Caddyfile"), db: filepath.Join(dir, "gh.db")}
	e.write("Caddyfile", caddyfileFor(e.db, poolOptions, testenv.FreePort(t)))
	return e
}

func caddyfileFor(db, poolOptions string, port int) string {
	return fmt.Sprintf(`{
	gatehouse {
		pool default {
			store sqlite %s
			%s
			%s
		}
	}
}

http://127.0.0.1:%d {
	gatehouse
	respond "ok"
}
`, db, testenv.FastHash, poolOptions, port)
}

// on returns the env for a subtest, so that failures and fatal errors
// belong to it.
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) write(name, body string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary in the env's directory (so the default --config
// finds its Caddyfile) with stdin as input.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ghBin, args...)
	cmd.Dir = e.dir
	// Keep Caddy's own files (autosave, storage) inside the test.
	cmd.Env = append(os.Environ(), "HOME="+e.dir, "XDG_CONFIG_HOME="+e.dir, "XDG_DATA_HOME="+e.dir)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		e.t.Fatalf("running gatehouse %v: %v", args, err)
	}
	all := r.stdout + r.stderr
	for _, s := range e.secrets {
		if strings.Contains(all, s) {
			e.t.Errorf("gatehouse %v printed a password:\n%s", args, all)
		}
	}
	if strings.Contains(all, "argon2") {
		e.t.Errorf("gatehouse %v printed a password hash:\n%s", args, all)
	}
	return r
}

// gh runs a pool subcommand against the env's Caddyfile.
func (e *env) gh(args ...string) result {
	e.t.Helper()
	return e.run("", append(args, "--config", e.caddyfile)...)
}

// ok runs a pool subcommand that must succeed and returns its stdout.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.gh(args...)
	if r.code != 0 {
		e.t.Fatalf("gatehouse %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails checks that r failed with one line on stderr containing want.
func (e *env) fails(r result, want string) {
	e.t.Helper()
	if r.code == 0 {
		e.t.Errorf("exit status 0, want a failure; stdout: %s", r.stdout)
	}
	msg := strings.TrimSpace(r.stderr)
	if !strings.Contains(msg, want) {
		e.t.Errorf("stderr = %q, want it to contain %q", msg, want)
	}
	if strings.Contains(msg, "\n") {
		e.t.Errorf("stderr has more than one line: %q", msg)
	}
}

// create makes a user through the CLI and returns its sub.
func (e *env) create(email, password string, extra ...string) string {
	e.t.Helper()
	e.secrets = append(e.secrets, password)
	out := e.ok(append([]string{"users", "create", "--email", email, "--password", password}, extra...)...)
	m := regexp.MustCompile(`^created user (\S+) \(sub ([0-9a-f-]{36})\)`).FindStringSubmatch(out)
	if m == nil || m[1] != strings.ToLower(email) {
		e.t.Fatalf("create printed %q, want `created user %s (sub <uuid>)`", out, strings.ToLower(email))
	}
	return m[2]
}

// userJSON is `--json` output, decoded strictly so new fields are noticed.
type userJSON struct {
	ID            string            `json:"id"`
	Sub           string            `json:"sub"`
	Email         string            `json:"email"`
	EmailVerified bool              `json:"email_verified"`
	Name          string            `json:"name"`
	Status        string            `json:"status"`
	Enabled       bool              `json:"enabled"`
	Groups        []string          `json:"groups"`
	Attributes    map[string]string `json:"attributes"`
	Identities    []identityJSON    `json:"identities"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

type identityJSON struct {
	Provider     string `json:"provider"`
	ProviderType string `json:"provider_type"`
	Issuer       string `json:"issuer"`
	Subject      string `json:"subject"`
	Primary      bool   `json:"primary"`
	CreatedAt    string `json:"created_at"`
}

func decodeStrict(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
}

func (e *env) show(email string) userJSON {
	e.t.Helper()
	var u userJSON
	decodeStrict(e.t, e.ok("users", "show", "--email", email, "--json"), &u)
	return u
}

// openPool opens the env's pool in this process, as the server would.
func (e *env) openPool() *pool.Pool {
	e.t.Helper()
	cfg, err := module.LoadPoolConfig(e.caddyfile, "", "default")
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := module.OpenPool(e.t.Context(), "default", cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = p.Close() })
	return p.Pool
}

func TestCreateAndShow(t *testing.T) {
	e := newEnv(t, "")
	before := time.Now().Add(-time.Second)
	sub := e.create("Ada@Example.com", "correct horse battery", "--name", "Ada Lovelace", "--group", "admins", "--group", "ops")

	text := e.ok("users", "show", "--email", "ada@example.com")
	for _, line := range []string{
		`email:\s+ada@example\.com`,
		`sub:\s+` + sub,
		`email_verified:\s+true`,
		`name:\s+Ada Lovelace`,
		`status:\s+CONFIRMED`,
		`enabled:\s+true`,
		`groups:\s+admins, ops`,
		`identities:\s+-`,
		`created_at:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`,
	} {
		if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(text) {
			t.Errorf("show output has no line matching %q:\n%s", line, text)
		}
	}

	u := e.show("ADA@example.com ")
	want := userJSON{ID: sub, Sub: sub, Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace",
		Status: "CONFIRMED", Enabled: true, Groups: []string{"admins", "ops"}, Attributes: map[string]string{},
		Identities: []identityJSON{}}
	got := u
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("show --json = %+v\nwant %+v", got, want)
	}
	if u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now()) || u.UpdatedAt.Before(u.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v: not the time of creation", u.CreatedAt, u.UpdatedAt)
	}

	// create --json prints the same object.
	var c userJSON
	e.secrets = append(e.secrets, "another good password")
	decodeStrict(t, e.ok("users", "create", "--email", "bob@example.com", "--password", "another good password", "--json"), &c)
	if c.Email != "bob@example.com" || c.ID == "" || c.Sub != c.ID || c.Status != "CONFIRMED" || !c.EmailVerified || len(c.Groups) != 0 {
		t.Errorf("create --json = %+v", c)
	}
}

func TestCreateUnverified(t *testing.T) {
	e := newEnv(t, "")
	e.create("eve@example.com", "correct horse battery", "--unverified")
	u := e.show("eve@example.com")
	if u.Status != "UNCONFIRMED" || u.EmailVerified {
		t.Errorf("status %s, email_verified %t; want UNCONFIRMED, false", u.Status, u.EmailVerified)
	}
	if _, err := e.openPool().SignIn(t.Context(), "eve@example.com", "correct horse battery"); !errors.Is(err, pool.ErrUserNotConfirmed) {
		t.Errorf("sign-in of an unverified user: %v, want %v", err, pool.ErrUserNotConfirmed)
	}
}

func TestCreateFailures(t *testing.T) {
	e := newEnv(t, "password {\n\t\t\t\tmin_length 14\n\t\t\t}")
	e.create("ada@example.com", "fourteen chars")
	e.secrets = append(e.secrets, "thirteen char", "correct horse battery")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"duplicate", []string{"--email", "ADA@example.com", "--password", "correct horse battery"}, "a user with this email already exists"},
		{"policy from the config", []string{"--email", "bob@example.com", "--password", "thirteen char"}, "password must be at least 14 characters"},
		{"bad email", []string{"--email", "bob", "--password", "correct horse battery"}, `not a valid email address: "bob"`},
		{"no email", []string{"--password", "correct horse battery"}, `"email" not set`},
		{"no password", []string{"--email", "bob@example.com"}, "a password is required"},
		{"two passwords", []string{"--email", "bob@example.com", "--password", "correct horse battery", "--password-stdin"}, "not both"},
		{"bad group", []string{"--email", "bob@example.com", "--password", "correct horse battery", "--group", "a b"}, `group "a b": group names are`},
		{"stray argument", []string{"bob@example.com"}, `unexpected argument "bob@example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			r := e.gh(append([]string{"users", "create"}, tc.args...)...)
			e.fails(r, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	// None of the failures left a user behind (the bad group's least of all).
	out := e.ok("users", "list", "--json")
	var users []userJSON
	decodeStrict(t, out, &users)
	if len(users) != 1 || users[0].Email != "ada@example.com" {
		t.Errorf("users after failed creates: %+v, want only ada@example.com", users)
	}
}

func TestPasswordStdin(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		name, stdin, password string
	}{
		{"newline", "stdin password one\n", "stdin password one"},
		{"no newline", "stdin password two", "stdin password two"},
		{"crlf", "stdin password three\r\n", "stdin password three"},
		{"first line only", "stdin password four\nsecond line\n", "stdin password four"},
		{"spaces kept", "  stdin password five  \n", "  stdin password five  "},
	}
	for i, tc := range cases {
		e.secrets = append(e.secrets, strings.TrimSpace(tc.password))
		email := fmt.Sprintf("user%d@example.com", i)
		r := e.run(tc.stdin, "users", "create", "--email", email, "--password-stdin", "--config", e.caddyfile)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "created user "+email) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", tc.name, r.code, r.stdout, r.stderr)
		}
	}
	p := e.openPool()
	for i, tc := range cases {
		email := fmt.Sprintf("user%d@example.com", i)
		if _, err := p.SignIn(t.Context(), email, tc.password); err != nil {
			t.Errorf("%s: signing in with %q: %v", tc.name, tc.password, err)
		}
	}
	e.fails(e.run("", "users", "create", "--email", "empty@example.com", "--password-stdin", "--config", e.caddyfile), "stdin is empty")
}

func TestList(t *testing.T) {
	e := newEnv(t, "")
	subs := map[string]string{}
	for _, email := range []string{"carol@example.com", "ada@example.com", "bob@example.com"} {
		subs[email] = e.create(email, "correct horse battery")
	}
	e.ok("groups", "add-user", "--group", "admins", "--email", "bob@example.com")
	e.ok("users", "disable", "--email", "carol@example.com")

	lines := strings.Split(strings.TrimRight(e.ok("users", "list"), "\n"), "\n")
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"EMAIL", "STATUS", "ENABLED", "GROUPS", "SUB", "CREATED"}) {
		t.Errorf("header = %q", lines[0])
	}
	wantRows := [][]string{
		{"ada@example.com", "CONFIRMED", "true", "-", subs["ada@example.com"]},
		{"bob@example.com", "CONFIRMED", "true", "admins", subs["bob@example.com"]},
		{"carol@example.com", "DISABLED", "false", "-", subs["carol@example.com"]},
	}
	if len(lines) != 1+len(wantRows) {
		t.Fatalf("list printed %d lines, want %d:\n%s", len(lines), 1+len(wantRows), strings.Join(lines, "\n"))
	}
	col := strings.Index(lines[0], "STATUS")
	for i, want := range wantRows {
		got := strings.Fields(lines[i+1])
		if len(got) != 6 || !slices.Equal(got[:5], want) {
			t.Errorf("row %d = %q, want %q + created", i, got, want)
		}
		if strings.Index(lines[i+1], want[1]) != col {
			t.Errorf("row %d is not aligned with the header:\n%s\n%s", i, lines[0], lines[i+1])
		}
	}

	for _, tc := range []struct {
		limit string
		want  []string
	}{
		{"0", []string{"ada@example.com", "bob@example.com", "carol@example.com"}},
		{"2", []string{"ada@example.com", "bob@example.com"}},
		{"1", []string{"ada@example.com"}},
		{"5", []string{"ada@example.com", "bob@example.com", "carol@example.com"}},
	} {
		var users []userJSON
		decodeStrict(t, e.ok("users", "list", "--json", "--limit", tc.limit), &users)
		var got []string
		for _, u := range users {
			got = append(got, u.Email)
			if u.Sub != subs[u.Email] {
				t.Errorf("--limit %s: %s has sub %q, want %q", tc.limit, u.Email, u.Sub, subs[u.Email])
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("list --json --limit %s = %q, want %q", tc.limit, got, tc.want)
		}
	}
	e.fails(e.gh("users", "list", "--limit", "-1"), "--limit -1")
}

// TestListPages lists more users than one store page holds.
func TestListPages(t *testing.T) {
	e := newEnv(t, "")
	p := e.openPool()
	const n = cli.ListPage*2 + 5
	for i := range n {
		if _, err := p.CreateUser(t.Context(), pool.NewUser{Email: fmt.Sprintf("u%03d@example.com", i), Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		limit, want int
	}{{0, n}, {cli.ListPage, cli.ListPage}, {cli.ListPage + 1, cli.ListPage + 1}, {n + 10, n}} {
		var users []userJSON
		decodeStrict(t, e.ok("users", "list", "--json", "--limit", fmt.Sprint(tc.limit)), &users)
		if len(users) != tc.want {
			t.Errorf("--limit %d: %d users, want %d", tc.limit, len(users), tc.want)
			continue
		}
		for i, u := range users {
			if want := fmt.Sprintf("u%03d@example.com", i); u.Email != want {
				t.Errorf("--limit %d: user %d is %s, want %s", tc.limit, i, u.Email, want)
				break
			}
		}
	}
}

func TestSetPassword(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "the old password")
	e.secrets = append(e.secrets, "the new password", "too short", "from stdin password")

	e.fails(e.gh("users", "set-password", "--email", "ada@example.com", "--password", "too short"), "password must be at least 12 characters")
	e.fails(e.gh("users", "set-password", "--email", "ada@example.com"), "a password is required")
	out := e.ok("users", "set-password", "--email", "ada@example.com", "--password", "the new password")
	if out != "set a new password for ada@example.com; their sessions are revoked\n" {
		t.Errorf("set-password printed %q", out)
	}

	signIn := func(password string, want error) {
		t.Helper()
		cfg, err := module.LoadPoolConfig(e.caddyfile, "", "default")
		if err != nil {
			t.Fatal(err)
		}
		p, err := module.OpenPool(t.Context(), "default", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Pool.SignIn(t.Context(), "ada@example.com", password); !errors.Is(err, want) {
			t.Errorf("sign-in with %q: %v, want %v", password, err, want)
		}
	}
	signIn("the new password", nil)
	signIn("the old password", pool.ErrInvalidCredentials)

	r := e.run("from stdin password\n", "users", "set-password", "--email", "ada@example.com", "--password-stdin", "--config", e.caddyfile)
	if r.code != 0 {
		t.Fatalf("set-password --password-stdin: exit %d: %s", r.code, r.stderr)
	}
	signIn("from stdin password", nil)
	signIn("the new password", pool.ErrInvalidCredentials)
}

func TestDisableEnable(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery")
	for _, tc := range []struct {
		cmd, out string
		enabled  bool
	}{
		{"disable", "disabled user ada@example.com; their sessions are revoked\n", false},
		{"disable", "disabled user ada@example.com; their sessions are revoked\n", false},
		{"enable", "enabled user ada@example.com\n", true},
	} {
		if out := e.ok("users", tc.cmd, "--email", "ada@example.com"); out != tc.out {
			t.Errorf("%s printed %q, want %q", tc.cmd, out, tc.out)
		}
		if u := e.show("ada@example.com"); u.Enabled != tc.enabled {
			t.Errorf("after %s: enabled %t, want %t", tc.cmd, u.Enabled, tc.enabled)
		}
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^enabled:\s+%t$`, tc.enabled)).MatchString(e.ok("users", "show", "--email", "ada@example.com")) {
			t.Errorf("after %s: text show does not say enabled %t", tc.cmd, tc.enabled)
		}
	}
	var u userJSON
	decodeStrict(t, e.ok("users", "disable", "--email", "ada@example.com", "--json"), &u)
	if u.Enabled || u.Email != "ada@example.com" {
		t.Errorf("disable --json = %+v", u)
	}
	if _, err := e.openPool().SignIn(t.Context(), "ada@example.com", "correct horse battery"); !errors.Is(err, pool.ErrUserDisabled) {
		t.Errorf("sign-in of a disabled user: %v, want %v", err, pool.ErrUserDisabled)
	}
}

func TestGroups(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery", "--group", "ops")
	for _, tc := range []struct {
		cmd, group, out string
		groups          []string
	}{
		{"add-user", "admins", "added ada@example.com to group admins\n", []string{"admins", "ops"}},
		{"add-user", "admins", "ada@example.com is already in group admins\n", []string{"admins", "ops"}},
		{"remove-user", "ops", "removed ada@example.com from group ops\n", []string{"admins"}},
		{"remove-user", "ops", "ada@example.com was not in group ops\n", []string{"admins"}},
		{"remove-user", "admins", "removed ada@example.com from group admins\n", []string{}},
	} {
		if out := e.ok("groups", tc.cmd, "--group", tc.group, "--email", "ada@example.com"); out != tc.out {
			t.Errorf("%s %s printed %q, want %q", tc.cmd, tc.group, out, tc.out)
		}
		if u := e.show("ada@example.com"); !slices.Equal(u.Groups, tc.groups) {
			t.Errorf("after %s %s: groups %q, want %q", tc.cmd, tc.group, u.Groups, tc.groups)
		}
	}
	var u userJSON
	decodeStrict(t, e.ok("groups", "add-user", "--group", "eng", "--email", "ada@example.com", "--json"), &u)
	if !slices.Equal(u.Groups, []string{"eng"}) {
		t.Errorf("add-user --json groups = %q", u.Groups)
	}
	e.fails(e.gh("groups", "add-user", "--group", "bad group", "--email", "ada@example.com"), `group "bad group": group names are`)
	e.fails(e.gh("groups", "add-user", "--email", "ada@example.com"), `"group" not set`)
}

func TestDelete(t *testing.T) {
	e := newEnv(t, "")
	sub := e.create("ada@example.com", "correct horse battery", "--group", "admins")
	e.create("bob@example.com", "correct horse battery")
	if out := e.ok("users", "delete", "--email", "ada@example.com"); out != "deleted user ada@example.com (sub "+sub+")\n" {
		t.Errorf("delete printed %q", out)
	}
	e.fails(e.gh("users", "show", "--email", "ada@example.com"), "no such user: ada@example.com")
	e.fails(e.gh("users", "delete", "--email", "ada@example.com"), "no such user: ada@example.com")

	var d struct {
		Deleted bool   `json:"deleted"`
		Email   string `json:"email"`
	}
	if err := json.Unmarshal([]byte(e.ok("users", "delete", "--email", "bob@example.com", "--json")), &d); err != nil || !d.Deleted || d.Email != "bob@example.com" {
		t.Errorf("delete --json = %+v, %v", d, err)
	}
	if out := e.ok("users", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list after deleting everyone = %q, want []", out)
	}
	// The same email can be used again: a new user, a new sub.
	if again := e.create("ada@example.com", "correct horse battery"); again == sub {
		t.Errorf("re-created user has the deleted user's sub %s", sub)
	}
	if u := e.show("ada@example.com"); len(u.Groups) != 0 {
		t.Errorf("re-created user inherited groups %q", u.Groups)
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery")
	for _, args := range [][]string{
		{"users", "show"},
		{"users", "delete"},
		{"users", "disable"},
		{"users", "enable"},
		{"users", "set-password", "--password", "correct horse battery"},
		{"groups", "add-user", "--group", "admins"},
		{"groups", "remove-user", "--group", "admins"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			e := e.on(t)
			r := e.gh(append(args, "--email", "Ghost@Example.com")...)
			e.fails(r, "no such user: ghost@example.com")
		})
	}
	// None of them touched the user that does exist.
	if u := e.show("ada@example.com"); !u.Enabled || len(u.Groups) != 0 {
		t.Errorf("ada after the failures: %+v", u)
	}
}

func TestConfigLookup(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery")

	// adapt's JSON, and a Caddyfile under another name with --adapter, find
	// the same pool; with no --config, ./Caddyfile is used.
	adapted := e.run("", "adapt", "--config", e.caddyfile)
	if adapted.code != 0 {
		t.Fatalf("adapt: exit %d: %s", adapted.code, adapted.stderr)
	}
	jsonCfg := e.write("gatehouse.json", adapted.stdout)
	raw, err := os.ReadFile(e.caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	conf := e.write("site.conf", string(raw))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default config", nil},
		{"json", []string{"--config", jsonCfg}},
		{"adapter", []string{"--config", conf, "--adapter", "caddyfile"}},
		{"explicit pool", []string{"--config", e.caddyfile, "--pool", "default"}},
	} {
		r := e.run("", append([]string{"users", "list"}, tc.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "ada@example.com") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, r.code, r.stdout, r.stderr)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown pool", []string{"--config", e.caddyfile, "--pool", "staff"}, `no pool named "staff"`},
		{"missing config", []string{"--config", filepath.Join(e.dir, "nope", "Caddyfile")}, "nope/Caddyfile: no such file or directory"},
		{"other file without adapter", []string{"--config", conf}, "reading config " + conf},
		{"unknown adapter", []string{"--config", conf, "--adapter", "toml"}, `unknown config adapter "toml"`},
		{"no gatehouse app", []string{"--config", e.write("Plain.caddyfile", "http://127.0.0.1:1 {\n\trespond ok\n}\n")}, "defines no gatehouse pools"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			r := e.run("", append([]string{"users", "show", "--email", "ada@example.com"}, tc.args...)...)
			e.fails(r, tc.want)
			if strings.Contains(r.stdout, "ada@example.com") {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestAdapt(t *testing.T) {
	e := newEnv(t, "")
	r := e.run("", "adapt", "--config", e.caddyfile)
	if r.code != 0 {
		t.Fatalf("adapt: exit %d: %s", r.code, r.stderr)
	}
	var cfg struct {
		Apps struct {
			Gatehouse struct {
				Pools map[string]struct {
					Store struct{ Driver, Path string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &cfg); err != nil {
		t.Fatalf("adapt printed no JSON: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stdout, `"gatehouse"`) {
		t.Errorf("adapt output names no gatehouse app or handler:\n%s", r.stdout)
	}
	if s := cfg.Apps.Gatehouse.Pools["default"].Store; s.Driver != "sqlite" || s.Path != e.db {
		t.Errorf("pool default's store = %+v, want sqlite %s", s, e.db)
	}
}

// logText returns the messages of Caddy's log lines (JSON when stderr is not
// a terminal), so tests can look for quoted values as the operator sees them.
func logText(stderr string) string {
	var b strings.Builder
	for line := range strings.Lines(stderr) {
		var entry struct{ Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg != "" {
			line = entry.Msg + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestValidate(t *testing.T) {
	e := newEnv(t, "")
	port := testenv.FreePort(t)
	for _, tc := range []struct {
		name, options string
		want          []string // empty: the config is valid
	}{
		{"valid", "password {\n\t\t\t\tmin_length 16\n\t\t\t}", nil},
		{"min_length not a number", "password {\n\t\t\t\tmin_length abc\n\t\t\t}", []string{"min_length", `"abc"`}},
		{"password bounds", "password {\n\t\t\t\tmin_length 20\n\t\t\t\tmax_length 10\n\t\t\t}", []string{"min_length 20", "max_length 10"}},
		{"unknown option", "colour blue", []string{`"colour"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			path := e.write(strings.ReplaceAll(tc.name, " ", "_")+".caddyfile", caddyfileFor(filepath.Join(e.dir, "v.db"), tc.options, port))
			r := e.run("", "validate", "--config", path)
			if tc.want == nil {
				if r.code != 0 {
					t.Errorf("validate of a good config: exit %d\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code == 0 {
				t.Errorf("validate: exit 0, want a failure")
			}
			for _, w := range tc.want {
				if !strings.Contains(logText(r.stderr), w) {
					t.Errorf("validate output does not name %s:\n%s%s", w, r.stdout, r.stderr)
				}
			}
		})
	}
	// The store line is not part of the shared template above.
	bad := strings.Replace(caddyfileFor(filepath.Join(e.dir, "v.db"), "", port), "store sqlite "+filepath.Join(e.dir, "v.db"), "store mysql x", 1)
	r := e.run("", "validate", "--config", e.write("mysql.caddyfile", bad))
	if r.code == 0 || !strings.Contains(logText(r.stderr), `store: unknown driver "mysql"`) {
		t.Errorf("validate with store mysql: exit %d\n%s", r.code, r.stderr)
	}
}
