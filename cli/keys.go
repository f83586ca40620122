package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/google/uuid"
	"github.com/gorilla/securecookie"
	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "keys",
		Usage: "list|rotate|remove [--kind cookie|signing] [--config <path>] [--pool <name>] ...",
		Short: "Lists and rotates the keys of a Gatehouse pool",
		Long: `
Lists, rotates and removes the keys a pool keeps in its store (found from
--config and --pool as for 'gatehouse users'): the cookie keys that seal
sessions, and the signing keys of X-Amzn-Oidc-Data and tokens. Running
servers pick changes up by themselves: cookie keys within their
revocation_refresh, signing keys within a minute.

  gatehouse keys list
  gatehouse keys rotate --kind cookie            # new sessions sealed with a new key in 1m
  gatehouse keys remove --kind cookie --id <id>  # sessions sealed with it end
  gatehouse keys rotate --kind signing           # besides the pool's key_rotation schedule
`,
		CobraFunc: func(cmd *cobra.Command) {
			parentCommand(cmd, keysListCmd(), keysRotateCmd(), keysRemoveCmd())
		},
	})
}

// keyOutput is what the CLI shows of a key: never its material.
type keyOutput struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// CreatedAt is, for a cookie key, when it starts sealing cookies.
	CreatedAt time.Time `json:"created_at"`
	// State is, for cookie keys: sealing (new cookies), pending (opens
	// cookies, seals from created_at) or opening (older: opens cookies
	// until removed); for signing keys: signing or previous.
	State string `json:"state"`
}

// keyKinds are the kinds `keys list` shows, in order.
var keyKinds = []string{pool.CookieKeyKind, signing.KeyKind, signing.RSAKeyKind}

func keysListCmd() *cobra.Command {
	var pf poolFlags
	cmd := poolCommand("list", "Lists the pool's keys", `
Lists the pool's cookie keys and signing keys, newest first, with their
state. Key material is never shown.
`, &pf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withOpenPool(cmd, func(ctx context.Context, p *Pool) error {
			out := []keyOutput{}
			now := time.Now()
			for _, kind := range keyKinds {
				keys, err := p.Store.Keys(ctx, kind)
				if err != nil {
					return err
				}
				out = append(out, describeKeys(kind, keys, now)...)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tID\tCREATED\tSTATE")
			for _, k := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Kind, k.ID, formatTime(k.CreatedAt), k.State)
			}
			return tw.Flush()
		})
	}
	return cmd
}

// describeKeys names each key's state; keys come newest first.
func describeKeys(kind string, keys []store.Key, now time.Time) []keyOutput {
	out := make([]keyOutput, 0, len(keys))
	sealing := false
	for i, k := range keys {
		o := keyOutput{Kind: kind, ID: k.ID, CreatedAt: k.CreatedAt.UTC()}
		switch {
		case kind != pool.CookieKeyKind && i == 0:
			o.State = "signing"
		case kind != pool.CookieKeyKind:
			o.State = "previous"
		case k.CreatedAt.After(now):
			o.State = "pending"
		case !sealing:
			o.State, sealing = "sealing", true
		default:
			o.State = "opening"
		}
		out = append(out, o)
	}
	return out
}

func keysRotateCmd() *cobra.Command {
	var (
		pf         poolFlags
		kind       string
		activateIn time.Duration
	)
	cmd := poolCommand("rotate --kind cookie|signing [--activate-in 1m]", "Adds a new key", `
Adds a new key of one kind to the pool's store.

--kind cookie adds a cookie key that running servers load within their
revocation_refresh and start sealing new sessions with --activate-in later
(default 1m): until then they only accept it, so that every instance has it
before any instance hands out a cookie sealed with it. Sessions sealed with
the older keys stay valid until those keys are removed ('keys remove').

--kind signing adds a new signing key for every algorithm the pool keeps,
as its key_rotation schedule would; servers sign with it within a minute,
and the replaced keys stay published for a day.
`, &pf)
	cmd.Flags().StringVar(&kind, "kind", "", "cookie or signing (required)")
	_ = cmd.MarkFlagRequired("kind")
	cmd.Flags().DurationVar(&activateIn, "activate-in", time.Minute, "With --kind cookie: when the new key starts sealing sessions; at least every server's revocation_refresh")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch kind {
		case "cookie", "signing":
		default:
			return fmt.Errorf("--kind %q: want cookie or signing", kind)
		}
		if activateIn < 0 {
			return fmt.Errorf("--activate-in %s: must not be negative", activateIn)
		}
		if kind == "signing" && cmd.Flags().Changed("activate-in") {
			return errors.New("--activate-in is for --kind cookie only")
		}
		return pf.withOpenPool(cmd, func(ctx context.Context, p *Pool) error {
			if kind == "signing" {
				return rotateSigning(ctx, cmd, &pf, p)
			}
			if refresh := p.RevocationRefresh; activateIn < refresh {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: --activate-in %s is shorter than this pool's revocation_refresh %s: an instance may see a cookie sealed with a key it has not loaded yet\n", activateIn, refresh)
			}
			k := store.Key{
				Kind:      pool.CookieKeyKind,
				ID:        uuid.NewString(),
				Material:  securecookie.GenerateRandomKey(middleware.CookieKeyLen),
				CreatedAt: time.Now().Add(activateIn).UTC(),
			}
			if k.Material == nil {
				return errors.New("no randomness for a new key")
			}
			if err := p.Store.AddKey(ctx, k); err != nil {
				return err
			}
			return printKeyDone(cmd, &pf, describeKeys(k.Kind, []store.Key{k}, time.Now())[0],
				"added cookie key %s; it seals new sessions from %s", k.ID, formatTime(k.CreatedAt))
		})
	}
	return cmd
}

