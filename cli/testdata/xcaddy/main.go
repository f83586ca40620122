// Command xcaddy is the main that `xcaddy build --with
// github.com/gatehouse-auth/gatehouse/module` generates: Caddy, its standard
// modules and the module, nothing else of Gatehouse (see TestXcaddyBuild).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/gatehouse-auth/gatehouse/module"
)

func main() {
	caddycmd.Main()
}
