package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "access-keys",
		Usage: "create|list|revoke [--config <path>] [--pool <name>] ...",
		Short: "Manages the access keys that sign a pool's Cognito admin calls",
		Long: `
Creates, lists and revokes the access keys of one pool (found from --config
and --pool as for 'gatehouse users'). An access key is what an AWS SDK or the
AWS CLI signs the pool's administrative Cognito API calls with (AdminGetUser,
ListUsers, ...; AWS Signature Version 4, service cognito-idp): an
AccessKeyId and a SecretAccessKey, as an IAM user's.

  gatehouse access-keys create --description "deploy scripts"
  gatehouse access-keys create --read-only
  gatehouse access-keys list
  gatehouse access-keys revoke GHAK...

The secret is printed once by 'create'. Gatehouse keeps it sealed in the
store (it must check signatures made with it, so it keeps the secret, not a
hash). A revoked key is refused by every server at once.
`,
		CobraFunc: func(cmd *cobra.Command) {
			parentCommand(cmd, accessKeysCreateCmd(), accessKeysListCmd(), accessKeysRevokeCmd())
		},
	})
}

// accessKeyOutput is what the CLI shows of an access key; the secret only
// when it was just made.
type accessKeyOutput struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key,omitempty"`
	ReadOnly        bool      `json:"read_only"`
	Description     string    `json:"description"`
	CreatedAt       time.Time `json:"created_at"`
}

func newAccessKeyOutput(k pool.AccessKey) accessKeyOutput {
	return accessKeyOutput{AccessKeyID: k.ID, ReadOnly: k.ReadOnly, Description: k.Description, CreatedAt: k.Created.UTC()}
}

func accessKeysCreateCmd() *cobra.Command {
	var (
		pf          poolFlags
		readOnly    bool
		description string
	)
	cmd := poolCommand("create [--read-only] [--description <text>]", "Makes an access key and prints its secret once", `
Makes an access key of the pool and prints its AccessKeyId and
SecretAccessKey. The secret is not shown again: put it where the SDK or the
AWS CLI reads credentials from (~/.aws/credentials, or the environment
variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).

--read-only makes a key that may call only the actions that change nothing
(AdminGetUser, ListUsers, DescribeUserPool, ...).
`, &pf)
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "The key may call only actions that change nothing")
	cmd.Flags().StringVar(&description, "description", "", "What the key is for, shown by 'list'")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			k, err := p.CreateAccessKey(ctx, description, readOnly)
			if err != nil {
				return err
			}
			out := newAccessKeyOutput(k.AccessKey)
			out.SecretAccessKey = k.SecretAccessKey
			if pf.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "AccessKeyId:\t%s\n", k.ID)
			fmt.Fprintf(tw, "SecretAccessKey:\t%s\n", k.SecretAccessKey)
			fmt.Fprintf(tw, "ReadOnly:\t%v\n", k.ReadOnly)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "The secret access key is shown only now: keep it where your SDK or the AWS CLI reads credentials.")
			return nil
		})
	}
	return cmd
}

func accessKeysListCmd() *cobra.Command {
	var pf poolFlags
	cmd := poolCommand("list", "Lists the pool's access keys", `
Lists the pool's access keys, newest first: id, when made, whether
read-only, and the description. Secrets are never shown.
`, &pf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			keys, err := p.AccessKeys(ctx)
			if err != nil {
				return err
			}
			out := make([]accessKeyOutput, 0, len(keys))
			for _, k := range keys {
				out = append(out, newAccessKeyOutput(k))
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY ID\tCREATED\tREAD-ONLY\tDESCRIPTION")
			for _, k := range out {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", k.AccessKeyID, formatTime(k.CreatedAt), k.ReadOnly, orDash(k.Description))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func accessKeysRevokeCmd() *cobra.Command {
	var pf poolFlags
	cmd := poolCommand("revoke <access-key-id>", "Revokes an access key", `
Revokes an access key: every server refuses calls signed with it from now
on. It cannot be undone; make a new key instead.
`, &pf)
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			if err := p.RevokeAccessKey(ctx, id); err != nil {
				if errors.Is(err, pool.ErrAccessKeyNotFound) {
					return fmt.Errorf("no access key %q (see 'gatehouse access-keys list')", id)
				}
				return err
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"access_key_id": id, "state": "revoked"})
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "revoked access key %s\n", id)
			return err
		})
	}
	return cmd
}
