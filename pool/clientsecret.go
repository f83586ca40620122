package pool

import "context"

// A stored app client's secret is kept twice: hashed (what the token
// endpoint checks) and sealed with the pool's secret box, as TOTP secrets
// are, because Cognito's SECRET_HASH is an HMAC keyed with the secret
// itself. Clients stored before sealing have the hash alone.

// clientSecretAAD binds a sealed secret to its client: a secret copied
// onto another client's row does not open there.
func clientSecretAAD(clientID string) []byte { return []byte("client-secret\x00" + clientID) }

// SealClientSecret seals a stored client's secret for store.Client's
// SecretSealed.
func (p *Pool) SealClientSecret(clientID, secret string) []byte {
	return p.secrets.sealWith(clientSecretAAD(clientID), []byte(secret))
}

// OpenClientSecret opens what SealClientSecret sealed for the client. An
// error means the pool's keys do not open it (another client's row, a
// key lost) or the store failed.
func (p *Pool) OpenClientSecret(ctx context.Context, clientID string, sealed []byte) (string, error) {
	plain, err := p.secrets.openWith(ctx, clientSecretAAD(clientID), sealed)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}
