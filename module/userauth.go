package module

import (
	"fmt"
	"net/url"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// Choice-based sign-in through the Cognito API (USER_AUTH, pool/userauth.go):
//
//	first_auth_factors PASSWORD [EMAIL_OTP] [WEB_AUTHN]   # pool option, Cognito's
//	                                                      # AllowedFirstAuthFactors;
//	                                                      # default PASSWORD WEB_AUTHN
//	cognito {
//		webauthn_origin https://app.example.com   # the app's origin, whose host is the
//		                                          # passkeys' relying party id; default
//		                                          # the issuer's
//	}
//
// EMAIL_OTP (a mailed code as the whole sign-in) is off unless named: it
// needs `mail`, and is refused with `mfa required`, as in Cognito.

// parseFirstFactors reads `first_auth_factors <factor>...`.
func parseFirstFactors(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	cfg.FirstAuthFactors = args
	if err := pool.ValidateFirstFactors(args, pool.MFAOptional, true); err != nil {
		return d.Errf("%v", err)
	}
	return nil
}

// validateFirstFactors checks the pool's first factors against its mail
// and MFA settings, and the API's passkey origin.
func validateFirstFactors(c *PoolConfig) error {
	if err := pool.ValidateFirstFactors(c.FirstAuthFactors, c.MFA, c.Mail != nil); err != nil {
		return err
	}
	if c.Cognito != nil && c.Cognito.WebAuthnOrigin != "" {
		if _, err := pool.NewRelyingParty(c.Cognito.WebAuthnOrigin); err != nil {
			return fmt.Errorf("cognito webauthn_origin %q: %w", c.Cognito.WebAuthnOrigin, err)
		}
	}
	return nil
}

// apiRelyingParty is the site of the Cognito API's passkey ceremonies: the
// cognito block's webauthn_origin, else the issuer's origin when browsers
// offer passkeys there; nil for none.
func apiRelyingParty(c *PoolConfig, issuer string) *pool.RelyingParty {
	origin := issuer
	if c.Cognito != nil && c.Cognito.WebAuthnOrigin != "" {
		origin = c.Cognito.WebAuthnOrigin
	}
	if u, err := url.Parse(origin); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	rp, err := pool.NewRelyingParty(origin)
	if err != nil {
		return nil
	}
	return &rp
}
