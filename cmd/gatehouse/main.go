// Command gatehouse is Caddy with Gatehouse built in: `gatehouse run`,
// `adapt`, `validate` and the rest behave as Caddy's, and `gatehouse users`,
// `groups`, `clients`, `keys` and `audit` manage a pool's users, app clients
// and keys in the store the server uses. Those commands come with the module
// (package cli, which it imports), so an xcaddy build with the module has
// them too; this main adds only the binary's name.
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules, as in the stock caddy binary.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/gatehouse-auth/gatehouse/module"
)

func main() {
	// Help and errors name the command people typed.
	caddy.CustomBinaryName = "gatehouse"
	caddycmd.Main()
}
