// Package cli is Gatehouse's commands of the caddy binary: `users`,
// `groups`, `clients`, `keys`, `access-keys` and `audit`, registered with caddycmd when the
// package is loaded, as Caddy's own modules register theirs. The module
// (package module) imports it, so every Caddy built with the module has
// them: cmd/gatehouse, or `xcaddy build --with
// github.com/gatehouse-auth/gatehouse/module`.
//
// A command finds its pool through the Opener the module gives it
// (SetOpener), which reads the config as the server does; this package
// cannot import the module, which imports it.
package cli

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Pool is an opened pool, as the commands act on it.
type Pool struct {
	Pool  *pool.Pool
	Store store.Store
	// Keys are the pool's signing keys.
	Keys *signing.KeySet
	// RevocationRefresh is how often the pool's servers reload the store.
	RevocationRefresh time.Duration
	// Providers are the pool's outside identity providers, which `users
	// link` checks a link against; nil when the opener does not say, and
	// any provider name is then taken.
	Providers []IdentityProvider
	// Close closes the pool's store.
	Close func() error
}

// Opener opens the pool called name in a Caddy config file (a Caddyfile
// or JSON, adapted by adapter as `caddy run` would), as a server loading
// that config opens it.
type Opener func(ctx context.Context, configFile, adapter, name string) (*Pool, error)

// opener is what SetOpener gave.
var opener Opener

// SetOpener gives the commands their way to open pools; the module calls
// it when it is loaded.
func SetOpener(o Opener) { opener = o }

func open(ctx context.Context, configFile, adapter, name string) (*Pool, error) {
	if opener == nil {
		return nil, errors.New("this binary has no way to open pools: build it with github.com/gatehouse-auth/gatehouse/module")
	}
	return opener(ctx, configFile, adapter, name)
}
