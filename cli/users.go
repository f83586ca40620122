package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "users",
		Usage: "create|list|show|delete|set-password|disable|enable|reset-mfa|link|unlink|import|export [--config <path>] [--pool <name>] ...",
		Short: "Manages the users of a Gatehouse pool",
		Long: `
Creates, lists, shows, changes and deletes the users of one pool, in the store
the server uses: the pool is read from --config (a Caddyfile or JSON, adapted
as by 'gatehouse run'; --adapter as there) and chosen by --pool. The server
may keep running; disabling a user, deleting one or setting a password signs
that user out everywhere within the server's revocation_refresh.

  gatehouse users create --email ada@example.com --password-stdin < pw.txt
  gatehouse users list --json
  gatehouse users disable --email ada@example.com

Output is text by default and JSON with --json. The exit status is non-zero,
with the reason on stderr, on any failure.
`,
		CobraFunc: func(cmd *cobra.Command) {
			parentCommand(cmd,
				usersCreateCmd(),
				usersListCmd(),
				usersShowCmd(),
				usersDeleteCmd(),
				usersSetPasswordCmd(),
				usersSetEnabledCmd(false),
				usersSetEnabledCmd(true),
				usersResetMFACmd(),
				usersLinkCmd(),
				usersUnlinkCmd(),
				usersImportCmd(),
				usersExportCmd(),
			)
		},
	})
}

// emailFlag adds the required --email flag.
func emailFlag(cmd *cobra.Command, email *string) {
	cmd.Flags().StringVar(email, "email", "", "The user's email address (required)")
	_ = cmd.MarkFlagRequired("email")
}

// normalizeEmail checks an --email value before anything is opened.
func normalizeEmail(email string) (string, error) {
	e, err := pool.NormalizeEmail(email)
	if err != nil {
		return "", fmt.Errorf("%w: %q", err, email)
	}
	return e, nil
}

func usersCreateCmd() *cobra.Command {
	var (
		pf         poolFlags
		pw         passwordFlags
		email      string
		name       string
		groups     []string
		attrs      []string
		unverified bool
		temporary  string
		invite     bool
	)
	cmd := poolCommand(
		"create --email <email> (--password <password> | --password-stdin | --temporary-password <password> | --invite) [--name <name>] [--group <group>]... [--attribute <name>=<value>]... [--unverified]",
		"Creates a user",
		`
Creates a user. With --password or --password-stdin, the password is theirs:
it must meet the pool's password policy, and the user is CONFIRMED with a
verified email, ready to sign in, unless --unverified makes them UNCONFIRMED
until they confirm their address.

With --temporary-password, or --invite, the user is FORCE_CHANGE_PASSWORD: at
their first sign-in they must choose a password of their own. The temporary
password works for the pool's temporary_password_ttl (7 days by default).
--invite emails it to them (the pool needs mail); without --temporary-password
it is generated. If the email cannot be sent, no user is created.

--group adds the user to groups (repeat it, or separate names with commas);
--attribute sets a standard or custom attribute (repeatable).
`, &pf)
	fs := cmd.Flags()
	emailFlag(cmd, &email)
	pw.register(fs)
	fs.StringVar(&name, "name", "", "The user's full name")
	fs.StringSliceVar(&groups, "group", nil, "A group to add the user to; repeatable")
	fs.StringArrayVar(&attrs, "attribute", nil, "An attribute as name=value, such as custom:tenant=acme; repeatable")
	fs.BoolVar(&unverified, "unverified", false, "Create the user with the email not verified (UNCONFIRMED with a password of their own)")
	fs.StringVar(&temporary, "temporary-password", "", "A temporary password the user must replace at first sign-in")
	fs.BoolVar(&invite, "invite", false, "Email the user a temporary password (generated unless --temporary-password is given)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		e, err := normalizeEmail(email)
		if err != nil {
			return err
		}
		attributes, err := parseAttributes(attrs)
		if err != nil {
			return err
		}
		isTemporary := cmd.Flags().Changed("temporary-password") || invite
		permanent := cmd.Flags().Changed("password") || pw.stdin
		if isTemporary && permanent {
			return errors.New("give either a password of the user's own (--password, --password-stdin) or a temporary one (--temporary-password, --invite), not both")
		}
		if cmd.Flags().Changed("temporary-password") && temporary == "" {
			return errors.New("--temporary-password: empty; leave it out with --invite to generate one")
		}
		var password string
		if !isTemporary {
			if password, err = pw.read(cmd); err != nil {
				return fmt.Errorf("%w (or --temporary-password <password>, or --invite)", err)
			}
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			var (
				u   *store.User
				err error
			)
			if isTemporary {
				u, _, err = p.InviteUser(ctx, pool.Invitation{Email: e, Name: name, EmailVerified: !unverified,
					Attributes: attributes, TemporaryPassword: temporary, Send: invite})
				if errors.Is(err, pool.ErrMailUnavailable) {
					return fmt.Errorf("--invite: pool %s has no mail configured (add `mail smtp://...` or `mail outbox <folder>` to it)", pf.pool)
				}
				if errors.Is(err, pool.ErrMailNotSent) && u != nil {
					if derr := p.DeleteUser(ctx, u.ID); derr != nil {
						return fmt.Errorf("%w, and removing the user created for it failed: %v", err, derr)
					}
					return fmt.Errorf("%w; the user was not created, try again", err)
				}
			} else {
				nu := pool.NewUser{Email: e, Password: password, Name: name, EmailVerified: true,
					Status: store.StatusConfirmed, Attributes: attributes}
				if unverified {
					nu.EmailVerified, nu.Status = false, store.StatusUnconfirmed
				}
				u, err = p.CreateUser(ctx, nu)
			}
			if err != nil {
				return userError(e, err)
			}
			if err := addGroups(ctx, p, u.ID, groups); err != nil {
				// All or nothing: a rerun of the same command must not
				// then fail because the email is taken.
				if derr := p.DeleteUser(ctx, u.ID); derr != nil {
					return fmt.Errorf("%w (and removing the half-created user failed: %v)", err, derr)
				}
				return err
			}
			if u, err = p.User(ctx, u.ID); err != nil {
				return userError(e, err)
			}
			msg := fmt.Sprintf("created user %s (sub %s)", u.Email, u.ID)
			if len(u.Groups) > 0 {
				msg += " in groups " + strings.Join(u.Groups, ", ")
			}
			if isTemporary {
				msg += fmt.Sprintf("; they must choose a new password at first sign-in (the temporary one works until %s)",
					formatTime(time.Now().Add(p.Accounts().TemporaryPasswordTTL)))
				if invite {
					msg += "; the invitation was emailed to them"
				}
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, "%s", msg)
		})
	}
	return cmd
}