func rotateSigning(ctx context.Context, cmd *cobra.Command, pf *poolFlags, p *Pool) error {
	// Keep rotating RS256 too if the pool has RS256 keys (a gatehouse_idp
	// site made them), as the server's own rotation would.
	if rs, err := p.Store.Keys(ctx, signing.RSAKeyKind); err != nil {
		return err
	} else if len(rs) > 0 {
		if err := p.Keys.Ensure(ctx, signing.RS256); err != nil {
			return err
		}
	}
	if err := p.Keys.Rotate(ctx); err != nil {
		return err
	}
	var out []keyOutput
	for _, alg := range p.Keys.Algs() {
		k := p.Keys.CurrentFor(alg)
		kind := signing.KeyKind
		if alg == signing.RS256 {
			kind = signing.RSAKeyKind
		}
		out = append(out, keyOutput{Kind: kind, ID: k.ID, CreatedAt: k.Created.UTC(), State: "signing"})
	}
	if pf.json {
		return printJSON(cmd.OutOrStdout(), out)
	}
	for _, k := range out {
		fmt.Fprintf(cmd.OutOrStdout(), "added %s signing key %s\n", k.Kind, k.ID)
	}
	return nil
}

func keysRemoveCmd() *cobra.Command {
	var (
		pf   poolFlags
		kind string
		id   string
	)
	cmd := poolCommand("remove --kind cookie --id <id>", "Removes a cookie key", `
Removes a cookie key from the pool's store. Running servers drop it within
their revocation_refresh, and every session sealed with it ends there: its
users sign in again. Remove a key once a newer one has been sealing for as
long as you want the older sessions to live (at most the sites'
session_timeout), or at once if it leaked. The last key cannot be removed.
Signing keys are retired by rotation, not removed.
`, &pf)
	cmd.Flags().StringVar(&kind, "kind", "", "cookie (required)")
	_ = cmd.MarkFlagRequired("kind")
	cmd.Flags().StringVar(&id, "id", "", "The key's id, as 'keys list' shows it (required)")
	_ = cmd.MarkFlagRequired("id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if kind != pool.CookieKeyKind {
			return fmt.Errorf("--kind %q: only cookie keys are removed by hand; signing keys retire by rotation", kind)
		}
		return pf.withOpenPool(cmd, func(ctx context.Context, p *Pool) error {
			keys, err := p.Store.Keys(ctx, kind)
			if err != nil {
				return err
			}
			var found *store.Key
			for i := range keys {
				if keys[i].ID == id {
					found = &keys[i]
				}
			}
			switch {
			case found == nil:
				return fmt.Errorf("no cookie key %q (see 'gatehouse keys list')", id)
			case len(keys) == 1:
				return fmt.Errorf("cookie key %s is the pool's only one: rotate first", id)
			}
			if err := p.Store.DeleteKey(ctx, kind, id); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no cookie key %q (removed meanwhile?)", id)
				}
				return err
			}
			o := describeKeys(kind, []store.Key{*found}, time.Now())[0]
			o.State = "removed"
			return printKeyDone(cmd, &pf, o, "removed cookie key %s; sessions sealed with it end within revocation_refresh", id)
		})
	}
	return cmd
}

func printKeyDone(cmd *cobra.Command, pf *poolFlags, k keyOutput, format string, args ...any) error {
	if pf.json {
		return printJSON(cmd.OutOrStdout(), k)
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), format+"\n", args...)
	return err
}
