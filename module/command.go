package module

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/cli"
)

// The CLI's commands (users, groups, clients, keys, audit) are registered
// by package cli, imported here so that every Caddy built with this module
// has them; they open pools through openForCLI, as the server does.
func init() {
	cli.SetOpener(openForCLI)
}

// openForCLI opens the pool called name in configFile for a command.
func openForCLI(ctx context.Context, configFile, adapter, name string) (*cli.Pool, error) {
	cfg, err := LoadPoolConfig(configFile, adapter, name)
	if err != nil {
		return nil, err
	}
	p, err := OpenPool(ctx, name, cfg)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", name, err)
	}
	return &cli.Pool{Pool: p.Pool, Store: p.Store, Keys: p.Keys,
		RevocationRefresh: time.Duration(cfg.RevocationRefresh), Providers: cliProviders(cfg), Close: p.Close}, nil
}