// parseAttributes reads --attribute name=value flags.
func parseAttributes(flags []string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attribute %q: want name=value", f)
		}
		if k == "email" || k == "name" {
			return nil, fmt.Errorf("--attribute %s: use --%s", k, k)
		}
		attrs[k] = v
	}
	return attrs, nil
}

func addGroups(ctx context.Context, p *pool.Pool, userID string, groups []string) error {
	for _, g := range groups {
		if err := p.AddToGroup(ctx, userID, g); err != nil {
			return fmt.Errorf("group %q: %w", g, err)
		}
	}
	return nil
}

// listPage is how many users one store call returns.
const listPage = 100

func usersListCmd() *cobra.Command {
	var (
		pf    poolFlags
		limit int
	)
	cmd := poolCommand("list [--limit <n>]", "Lists users by email", `
Lists the pool's users in email order: all of them, or the first --limit.
`, &pf)
	cmd.Flags().IntVar(&limit, "limit", 0, "List at most this many users (0: all)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if limit < 0 {
			return fmt.Errorf("--limit %d: must be 0 (all) or more", limit)
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			users, err := listUsers(ctx, p, limit)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if pf.json {
				out := make([]userOutput, len(users))
				for i, u := range users {
					out[i] = newUserOutput(u)
				}
				return printJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tSTATUS\tENABLED\tGROUPS\tSUB\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", u.Email, pool.DisplayStatus(u), u.Enabled,
					orDash(strings.Join(u.Groups, ",")), u.ID, formatTime(u.CreatedAt))
			}
			return tw.Flush()
		})
	}
	return cmd
}

// listUsers pages through the pool by email until limit users (0: all).
func listUsers(ctx context.Context, p *pool.Pool, limit int) ([]*store.User, error) {
	var users []*store.User
	after := ""
	for {
		n := listPage
		if limit > 0 && limit-len(users) < n {
			n = limit - len(users)
		}
		page, err := p.ListUsers(ctx, store.ListOptions{After: after, Limit: n})
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		users = append(users, page...)
		if len(page) < n || (limit > 0 && len(users) >= limit) {
			return users, nil
		}
		after = page[len(page)-1].Email
	}
}

