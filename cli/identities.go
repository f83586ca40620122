package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// IdentityProvider is one of a pool's outside identity providers (an `idp`
// block), as `users link` checks a link against it.
type IdentityProvider struct {
	// Name is the provider's name in the pool; Type Cognito's provider
	// type (Google, OIDC, SAML, ...); Issuer its issuer or entity ID.
	Name, Type, Issuer string
}

func usersLinkCmd() *cobra.Command {
	var (
		pf                            poolFlags
		email, provider, subject, typ string
		issuer                        string
	)
	cmd := poolCommand("link --email <email> --provider <name> --subject <id> [--type <type>] [--issuer <issuer>]",
		"Links a user to their account at an outside provider", `
Links a user to their account at one of the pool's identity providers, as
Cognito's AdminLinkProviderForUser does: from then on, signing in at that
provider as --subject (the provider's stable id of the user: an OpenID
provider's sub, a SAML NameID, GitHub's numeric id; never an email address)
signs in as this user. A subject belongs to one user, and a user has one
identity per provider.

--provider must name one of the pool's idp blocks; its type and issuer come
from there (--type and --issuer give them for a provider the config does not
describe).
`, &pf)
	emailFlag(cmd, &email)
	fs := cmd.Flags()
	fs.StringVar(&provider, "provider", "", "The provider's name in the pool (required)")
	fs.StringVar(&subject, "subject", "", "The user's id at the provider (required)")
	fs.StringVar(&typ, "type", "", "The provider's type (Google, OIDC, SAML, ...), where the config does not say")
	fs.StringVar(&issuer, "issuer", "", "The provider's issuer or entity ID, where the config does not say")
	_ = cmd.MarkFlagRequired("provider")
	_ = cmd.MarkFlagRequired("subject")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := nonEmpty("--provider", provider); err != nil {
			return err
		}
		if err := nonEmpty("--subject", subject); err != nil {
			return err
		}
		e, err := normalizeEmail(email)
		if err != nil {
			return err
		}
		return pf.withOpenPool(cmd, func(ctx context.Context, op *Pool) error {
			id := pool.ExternalIdentity{Provider: provider, Subject: subject, ProviderType: typ, Issuer: issuer}
			if op.Providers != nil {
				i := slices.IndexFunc(op.Providers, func(p IdentityProvider) bool { return p.Name == provider })
				if i < 0 {
					return fmt.Errorf("--provider %q: pool %s has no such identity provider (it has: %s)", provider, pf.pool, providerNames(op.Providers))
				}
				if id.ProviderType == "" {
					id.ProviderType = op.Providers[i].Type
				}
				if id.Issuer == "" {
					id.Issuer = op.Providers[i].Issuer
				}
			}
			p := op.Pool
			u, err := findUser(ctx, p, e)
			if err != nil {
				return err
			}
			if err := p.LinkIdentity(ctx, u, id); err != nil {
				return identityError(u.Email, provider, err)
			}
			if u, err = p.User(ctx, u.ID); err != nil {
				return userError(e, err)
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, "linked %s to %s subject %s", u.Email, provider, subject)
		})
	}
	return cmd
}

func usersUnlinkCmd() *cobra.Command {
	var (
		pf              poolFlags
		email, provider string
	)
	cmd := poolCommand("unlink --email <email> --provider <name>", "Unlinks a user from an outside provider", `
Removes a user's link to their account at a provider: signing in there no
longer signs in as this user. The link that is a user's only way in (no
password, no passkey, no other provider) is not removed.
`, &pf)
	emailFlag(cmd, &email)
	cmd.Flags().StringVar(&provider, "provider", "", "The provider's name in the pool (required)")
	_ = cmd.MarkFlagRequired("provider")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := nonEmpty("--provider", provider); err != nil {
			return err
		}
		return pf.withUser(cmd, email, func(ctx context.Context, p *pool.Pool, u *store.User) error {
			if err := p.UnlinkIdentity(ctx, u, provider); err != nil {
				return identityError(u.Email, provider, err)
			}
			u, err := p.User(ctx, u.ID)
			if err != nil {
				return userError(email, err)
			}
			return printDone(cmd.OutOrStdout(), pf.json, u, "unlinked %s from %s", u.Email, provider)
		})
	}
	return cmd
}

func nonEmpty(flag, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s: must not be empty", flag)
	}
	return nil
}

func providerNames(ps []IdentityProvider) string {
	if len(ps) == 0 {
		return "none"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// identityError words the pool's linking errors for the CLI.
func identityError(email, provider string, err error) error {
	switch {
	case errors.Is(err, pool.ErrIdentityLinked):
		return fmt.Errorf("cannot link %s: this %s subject is linked to a user already, or %s has another %s identity", email, provider, email, provider)
	case errors.Is(err, pool.ErrIdentityNotLinked):
		return fmt.Errorf("%s has no %s identity", email, provider)
	case errors.Is(err, pool.ErrLastSignInMethod):
		return fmt.Errorf("cannot unlink %s from %s: it is their only way to sign in (set a password first)", email, provider)
	}
	return userError(email, err)
}

// identityOutput is one of a user's identities as the CLI shows it.
type identityOutput struct {
	Provider     string `json:"provider"`
	ProviderType string `json:"provider_type"`
	Issuer       string `json:"issuer"`
	Subject      string `json:"subject"`
	Primary      bool   `json:"primary"`
	CreatedAt    string `json:"created_at"`
}

func newIdentitiesOutput(ids []store.Identity) []identityOutput {
	out := make([]identityOutput, len(ids))
	for i, id := range ids {
		out[i] = identityOutput{Provider: id.Provider, ProviderType: id.ProviderType, Issuer: id.Issuer,
			Subject: id.Subject, Primary: id.Primary, CreatedAt: formatTime(id.CreatedAt)}
	}
	return out
}

// identitiesText is the identities in one line: "google/123 (primary), corp/ada".
func identitiesText(ids []store.Identity) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.Provider + "/" + id.Subject
		if id.Primary {
			parts[i] += " (primary)"
		}
	}
	return orDash(strings.Join(parts, ", "))
}
