package cli

import (
	"context"
	"fmt"
	"slices"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "groups",
		Usage: "create|update|delete|list|show|add-user|remove-user --group <group> ... [--config <path>] [--pool <name>] ...",
		Short: "Manages groups and their members in a Gatehouse pool",
		Long: `
Creates, changes, lists and deletes groups, and adds users to groups and
removes them, in the store the server uses (found from --config and --pool as
for 'gatehouse users'). A group has, as in Cognito, a description and a
precedence: a user's groups are listed in tokens (cognito:groups) and
headers lowest precedence first, groups without one last. Adding a user to a
group that does not exist creates it; a group lives until it is deleted,
members or not. 'require group <name>' in a site's gatehouse block checks
membership. Sessions pick up a change within the handler's claims_refresh.

  gatehouse groups create --group admins --description "Operators" --precedence 1
  gatehouse groups add-user --group admins --email ada@example.com
  gatehouse groups show --group admins
`,
		CobraFunc: func(cmd *cobra.Command) {
			parentCommand(cmd, groupsCreateCmd(), groupsUpdateCmd(), groupsDeleteCmd(), groupsListCmd(),
				groupsShowCmd(), groupsMemberCmd(true), groupsMemberCmd(false))
		},
	})
}

// groupsMemberCmd is `groups add-user` or `groups remove-user`.
func groupsMemberCmd(add bool) *cobra.Command {
	var (
		pf    poolFlags
		group string
		email string
	)
	verb, short, long := "remove-user", "Removes a user from a group", `
Removes a user from a group; removing a non-member changes nothing.
`
	if add {
		verb, short, long = "add-user", "Adds a user to a group", `
Adds a user to a group, creating the group by use; adding a member changes
nothing.
`
	}
	cmd := poolCommand(verb+" --group <group> --email <email>", short, long, &pf)
	cmd.Flags().StringVar(&group, "group", "", "The group's name (required)")
	_ = cmd.MarkFlagRequired("group")
	emailFlag(cmd, &email)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			e := u.Email
			member := slices.Contains(u.Groups, group)
			var err error
			if add {
				err = p.AddToGroup(ctx, u.ID, group)
			} else {
				err = p.RemoveFromGroup(ctx, u.ID, group)
			}
			if err != nil {
				return fmt.Errorf("group %q: %w", group, userError(e, err))
			}
			if u, err = p.User(ctx, u.ID); err != nil {
				return userError(e, err)
			}
			var msg string
			switch {
			case add && member:
				msg = "%s is already in group %s"
			case add:
				msg = "added %s to group %s"
			case member:
				msg = "removed %s from group %s"
			default:
				msg = "%s was not in group %s"
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, msg, u.Email, group)
		})
	}
	return cmd
}
