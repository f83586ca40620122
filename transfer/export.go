package transfer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// ExportOptions say what an export carries.
type ExportOptions struct {
	// WithSecrets adds password hashes and TOTP secrets, the latter sealed
	// under Passphrase (required then).
	WithSecrets bool
	Passphrase  []byte
}

// Stats counts what an export wrote.
type Stats struct{ Users, Groups, Clients int }

const exportPage = 1000

// Export writes every group, stored client and user of p to w, in the
// JSON Lines format, reading the store a page at a time.
func Export(ctx context.Context, p *pool.Pool, w io.Writer, opts ExportOptions) (Stats, error) {
	var stats Stats
	st := p.Store()
	bw := bufio.NewWriterSize(w, 64*1024)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	h := &Header{Format: FormatName, Version: FormatVersion, Pool: p.Name(), ExportedAt: time.Now().UTC()}
	var key *fileKey
	if opts.WithSecrets {
		sh := newSecretsHeader()
		k, err := newFileKey(opts.Passphrase, sh)
		if err != nil {
			return stats, errors.New("an export with secrets needs a passphrase: it seals the TOTP secrets")
		}
		h.Secrets, key = &sh, k
	}
	if err := enc.Encode(line{Header: h}); err != nil {
		return stats, err
	}
	for after := ""; ; {
		gs, err := st.ListGroups(ctx, store.Page{After: after, Limit: exportPage})
		if err != nil {
			return stats, err
		}
		for _, g := range gs {
			if err := enc.Encode(line{Group: &GroupRecord{Name: g.Name, Description: g.Description,
				Precedence: g.Precedence, CreatedAt: timePtr(g.CreatedAt)}}); err != nil {
				return stats, err
			}
			stats.Groups++
		}
		if len(gs) < exportPage {
			break
		}
		after = gs[len(gs)-1].Name
	}
	clients, err := st.ListClients(ctx)
	if err != nil {
		return stats, err
	}
	for _, c := range clients {
		if err := enc.Encode(line{Client: clientRecord(c)}); err != nil {
			return stats, err
		}
		stats.Clients++
	}
	for after := ""; ; {
		us, err := st.ListUsers(ctx, store.ListOptions{After: after, Limit: exportPage})
		if err != nil {
			return stats, err
		}
		for _, u := range us {
			r, err := userRecord(ctx, p, u, key)
			if err != nil {
				return stats, err
			}
			if err := enc.Encode(line{User: r}); err != nil {
				return stats, err
			}
			stats.Users++
		}
		if len(us) < exportPage {
			break
		}
		after = us[len(us)-1].Email
	}
	return stats, bw.Flush()
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func clientRecord(c *store.Client) *ClientRecord {
	return &ClientRecord{ID: c.ID, Name: c.Name, SecretHash: c.SecretHash, Public: c.Public,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Scopes: c.Scopes,
		GrantTypes: c.GrantTypes, IDTokenTTL: durationText(c.IDTokenTTL), AccessTokenTTL: durationText(c.AccessTokenTTL),
		RefreshTokenTTL: durationText(c.RefreshTokenTTL), RefreshTokenRotation: c.RefreshTokenRotation,
		RefreshTokenGrace: durationText(c.RefreshTokenGrace), CreatedAt: timePtr(c.CreatedAt)}
}

// userRecord is u as exported; key is nil without secrets, when neither
// the password hash nor TOTP factors go out.
func userRecord(ctx context.Context, p *pool.Pool, u *store.User, key *fileKey) (*UserRecord, error) {
	enabled := u.Enabled
	r := &UserRecord{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Status: u.Status,
		Enabled: &enabled, Groups: u.Groups, CreatedAt: timePtr(u.CreatedAt), UpdatedAt: timePtr(u.UpdatedAt)}
	if len(u.Attributes) > 0 {
		r.Attributes = u.Attributes
	}
	if key != nil {
		r.PasswordHash = u.PasswordHash
	}
	for _, id := range u.Identities {
		r.Identities = append(r.Identities, IdentityRecord{Provider: id.Provider, ProviderType: id.ProviderType,
			Issuer: id.Issuer, Subject: id.Subject, Primary: id.Primary, CreatedAt: timePtr(id.CreatedAt)})
	}
	factors, err := p.Store().MFAFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range factors {
		secret := f.Secret
		if f.Kind == store.FactorTOTP {
			if key == nil {
				continue
			}
			plain, err := p.FactorSecret(ctx, f)
			if err != nil {
				return nil, err
			}
			secret = key.seal(u.ID, f.ID, plain)
		}
		r.Factors = append(r.Factors, FactorRecord{ID: f.ID, Kind: f.Kind, Name: f.Name, Secret: secret,
			Confirmed: f.Confirmed, LastStep: f.LastStep, CreatedAt: timePtr(f.CreatedAt), LastUsedAt: timePtr(f.LastUsedAt)})
	}
	return r, nil
}
