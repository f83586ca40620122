package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// poolFlags are the flags every users/groups subcommand takes to find its
// pool: the same config file and adapter `gatehouse run` would load, so the
// CLI acts on exactly the store the server uses.
type poolFlags struct {
	config  string
	adapter string
	pool    string
	json    bool
}

func (f *poolFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.config, "config", "c", "Caddyfile", "Caddy config (Caddyfile or JSON) that defines the pool")
	fs.StringVarP(&f.adapter, "adapter", "a", "", "Config adapter, as for 'gatehouse run' (default: by file name)")
	fs.StringVar(&f.pool, "pool", "default", "Name of the pool in the gatehouse global options")
	fs.BoolVar(&f.json, "json", false, "Print JSON instead of text")
}

// withPool loads the pool's configuration, opens its store as the server
// does, runs fn on the pool and closes the store again.
func (f *poolFlags) withPool(cmd *cobra.Command, fn func(ctx context.Context, p *pool.Pool) error) error {
	return f.withOpenPool(cmd, func(ctx context.Context, p *Pool) error { return fn(ctx, p.Pool) })
}

// withOpenPool is withPool for commands that need the pool's keys and
// store, not only its users.
func (f *poolFlags) withOpenPool(cmd *cobra.Command, fn func(ctx context.Context, p *Pool) error) (err error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := open(ctx, f.config, f.adapter, f.pool)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := p.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the store of pool %s: %w", f.pool, cerr)
		}
	}()
	return fn(ctx, p)
}

// poolCommand is a leaf subcommand: flags only, no positional arguments,
// and the pool flags added.
func poolCommand(use, short, long string, pf *poolFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  strings.TrimSpace(long),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: %s takes flags only", args[0], cmd.CommandPath())
			}
			return nil
		},
	}
	pf.register(cmd.Flags())
	return cmd
}

// parentCommand fills in a command that only groups subcommands: it shows
// help when run bare and refuses unknown subcommands (cobra would otherwise
// print help and exit 0 for a typo).
func parentCommand(cmd *cobra.Command, subs ...*cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subs...)
}

// passwordFlags are --password and --password-stdin, for the commands that
// set a password.
type passwordFlags struct {
	value string
	stdin bool
}

func (f *passwordFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.value, "password", "", "The password (other local users can see it in the process list; prefer --password-stdin)")
	fs.BoolVar(&f.stdin, "password-stdin", false, "Read the password from the first line of stdin")
}

// read returns the password from exactly one of the two flags.
func (f *passwordFlags) read(cmd *cobra.Command) (string, error) {
	given := cmd.Flags().Changed("password")
	switch {
	case given && f.stdin:
		return "", errors.New("give the password with --password or --password-stdin, not both")
	case given:
		return f.value, nil
	case f.stdin:
		return readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
	default:
		return "", errors.New("a password is required: --password <password> or --password-stdin")
	}
}

// readPassword reads one line from in, without its line ending. On a
// terminal it prompts on prompt, does not echo, and asks twice.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read := func(label string) (string, error) {
			fmt.Fprint(prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		pw, err := read("Password: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		again, err := read("Repeat password: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if pw != again {
			return "", errors.New("the passwords do not match")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: stdin is empty")
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// userOutput is what the CLI shows of a user: everything but the password
// hash, which never leaves the store.
type userOutput struct {
	// ID is the user's key in the store; Sub repeats it under the name
	// tokens and the gateway's headers give it.
	ID            string            `json:"id"`
	Sub           string            `json:"sub"`
	Email         string            `json:"email"`
	EmailVerified bool              `json:"email_verified"`
	Name          string            `json:"name"`
	Status        string            `json:"status"`
	Enabled       bool              `json:"enabled"`
	Groups        []string          `json:"groups"`
	Attributes    map[string]string `json:"attributes"`
	// Identities are the user's links to outside providers.
	Identities []identityOutput `json:"identities"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
}

func newUserOutput(u *store.User) userOutput {
	groups := u.Groups
	if groups == nil {
		groups = []string{}
	}
	attrs := u.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return userOutput{
		ID:            u.ID,
		Sub:           u.ID,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Status:        pool.DisplayStatus(u),
		Enabled:       u.Enabled,
		Groups:        groups,
		Attributes:    attrs,
		Identities:    newIdentitiesOutput(u.Identities),
		CreatedAt:     u.CreatedAt.UTC(),
		UpdatedAt:     u.UpdatedAt.UTC(),
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printUser writes one user as `key: value` lines, or as JSON.
func printUser(w io.Writer, asJSON bool, u *store.User) error {
	if asJSON {
		return printJSON(w, newUserOutput(u))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("email", u.Email)
	row("sub", u.ID)
	row("email_verified", u.EmailVerified)
	row("name", orDash(u.Name))
	row("status", pool.DisplayStatus(u))
	row("enabled", u.Enabled)
	row("groups", orDash(strings.Join(u.Groups, ", ")))
	row("identities", identitiesText(u.Identities))
	row("created_at", formatTime(u.CreatedAt))
	row("updated_at", formatTime(u.UpdatedAt))
	names := make([]string, 0, len(u.Attributes))
	for k := range u.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		row(k, u.Attributes[k])
	}
	return tw.Flush()
}

// printDone writes a one-line confirmation, or the user as it is now.
func printDone(w io.Writer, asJSON bool, u *store.User, format string, args ...any) error {
	if asJSON {
		return printJSON(w, newUserOutput(u))
	}
	_, err := fmt.Fprintf(w, format+"\n", args...)
	return err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
