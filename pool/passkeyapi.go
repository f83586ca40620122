package pool

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Passkeys through an API (Cognito's StartWebAuthnRegistration,
// CompleteWebAuthnRegistration, ListWebAuthnCredentials,
// DeleteWebAuthnCredential), where nothing but the access token comes back
// between the two registration calls. The ceremony's state travels in the
// WebAuthn challenge itself: the challenge is the ceremony sealed under the
// pool's sign-in session key, bound to the user and the site, and the
// authenticator's answer carries it back in its client data. Nothing is
// kept on the server; a ceremony is good for CeremonyTTL, and an answer
// registers its credential once (a second time it is ErrPasskeyExists).

func passkeyRegistrationAAD(userID string, rp RelyingParty) []byte {
	return []byte("gatehouse passkey registration\x00" + userID + "\x00" + rp.Origin)
}

// BeginSealedPasskeyRegistration starts adding a passkey for u at rp, the
// ceremony sealed into the options' challenge. The caller checked that u
// may add one (a recent sign-in).
func (p *Pool) BeginSealedPasskeyRegistration(ctx context.Context, u *store.User, rp RelyingParty) (*protocol.CredentialCreation, error) {
	opts, c, err := p.BeginPasskeyRegistration(ctx, u, rp, "")
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	aead, err := p.sessionAEAD(ctx)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	opts.Response.Challenge = aead.Seal(nonce, nonce, plain, passkeyRegistrationAAD(u.ID, rp))
	return opts, nil
}

// FinishSealedPasskeyRegistration checks the authenticator's answer to
// BeginSealedPasskeyRegistration's options and keeps the passkey; the
// user's first factor comes with recovery codes, as on the account page.
// A challenge this pool did not seal for u at rp, or one past its time,
// is ErrChallengeExpired.
func (p *Pool) FinishSealedPasskeyRegistration(ctx context.Context, u *store.User, rp RelyingParty, response []byte) ([]string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	challenge := parsed.Response.CollectedClientData.Challenge
	sealed, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(challenge, "="))
	if err != nil || len(sealed) > maxSessionLen {
		return nil, ErrChallengeExpired
	}
	aead, err := p.sessionAEAD(ctx)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrChallengeExpired
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], passkeyRegistrationAAD(u.ID, rp))
	var c WebAuthnCeremony
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return nil, ErrChallengeExpired
	}
	// The challenge the authenticator signed is the sealed one.
	c.Session.Challenge = base64.RawURLEncoding.EncodeToString(sealed)
	return p.FinishPasskeyRegistration(ctx, u, rp, &c, response)
}

// Passkey describes one of a user's passkeys.
type Passkey struct {
	// ID is the credential id, base64url.
	ID, Name, RPID, Attachment string
	Transports                 []string
	CreatedAt                  time.Time
}

// Passkeys lists the user's passkeys, for every site, oldest first.
func (p *Pool) Passkeys(ctx context.Context, userID string) ([]Passkey, error) {
	all, err := p.store.MFAFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []Passkey
	for _, f := range all {
		k, ok := decodePasskey(f)
		if !ok {
			continue
		}
		out = append(out, Passkey{ID: f.ID, Name: f.Name, RPID: k.rec.RPID, Attachment: k.rec.Attachment,
			Transports: slices.Clone(k.rec.Transports), CreatedAt: f.CreatedAt})
	}
	slices.SortStableFunc(out, func(a, b Passkey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// RemovePasskey removes one of the user's passkeys by credential id; any
// other factor's id, or another user's passkey, is ErrNoSuchFactor.
func (p *Pool) RemovePasskey(ctx context.Context, userID, credentialID string) error {
	keys, err := p.Passkeys(ctx, userID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(k Passkey) bool { return k.ID == credentialID }) {
		return ErrNoSuchFactor
	}
	return p.RemoveFactor(ctx, userID, credentialID)
}
