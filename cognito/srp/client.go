package srp

import (
	"crypto/rand"
	"errors"
	"math/big"
)

// Client is a client's half of a sign-in, as amazon-cognito-identity-js
// computes it. Gatehouse serves the other half; this one is for its tests
// and benchmarks, which check it against that library.
type Client struct {
	a, A *big.Int
}

// NewClient picks a random secret a (128 bytes, as the library does).
func NewClient() *Client {
	buf := make([]byte, 128)
	rand.Read(buf) // crypto/rand.Read does not fail
	a := new(big.Int).SetBytes(buf)
	return &Client{a: a, A: new(big.Int).Exp(groupG, a, groupN)}
}

// AHex is SRP_A, as the library writes it (no padding).
func (c *Client) AHex() string { return c.A.Text(16) }

// Key derives the key from the server's SALT and SRP_B (hex) for the
// user's USER_ID_FOR_SRP and password.
func (c *Client) Key(poolName, userID, password, saltHex, bHex string) ([]byte, error) {
	salt, ok := new(big.Int).SetString(saltHex, 16)
	B, ok2 := new(big.Int).SetString(bHex, 16)
	if !ok || !ok2 || new(big.Int).Mod(B, groupN).Sign() == 0 {
		return nil, errors.New("srp: bad SALT or SRP_B")
	}
	u := new(big.Int).SetBytes(hashOf(pad(c.A), pad(B)))
	if u.Sign() == 0 {
		return nil, errors.New("srp: u is zero")
	}
	xv := x(poolName, userID, password, salt.Bytes())
	// S = (B - k*g^x)^(a + u*x) mod N
	base := new(big.Int).Exp(groupG, xv, groupN)
	base.Mul(base, groupK)
	base.Sub(B, base)
	base.Mod(base, groupN)
	e := new(big.Int).Mul(u, xv)
	e.Add(e, c.a)
	S := new(big.Int).Exp(base, e, groupN)
	return derive(S, u)
}
