package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// groupOutput is what the CLI shows of a group.
type groupOutput struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Precedence  *int      `json:"precedence"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// groupShowOutput is a group with its members' addresses.
type groupShowOutput struct {
	groupOutput
	Members []string `json:"members"`
}

func newGroupOutput(g *store.Group) groupOutput {
	return groupOutput{Name: g.Name, Description: g.Description, Precedence: g.Precedence,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC()}
}

func precedenceText(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

// groupError names the group in a pool error.
func groupError(name string, err error) error {
	return fmt.Errorf("group %q: %w", name, err)
}

// groupFieldFlags are --description and --precedence; only the flags given
// change anything.
type groupFieldFlags struct {
	description string
	precedence  int
}

func (f *groupFieldFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.description, "description", "", "The group's description (at most 2048 characters)")
	cmd.Flags().IntVar(&f.precedence, "precedence", 0, "The group's precedence, 0 or more: lower comes first in a user's groups")
}

func (f *groupFieldFlags) update(cmd *cobra.Command) store.GroupUpdate {
	var up store.GroupUpdate
	if cmd.Flags().Changed("description") {
		up.Description = &f.description
	}
	if cmd.Flags().Changed("precedence") {
		up.Precedence = &f.precedence
	}
	return up
}

func groupFlag(cmd *cobra.Command, group *string) {
	cmd.Flags().StringVar(group, "group", "", "The group's name (required)")
	_ = cmd.MarkFlagRequired("group")
}

func printGroup(w io.Writer, asJSON bool, out groupShowOutput) error {
	if asJSON {
		return printJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("name", out.Name)
	row("description", orDash(out.Description))
	row("precedence", precedenceText(out.Precedence))
	row("created_at", formatTime(out.CreatedAt))
	row("updated_at", formatTime(out.UpdatedAt))
	row("members", len(out.Members))
	for _, m := range out.Members {
		row("  member", m)
	}
	return tw.Flush()
}

func groupsCreateCmd() *cobra.Command {
	var (
		pf     poolFlags
		group  string
		fields groupFieldFlags
	)
	cmd := poolCommand("create --group <group> [--description <text>] [--precedence <n>]", "Creates a group", `
Creates a group with no members. Names are 1 to 128 letters, digits, '.', '_'
or '-'; a name taken (also by a group made by adding a user) is refused.
`, &pf)
	groupFlag(cmd, &group)
	fields.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		up := fields.update(cmd)
		ng := pool.NewGroup{Name: group, Precedence: up.Precedence}
		if up.Description != nil {
			ng.Description = *up.Description
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			g, err := p.CreateGroup(ctx, ng)
			if err != nil {
				return groupError(group, err)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), newGroupOutput(g))
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "created group %s\n", g.Name)
			return err
		})
	}
	return cmd
}

func groupsUpdateCmd() *cobra.Command {
	var (
		pf     poolFlags
		group  string
		fields groupFieldFlags
	)
	cmd := poolCommand("update --group <group> [--description <text>] [--precedence <n>]", "Changes a group's description or precedence", `
Changes the fields given and keeps the others. A precedence cannot be removed
once set, as in Cognito.
`, &pf)
	groupFlag(cmd, &group)
	fields.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		up := fields.update(cmd)
		if up.Description == nil && up.Precedence == nil {
			return errors.New("nothing to change: give --description, --precedence or both")
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			g, err := p.UpdateGroup(ctx, group, up)
			if err != nil {
				return groupError(group, err)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), newGroupOutput(g))
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "updated group %s\n", g.Name)
			return err
		})
	}
	return cmd
}

func groupsDeleteCmd() *cobra.Command {
	var (
		pf    poolFlags
		group string
	)
	cmd := poolCommand("delete --group <group>", "Deletes a group and its memberships", `
Deletes a group; its members leave it (their accounts stay). Sessions lose the
group within the handler's claims_refresh.
`, &pf)
	groupFlag(cmd, &group)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			g, err := p.Group(ctx, group)
			if err != nil {
				return groupError(group, err)
			}
			if err := p.DeleteGroup(ctx, group); err != nil {
				return groupError(group, err)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), struct {
					Deleted bool `json:"deleted"`
					groupOutput
				}{true, newGroupOutput(g)})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", group)
			return err
		})
	}
	return cmd
}

func groupsListCmd() *cobra.Command {
	var pf poolFlags
	cmd := poolCommand("list", "Lists groups by name", `
Lists every group of the pool by name, with its precedence and description.
`, &pf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			out := []groupOutput{}
			for token := ""; ; {
				gs, next, err := p.ListGroups(ctx, pool.MaxPageSize, token)
				if err != nil {
					return err
				}
				for i := range gs {
					out = append(out, newGroupOutput(&gs[i]))
				}
				if next == "" {
					break
				}
				token = next
			}
			w := cmd.OutOrStdout()
			if pf.json {
				return printJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPRECEDENCE\tCREATED\tDESCRIPTION")
			for _, g := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, precedenceText(g.Precedence), formatTime(g.CreatedAt),
					orDash(oneLine(g.Description)))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func groupsShowCmd() *cobra.Command {
	var (
		pf    poolFlags
		group string
	)
	cmd := poolCommand("show --group <group>", "Shows a group and its members", `
Shows a group's fields and its members' addresses, by address.
`, &pf)
	groupFlag(cmd, &group)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			g, err := p.Group(ctx, group)
			if err != nil {
				return groupError(group, err)
			}
			out := groupShowOutput{groupOutput: newGroupOutput(g), Members: []string{}}
			for token := ""; ; {
				us, next, err := p.ListUsersInGroup(ctx, group, pool.MaxPageSize, token)
				if err != nil {
					return groupError(group, err)
				}
				for _, u := range us {
					out.Members = append(out.Members, u.Email)
				}
				if next == "" {
					break
				}
				token = next
			}
			return printGroup(cmd.OutOrStdout(), pf.json, out)
		})
	}
	return cmd
}

// oneLine keeps a description to its first line in a table.
func oneLine(s string) string {
	for i, r := range s {
		if r == '\n' || r == '\r' {
			return s[:i] + " ..."
		}
	}
	return s
}
