// Package albdata signs the X-Amzn-Oidc-Data header as an AWS Application
// Load Balancer does, so that an upstream written for an ALB verifies what
// Gatehouse's gateway gives it with the code it already has.
package albdata

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/signing"
)

// paddedURL is the base64url alphabet with '=' padding, as ALB writes it.
var paddedURL = base64.URLEncoding

// DefaultARN returns the signer ARN of a pool when the operator sets none.
// It has the shape of an ALB's ARN, so upstream code that compares `signer`
// to a configured ARN works unchanged, but names a region and account that do
// not exist on AWS, so it can never equal a real load balancer's.
func DefaultARN(pool string) string {
	return "arn:aws:elasticloadbalancing:gh-local-1:000000000000:loadbalancer/app/gatehouse/" + pool
}

// Signer makes the X-Amzn-Oidc-Data header: an ES256 JWT whose JOSE
// header carries alg, kid, signer, iss, client and exp as an ALB's does, so
// upstreams verify it with the code they use behind an ALB (read kid, fetch
// the PEM at /_gatehouse/public-keys/{kid}, check signer, verify ES256).
//
// Like ALB's, the three segments are base64url WITH padding, and the
// signature covers the padded text: code written for an ALB expects that
// (AWS's own example decodes the header with a padding-strict decoder), and
// Go verifiers written for ALB already parse with jwt.WithPaddingAllowed.
type Signer struct {
	// Keys give the key to sign with.
	Keys Keys
	// ARN is what upstreams compare the `signer` header field to; see
	// DefaultARN.
	ARN string
	// Issuer is the OIDC issuer that authenticated the user.
	Issuer string
	// ClientID is the OIDC client the gateway signed the user in as.
	ClientID string
}

// Keys gives the key to sign with now: the pool's newest ES256 key
// (*signing.KeySet is one). Current runs when a session is signed, on a
// request, so it must not wait for I/O.
type Keys interface {
	Current() *signing.Key
}

// Sign returns the compact JWT for these user claims, expiring at exp, signed
// with the pool's current key. claims must hold a non-empty string "sub"; Sign
// sets "exp" and "iss" itself, overriding any given, and does not modify
// claims.
func (s *Signer) Sign(claims map[string]any, exp time.Time) (string, error) {
	if s.Keys == nil {
		return "", errors.New("alb data: no signing keys")
	}
	if s.ARN == "" || s.Issuer == "" || s.ClientID == "" {
		return "", errors.New("alb data: signer ARN, issuer and client id are required")
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return "", errors.New(`alb data: claims lack a "sub" string`)
	}
	key := s.Keys.Current()
	expUnix := exp.Unix()

	payload := make(jwt.MapClaims, len(claims)+2)
	for name, v := range claims {
		payload[name] = v
	}
	payload["exp"] = expUnix
	payload["iss"] = s.Issuer

	header := map[string]any{
		"alg":    "ES256",
		"typ":    "JWT",
		"kid":    key.ID,
		"signer": s.ARN,
		"iss":    s.Issuer,
		"client": s.ClientID,
		"exp":    expUnix,
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("alb data: %w", err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("alb data: %w", err)
	}
	signing := paddedURL.EncodeToString(h) + "." + paddedURL.EncodeToString(p)
	sig, err := jwt.SigningMethodES256.Sign(signing, key.Private)
	if err != nil {
		return "", fmt.Errorf("alb data: %w", err)
	}
	out := signing + "." + paddedURL.EncodeToString(sig)
	return out, nil
}
