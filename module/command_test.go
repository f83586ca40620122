package module_test

import (
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/gatehouse-auth/gatehouse/module"
)

// TestCommandsComeWithTheModule: importing the module, and nothing else of
// Gatehouse, registers the CLI's commands with Caddy, as an xcaddy build
// with the module does.
func TestCommandsComeWithTheModule(t *testing.T) {
	t.Parallel() // no Caddy, so it may overlap the other tests that start none
	cmds := caddycmd.Commands()
	for _, name := range []string{"users", "groups", "clients", "keys", "audit"} {
		c, ok := cmds[name]
		if !ok {
			t.Errorf("no %q command registered", name)
			continue
		}
		if c.CobraFunc == nil {
			t.Errorf("command %q has no CobraFunc", name)
		}
	}
}
