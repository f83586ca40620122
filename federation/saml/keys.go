package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// KeyKind is the store kind of a SAML provider's service-provider keys; the
// key's ID is the provider's name, so each provider of a pool has its own.
const KeyKind = "saml-sp"

// keyBits: RSA, because XML encryption's key transport needs an RSA key and
// every IdP verifies RSA-SHA256 request signatures.
const keyBits = 2048

// certLifetime is long: the certificates are containers for the public keys
// that IdPs read from the metadata (saml2int treats their dates as
// meaningless), and a short one would make IdPs that do check dates break
// on their own.
const certLifetime = 20 * 365 * 24 * time.Hour

// spKeys are a service provider's signing and encryption key pairs.
type spKeys struct {
	signKey  *rsa.PrivateKey
	signCert *x509.Certificate
	encKey   *rsa.PrivateKey
	encCert  *x509.Certificate
}

// keyMaterial is how spKeys are kept in store.Key.Material.
type keyMaterial struct {
	SigningKey     []byte `json:"signing_key"` // PKCS #8 DER
	SigningCert    []byte `json:"signing_cert"`
	EncryptionKey  []byte `json:"encryption_key"`
	EncryptionCert []byte `json:"encryption_cert"`
}

// loadKeys returns the provider's keys from the store, making them on first
// use. Instances opening at once each make a pair; the store keeps the first
// one added (AddKey's ErrConflict) and every instance reads that one back.
func loadKeys(ctx context.Context, st store.Store, name, subject string, now time.Time) (*spKeys, error) {
	if k, err := findKey(ctx, st, name); err != nil || k != nil {
		return k, err
	}
	mat, err := newKeyMaterial(subject, now)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(mat)
	if err != nil {
		return nil, err
	}
	err = st.AddKey(ctx, store.Key{Kind: KeyKind, ID: name, Material: raw, CreatedAt: now})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("saml %s: storing the service provider's keys: %w", name, err)
	}
	k, err := findKey(ctx, st, name)
	if err == nil && k == nil {
		err = fmt.Errorf("saml %s: the service provider's keys are not in the store after adding them", name)
	}
	return k, err
}

func findKey(ctx context.Context, st store.Store, name string) (*spKeys, error) {
	keys, err := st.Keys(ctx, KeyKind)
	if err != nil {
		return nil, fmt.Errorf("saml %s: reading the service provider's keys: %w", name, err)
	}
	for _, k := range keys {
		if k.ID == name {
			sk, err := parseKeyMaterial(k.Material)
			if err != nil {
				return nil, fmt.Errorf("saml %s: the stored service provider keys: %w", name, err)
			}
			return sk, nil
		}
	}
	return nil, nil
}

func newKeyMaterial(subject string, now time.Time) (*keyMaterial, error) {
	var m keyMaterial
	var err error
	if m.SigningKey, m.SigningCert, err = newKeyPair(subject+" signing", now); err != nil {
		return nil, err
	}
	if m.EncryptionKey, m.EncryptionCert, err = newKeyPair(subject+" encryption", now); err != nil {
		return nil, err
	}
	return &m, nil
}

func newKeyPair(cn string, now time.Time) (keyDER, certDER []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return keyDER, certDER, nil
}

func parseKeyMaterial(raw []byte) (*spKeys, error) {
	var m keyMaterial
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var k spKeys
	var err error
	if k.signKey, k.signCert, err = parseKeyPair(m.SigningKey, m.SigningCert); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if k.encKey, k.encCert, err = parseKeyPair(m.EncryptionKey, m.EncryptionCert); err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	return &k, nil
}

func parseKeyPair(keyDER, certDER []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("want an RSA key, have %T", key)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, err
	}
	if !rk.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("the certificate is not the key's")
	}
	return rk, cert, nil
}
