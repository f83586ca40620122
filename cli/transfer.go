package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/transfer"
)

// passphraseFromFile reads an export's passphrase: the file's first line.
func passphraseFromFile(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--passphrase-file: %w", err)
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	first = bytes.TrimRight(first, "\r")
	if len(first) < 12 {
		return nil, errors.New("--passphrase-file: the passphrase must be at least 12 bytes")
	}
	return first, nil
}

// openInput is a file, or stdin for "-".
func openInput(cmd *cobra.Command, path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	return os.Open(path)
}

func usersImportCmd() *cobra.Command {
	var (
		pf             poolFlags
		file, format   string
		passphraseFile string
		batch          int
		fbSigner       string
		fbSeparator    string
		fbRounds       int
		fbMemCost      int
	)
	cmd := poolCommand("import --file <path> [--format jsonl|cognito-csv] [--passphrase-file <path>] [--batch <n>] [--firebase-signer-key <b64> ...]",
		"Imports users from Gatehouse's JSON Lines or Cognito's user-import CSV", `
Imports users, groups and app clients into the pool from --file ("-" for
stdin). The whole file is read and checked first: a bad line is named and
nothing is written. Users are then written in transactions of --batch users
(500 by default), so the store's write lock is never held for long. A user
whose id is in the pool already is skipped, as are groups and clients that
exist: running a file again changes nothing.

--format jsonl (the default) reads the format of 'gatehouse users export';
users may carry password hashes of other systems (bcrypt, argon2, scrypt,
Firebase scrypt, PBKDF2 of Django and Keycloak), checked on import and
replaced by argon2id at each user's first sign-in. Files with TOTP secrets
need the export's --passphrase-file. Users with firebase_scrypt need the
Firebase project's --firebase-signer-key, --firebase-salt-separator,
--firebase-rounds and --firebase-mem-cost.

--format cognito-csv reads the CSV of Cognito's user import (the header of
GetCSVHeader): every user arrives RESET_REQUIRED without a password, as in
Cognito, and sets one by a code mailed to their address.
`, &pf)
	fs := cmd.Flags()
	fs.StringVar(&file, "file", "", `The file to import ("-" for stdin; required)`)
	_ = cmd.MarkFlagRequired("file")
	fs.StringVar(&format, "format", "jsonl", "jsonl or cognito-csv")
	fs.StringVar(&passphraseFile, "passphrase-file", "", "A file whose first line is the export's passphrase (for TOTP secrets)")
	fs.IntVar(&batch, "batch", transfer.DefaultBatch, "Users per transaction")
	fs.StringVar(&fbSigner, "firebase-signer-key", "", "Firebase: the project's base64 signer key")
	fs.StringVar(&fbSeparator, "firebase-salt-separator", "", "Firebase: the project's base64 salt separator")
	fs.IntVar(&fbRounds, "firebase-rounds", 8, "Firebase: the project's rounds")
	fs.IntVar(&fbMemCost, "firebase-mem-cost", 14, "Firebase: the project's memory cost")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		opts := transfer.ReadOptions{}
		var err error
		if opts.Passphrase, err = passphraseFromFile(passphraseFile); err != nil {
			return err
		}
		if fbSigner != "" {
			signer, err1 := base64.StdEncoding.DecodeString(fbSigner)
			sep, err2 := base64.StdEncoding.DecodeString(fbSeparator)
			if err1 != nil || err2 != nil || len(signer) == 0 {
				return errors.New("--firebase-signer-key and --firebase-salt-separator must be base64, as Firebase gives them")
			}
			opts.Firebase = &pool.FirebaseScryptParams{SignerKey: signer, SaltSeparator: sep, Rounds: fbRounds, MemCost: fbMemCost}
		}
		in, err := openInput(cmd, file)
		if err != nil {
			return err
		}
		defer in.Close()
		var plan *transfer.Plan
		switch format {
		case "jsonl":
			plan, err = transfer.ReadJSONL(in, opts)
		case "cognito-csv":
			plan, err = transfer.ReadCognitoCSV(in)
		default:
			return fmt.Errorf("--format %q: jsonl or cognito-csv", format)
		}
		if err != nil {
			return fmt.Errorf("%s: %w (nothing was imported)", file, err)
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			res, err := transfer.Import(ctx, p, plan, transfer.ImportOptions{Batch: batch})
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was imported)", file, err)
			}
			if pf.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "users: %d imported, %d already there\ngroups: %d imported, %d already there\nclients: %d imported, %d already there\n",
				res.UsersCreated, res.UsersSkipped, res.GroupsCreated, res.GroupsSkipped, res.ClientsCreated, res.ClientsSkipped)
			return nil
		})
	}
	return cmd
}

func usersExportCmd() *cobra.Command {
	var (
		pf             poolFlags
		file           string
		withSecrets    bool
		passphraseFile string
	)
	cmd := poolCommand("export [--file <path>] [--with-secrets --passphrase-file <path>]",
		"Exports the pool's users, groups and clients as JSON Lines", `
Writes every group, stored app client and user of the pool, with attributes,
status, groups, federation links and passkeys, to --file (stdout by default),
in the JSON Lines format 'gatehouse users import' reads.

--with-secrets adds the password hashes and TOTP secrets, so that users keep
signing in as before after a move to another store or instance. TOTP secrets
are sealed under a key of the passphrase in --passphrase-file (give the same
to the import); password hashes are not encrypted: keep such a file as you
keep the database. Without --with-secrets, users come back RESET_REQUIRED.
`, &pf)
	fs := cmd.Flags()
	fs.StringVar(&file, "file", "-", `Where to write ("-" for stdout)`)
	fs.BoolVar(&withSecrets, "with-secrets", false, "Include password hashes and TOTP secrets")
	fs.StringVar(&passphraseFile, "passphrase-file", "", "A file whose first line seals the TOTP secrets (required with --with-secrets)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pass, err := passphraseFromFile(passphraseFile)
		if err != nil {
			return err
		}
		if withSecrets && pass == nil {
			return errors.New("--with-secrets needs --passphrase-file: it seals the TOTP secrets")
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) (err error) {
			out := cmd.OutOrStdout()
			if file != "-" {
				f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				defer func() {
					if cerr := f.Close(); cerr != nil && err == nil {
						err = cerr
					}
					if err != nil {
						os.Remove(file)
					}
				}()
				out = f
			}
			stats, err := transfer.Export(ctx, p, out, transfer.ExportOptions{WithSecrets: withSecrets, Passphrase: pass})
			if err != nil {
				return err
			}
			if file != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d users, %d groups, %d clients to %s\n", stats.Users, stats.Groups, stats.Clients, file)
			}
			return nil
		})
	}
	return cmd
}
