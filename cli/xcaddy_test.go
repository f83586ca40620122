package cli_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestXcaddyBuild: a Caddy built as xcaddy builds it with the module, from
// a main that imports only Caddy and the module, has the CLI's commands,
// and they work on a pool.
func TestXcaddyBuild(t *testing.T) {
	e := newEnv(t, "")
	bin := filepath.Join(t.TempDir(), "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/xcaddy").CombinedOutput(); err != nil {
		t.Fatalf("building a Caddy with the module: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	help, err := exec.CommandContext(ctx, bin, "help").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy help: %v\n%s", err, help)
	}
	for _, name := range []string{"users", "groups", "clients", "keys", "audit"} {
		if !regexp.MustCompile(`(?m)^\s+` + name + `\s`).Match(help) {
			t.Errorf("caddy help lists no %q command:\n%s", name, help)
		}
	}
	e.create("ada@example.com", "correct horse battery")
	cmd := exec.CommandContext(ctx, bin, "users", "show", "--email", "ada@example.com", "--config", e.caddyfile)
	cmd.Dir = e.dir
	cmd.Env = append(cmd.Environ(), "HOME="+e.dir, "XDG_CONFIG_HOME="+e.dir, "XDG_DATA_HOME="+e.dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^email:\s+ada@example.com$`).Match(out) {
		t.Errorf("caddy users show: %v\n%s", err, out)
	}
}
