package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestUsersExportImport moves a pool's users to another pool's store with
// the two commands, as an operator would, and runs the import twice.
func TestUsersExportImport(t *testing.T) {
	src := newEnv(t, "")
	src.create("ada@example.com", "correct horse battery", "--group", "admins", "--attribute", "given_name=Ada")
	src.create("bob@example.com", "another good passphrase")
	pass := src.write("pass.txt", "moving day passphrase\n")
	out := filepath.Join(src.dir, "users.jsonl")
	src.ok("users", "export", "--file", out, "--with-secrets", "--passphrase-file", pass)
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(body), `{"user":`); n != 2 {
		t.Fatalf("export has %d users:\n%s", n, body)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600: it holds password hashes", fi.Mode().Perm())
	}
	if r := src.gh("users", "export", "--with-secrets"); r.code == 0 {
		t.Error("export --with-secrets without a passphrase succeeded")
	}

	// A second pool of its own store (newEnv would call t.Parallel again).
	dir := t.TempDir()
	dst := &env{t: t, dir: dir, caddyfile: filepath.Join(dir, "Caddyfile"), db: filepath.Join(dir, "gh.db")}
	dst.write("Caddyfile", caddyfileFor(dst.db, "", testenv.FreePort(t)))
	got := dst.ok("users", "import", "--file", out, "--passphrase-file", pass)
	if !strings.Contains(got, "users: 2 imported, 0 already there") || !strings.Contains(got, "groups: 1 imported") {
		t.Errorf("import printed %q", got)
	}
	got = dst.ok("users", "import", "--file", out, "--passphrase-file", pass)
	if !strings.Contains(got, "users: 0 imported, 2 already there") {
		t.Errorf("second import printed %q", got)
	}
	list := dst.ok("users", "list")
	if !strings.Contains(list, "ada@example.com") || !strings.Contains(list, "admins") || !strings.Contains(list, "bob@example.com") {
		t.Errorf("list after import:\n%s", list)
	}

	bad := dst.write("bad.jsonl", `{"user":{"email":"c@example.com"}}`+"\n"+`{"user":{"email":"nope"}}`+"\n")
	dst.fails(dst.gh("users", "import", "--file", bad), "line 2:")
	if strings.Contains(dst.ok("users", "list"), "c@example.com") {
		t.Error("a refused file's first user was written")
	}

	csv := dst.write("users.csv", "cognito:username,name,given_name,family_name,middle_name,nickname,preferred_username,profile,picture,website,email,email_verified,gender,birthdate,zoneinfo,locale,phone_number,phone_number_verified,address,updated_at,cognito:mfa_enabled\n"+
		"carol,Carol,,,,,,,,,carol@example.com,true,,,,,,false,,,false\n")
	dst.ok("users", "import", "--format", "cognito-csv", "--file", csv)
	if show := dst.ok("users", "show", "--email", "carol@example.com"); !strings.Contains(show, "RESET_REQUIRED") {
		t.Errorf("CSV user:\n%s", show)
	}
}
