package cognito

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/usertype"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// The passkey actions (user actions with an AccessToken): registration in
// two calls, whose ceremony travels sealed in the WebAuthn challenge
// (pool.BeginSealedPasskeyRegistration), the list, and removal. Passkeys
// are made for the API's relying party (Config.WebAuthn).

// passkeyFreshness is how recent a sign-in must be to register a passkey
// through the API: a passkey is a way in, and the hosted account page asks
// for the password again before adding one.
const passkeyFreshness = 15 * time.Minute

type startWebAuthnRequest struct {
	tokenRequest
}

func startWebAuthnRegistration(c *call) (any, error) {
	var req startWebAuthnRequest
	at, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	rp, err := c.passkeySite()
	if err != nil {
		return nil, err
	}
	if c.h.cfg.Now().Sub(at.AuthTime) > passkeyFreshness {
		return nil, errf("NotAuthorizedException", "Sign in again to register a passkey: the sign-in is older than 15 minutes.")
	}
	opts, err := c.h.cfg.Pool.BeginSealedPasskeyRegistration(c.ctx(), u, *rp)
	if err != nil {
		return nil, passkeyErr(err)
	}
	return map[string]any{"CredentialCreationOptions": opts.Response}, nil
}

type completeWebAuthnRequest struct {
	tokenRequest
	Credential json.RawMessage `json:"Credential"`
}

func completeWebAuthnRegistration(c *call) (any, error) {
	var req completeWebAuthnRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if len(req.Credential) == 0 || string(req.Credential) == "null" {
		return nil, errf("InvalidParameterException", "Missing required parameter Credential")
	}
	rp, err := c.passkeySite()
	if err != nil {
		return nil, err
	}
	// Recovery codes of a first factor are shown on the account page;
	// Cognito's answer has no place for them.
	if _, err := c.h.cfg.Pool.FinishSealedPasskeyRegistration(c.ctx(), u, *rp, req.Credential); err != nil {
		return nil, passkeyErr(err)
	}
	return struct{}{}, nil
}

type listWebAuthnRequest struct {
	tokenRequest
	MaxResults int    `json:"MaxResults"`
	NextToken  string `json:"NextToken"`
}

type webAuthnCredential struct {
	CredentialID            string   `json:"CredentialId"`
	FriendlyCredentialName  string   `json:"FriendlyCredentialName"`
	RelyingPartyID          string   `json:"RelyingPartyId"`
	AuthenticatorAttachment string   `json:"AuthenticatorAttachment,omitempty"`
	AuthenticatorTransports []string `json:"AuthenticatorTransports"`
	CreatedAt               float64  `json:"CreatedAt"`
}

// listWebAuthnCredentials lists the user's passkeys in one page (a user
// has at most a handful: the pool's factor limit).
func listWebAuthnCredentials(c *call) (any, error) {
	var req listWebAuthnRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if req.MaxResults < 0 || req.MaxResults > 20 {
		return nil, errf("InvalidParameterException", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 20")
	}
	if req.NextToken != "" {
		return nil, errf("InvalidParameterException", "Invalid NextToken")
	}
	keys, err := c.h.cfg.Pool.Passkeys(c.ctx(), u.ID)
	if err != nil {
		return nil, err
	}
	out := []webAuthnCredential{}
	for _, k := range keys {
		if req.MaxResults > 0 && len(out) == req.MaxResults {
			break
		}
		transports := k.Transports
		if transports == nil {
			transports = []string{}
		}
		out = append(out, webAuthnCredential{CredentialID: k.ID, FriendlyCredentialName: k.Name, RelyingPartyID: k.RPID,
			AuthenticatorAttachment: k.Attachment, AuthenticatorTransports: transports, CreatedAt: usertype.EpochSeconds(k.CreatedAt)})
	}
	return map[string]any{"Credentials": out}, nil
}

type deleteWebAuthnRequest struct {
	tokenRequest
	CredentialID string `json:"CredentialId"`
}

func deleteWebAuthnCredential(c *call) (any, error) {
	var req deleteWebAuthnRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if req.CredentialID == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter CredentialId")
	}
	if err := c.h.cfg.Pool.RemovePasskey(c.ctx(), u.ID, req.CredentialID); err != nil {
		if errors.Is(err, pool.ErrNoSuchFactor) {
			return nil, errf("ResourceNotFoundException", "The credential was not found.")
		}
		return nil, err
	}
	return struct{}{}, nil
}

// passkeySite is the API's relying party, or Cognito's errors for a pool
// without passkeys.
func (c *call) passkeySite() (*pool.RelyingParty, error) {
	if c.h.cfg.WebAuthn == nil {
		return nil, errf("WebAuthnConfigurationMissingException", "This user pool has no passkey site: set webauthn_origin in its cognito block")
	}
	if !slices.Contains(c.h.cfg.Pool.AvailableFirstFactors(c.h.cfg.WebAuthn), pool.FirstFactorWebAuthn) {
		return nil, errf("WebAuthnNotEnabledException", "Passkeys are not enabled for this user pool")
	}
	return c.h.cfg.WebAuthn, nil
}

// passkeyErr words a registration's refusals as Cognito does.
func passkeyErr(err error) error {
	switch {
	case errors.Is(err, pool.ErrChallengeExpired):
		return errf("WebAuthnChallengeNotFoundException", "The passkey registration was not started here, or has expired; start it again.")
	case errors.Is(err, pool.ErrPasskeyExists):
		return errf("WebAuthnCredentialNotSupportedException", "This passkey is registered already.")
	case errors.Is(err, pool.ErrPasskeyRefused):
		return errf("NotAuthorizedException", "The passkey was not accepted.")
	case errors.Is(err, pool.ErrTooManyFactors):
		return errf("LimitExceededException", "The user has as many authenticators as allowed")
	case errors.Is(err, pool.ErrMFAUnavailable):
		return errf("WebAuthnNotEnabledException", "Passkeys are not enabled for this user pool")
	}
	return err
}