func usersShowCmd() *cobra.Command {
	var (
		pf    poolFlags
		email string
	)
	cmd := poolCommand("show --email <email>", "Shows one user", `
Shows a user's attributes, status, groups and identities at outside
providers (never the password hash).
`, &pf)
	emailFlag(cmd, &email)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			return printUser(cmd.OutOrStdout(), pf.json, u)
		})
	}
	return cmd
}

func usersDeleteCmd() *cobra.Command {
	var (
		pf    poolFlags
		email string
	)
	cmd := poolCommand("delete --email <email>", "Deletes a user", `
Deletes a user and their group memberships, and signs them out everywhere.
`, &pf)
	emailFlag(cmd, &email)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			e := u.Email
			if err := p.DeleteUser(ctx, u.ID); err != nil {
				return userError(e, err)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), struct {
					Deleted bool `json:"deleted"`
					userOutput
				}{true, newUserOutput(u)})
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s (sub %s)\n", u.Email, u.ID)
			return err
		})
	}
	return cmd
}

func usersSetPasswordCmd() *cobra.Command {
	var (
		pf    poolFlags
		pw    passwordFlags
		email string
	)
	cmd := poolCommand("set-password --email <email> (--password <password> | --password-stdin)", "Sets a user's password", `
Sets a new password, which must meet the pool's password policy, and signs the
user out everywhere. A user who had to change or reset their password is
CONFIRMED afterwards.
`, &pf)
	emailFlag(cmd, &email)
	pw.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		password, err := pw.read(cmd)
		if err != nil {
			return err
		}
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			e := u.Email
			if err := p.SetPassword(ctx, u.ID, password); err != nil {
				return userError(e, err)
			}
			u, err := p.User(ctx, u.ID)
			if err != nil {
				return userError(e, err)
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, "set a new password for %s; their sessions are revoked", u.Email)
		})
	}
	return cmd
}

// usersSetEnabledCmd is `users enable` or `users disable`.
func usersSetEnabledCmd(enable bool) *cobra.Command {
	var (
		pf    poolFlags
		email string
	)
	verb, short, long := "disable", "Disables a user", `
Disables a user: they can no longer sign in, and every session they hold ends.
`
	if enable {
		verb, short, long = "enable", "Enables a disabled user", `
Enables a user again; they sign in anew, since disabling ended their sessions.
`
	}
	cmd := poolCommand(verb+" --email <email>", short, long, &pf)
	emailFlag(cmd, &email)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			e := u.Email
			if err := p.SetEnabled(ctx, u.ID, enable); err != nil {
				return userError(e, err)
			}
			u, err := p.User(ctx, u.ID)
			if err != nil {
				return userError(e, err)
			}
			msg := "disabled user %s; their sessions are revoked"
			if enable {
				msg = "enabled user %s"
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, msg, u.Email)
		})
	}
	return cmd
}

func usersResetMFACmd() *cobra.Command {
	var (
		pf    poolFlags
		email string
	)
	cmd := poolCommand("reset-mfa --email <email>", "Removes a user's second factors", `
Removes every authenticator app and recovery code of a user, for a user who
lost their phone. In a pool with mfa required they set up a new one at their
next sign-in; otherwise their password alone signs them in until they do.
`, &pf)
	emailFlag(cmd, &email)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			if err := p.ResetMFA(ctx, u.ID); err != nil {
				return userError(u.Email, err)
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, "removed the second factors of %s", u.Email)
		})
	}
	return cmd
}

// findUser looks a user up by normalized email.
func findUser(ctx context.Context, p *pool.Pool, email string) (*store.User, error) {
	u, err := p.UserByEmail(ctx, email)
	return u, userError(email, err)
}

// userError words the pool's errors about one user for the CLI.
func userError(email string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pool.ErrUserNotFound):
		return fmt.Errorf("no such user: %s", email)
	case errors.Is(err, pool.ErrUserExists):
		return fmt.Errorf("%w: %s", err, email)
	}
	return err
}

// withUser checks the email, opens the pool and runs fn on the user with
// that email, so every per-user command words its errors the same way.
func (f *poolFlags) withUser(cmd *cobra.Command, email string, fn func(ctx context.Context, p *pool.Pool, u *store.User) error) error {
	e, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	return f.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
		u, err := findUser(ctx, p, e)
		if err != nil {
			return err
		}
		return fn(ctx, p, u)
	})
}
