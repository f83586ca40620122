package cognito

import (
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The Session the API hands out is "<client id>:<the machine's session>":
// AssociateSoftwareToken and VerifySoftwareToken name no client, and the
// machine's sessions are bound to one. A client id has no ':'.

func wrapSession(cl *oidc.Client, s string) string {
	if s == "" {
		return ""
	}
	return cl.ID + ":" + s
}

// unwrapSession splits a Session into its client and the machine's
// session; ok is false for anything not of that shape.
func unwrapSession(s string) (clientID, session string, ok bool) {
	clientID, session, ok = strings.Cut(s, ":")
	return clientID, session, ok && clientID != "" && session != ""
}

type associateRequest struct {
	AccessToken string `json:"AccessToken"`
	Session     string `json:"Session"`
}

// associateSoftwareToken starts an authenticator app's set-up: for a
// signed-in user (AccessToken), a new pending factor; for a sign-in's
// MFA_SETUP challenge (Session), the secret that challenge set up.
func associateSoftwareToken(c *call) (any, error) {
	var req associateRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.AccessToken != "" {
		_, u, err := c.signedIn(req.AccessToken)
		if err != nil {
			return nil, err
		}
		e, err := c.h.cfg.Pool.StartTOTP(c.ctx(), u, "")
		if err != nil {
			return nil, err
		}
		return map[string]string{"SecretCode": e.Secret}, nil
	}
	cl, s, err := c.setupSession(req.Session)
	if err != nil {
		return nil, err
	}
	secret, err := c.h.cfg.Pool.SetupSecret(c.ctx(), clientBinding(cl), s)
	if err != nil {
		return nil, err
	}
	return map[string]string{"SecretCode": secret, "Session": req.Session}, nil
}

// setupSession opens the client and machine session of a Session.
func (c *call) setupSession(session string) (*oidc.Client, string, error) {
	if session == "" {
		return nil, "", errf("InvalidParameterException", "Missing required parameter AccessToken or Session")
	}
	id, s, ok := unwrapSession(session)
	if !ok {
		return nil, "", errBadSession
	}
	cl, err := c.h.cfg.Provider.Client(c.ctx(), id)
	if err != nil {
		return nil, "", errBadSession
	}
	return cl, s, nil
}

type verifySoftwareTokenRequest struct {
	AccessToken        string `json:"AccessToken"`
	Session            string `json:"Session"`
	UserCode           string `json:"UserCode"`
	FriendlyDeviceName string `json:"FriendlyDeviceName"`
}

// verifySoftwareToken confirms an app with its first code. For a
// sign-in's MFA_SETUP it answers the machine, which finishes the sign-in;
// the Session returned carries that result (sealed, single-use) to the
// RespondToAuthChallenge(MFA_SETUP) that Cognito's clients send next.
func verifySoftwareToken(c *call) (any, error) {
	var req verifySoftwareTokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	if req.UserCode == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter UserCode")
	}
	mismatch := func(err error) error {
		if errors.Is(err, pool.ErrWrongCode) {
			return errf("EnableSoftwareTokenMFAException", "Code mismatch")
		}
		return err
	}
	p := c.h.cfg.Pool
	if req.AccessToken != "" {
		_, u, err := c.signedIn(req.AccessToken)
		if err != nil {
			return nil, err
		}
		all, err := p.Store().MFAFactors(c.ctx(), u.ID)
		if err != nil {
			return nil, err
		}
		var pending *store.MFAFactor
		for i := range all {
			if all[i].Kind == store.FactorTOTP && !all[i].Confirmed {
				pending = &all[i]
			}
		}
		if pending == nil {
			return nil, errf("InvalidParameterException", "Call AssociateSoftwareToken first")
		}
		if _, err := p.ConfirmTOTP(c.ctx(), u.ID, pending.ID, req.UserCode); err != nil {
			return nil, mismatch(err)
		}
		return map[string]string{"Status": "SUCCESS"}, nil
	}
	cl, s, err := c.setupSession(req.Session)
	if err != nil {
		return nil, err
	}
	step, err := p.RespondToAuthChallenge(c.ctx(), pool.Answer{
		Session: s, Name: pool.ChallengeMFASetup, Client: clientBinding(cl), Code: req.UserCode,
	})
	if err != nil {
		return nil, mismatch(err)
	}
	if step.Auth == nil {
		return nil, errBadSession
	}
	done := c.h.seal.seal(setupDone{
		Client: clientBinding(cl), UserID: step.Auth.User.ID, AMR: step.Auth.AMR,
		AuthTime: step.Auth.AuthTime.Unix(), Expires: time.Now().Add(setupDoneTTL).Unix(),
	})
	return map[string]string{"Status": "SUCCESS", "Session": wrapSession(cl, done)}, nil
}

type mfaSettingsType struct {
	Enabled      *bool `json:"Enabled"`
	PreferredMfa bool  `json:"PreferredMfa"`
}

type setMFAPreferenceRequest struct {
	tokenRequest
	SoftwareTokenMfaSettings *mfaSettingsType `json:"SoftwareTokenMfaSettings"`
	EmailMfaSettings         *mfaSettingsType `json:"EmailMfaSettings"`
	SMSMfaSettings           *mfaSettingsType `json:"SMSMfaSettings"`
	WebAuthnMfaSettings      *mfaSettingsType `json:"WebAuthnMfaSettings"`
}

// setUserMFAPreference turns factors on or off. A factor is on once set
// up (VerifySoftwareToken; email codes on the account page or at an
// MFA_SETUP), so enabling one the user has is a no-op and enabling one
// they have not is refused; disabling removes it, unless the pool
// requires a second factor.
func setUserMFAPreference(c *call) (any, error) {
	var req setMFAPreferenceRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	return c.setMFAPreference(u, req)
}

// setMFAPreference is SetUserMFAPreference's and AdminSetUserMFAPreference's
// work on u.
func (c *call) setMFAPreference(u *store.User, req setMFAPreferenceRequest) (any, error) {
	p := c.h.cfg.Pool
	if req.SMSMfaSettings != nil && req.SMSMfaSettings.Enabled != nil && *req.SMSMfaSettings.Enabled {
		if !p.CanTextCodes() {
			return nil, errf("InvalidParameterException", "SMS multi-factor authentication is not supported by this user pool")
		}
		// Cognito turns SMS codes on for a verified number at once: the
		// number was proved by a code already.
		if err := c.enableSMS(u); err != nil {
			return nil, err
		}
	}
	fs, err := p.Factors(c.ctx(), u.ID)
	if err != nil {
		return nil, err
	}
	for _, set := range []struct {
		s    *mfaSettingsType
		kind string
		name string
	}{
		{req.SoftwareTokenMfaSettings, store.FactorTOTP, "software token"},
		{req.EmailMfaSettings, store.FactorEmail, "email"},
		{req.SMSMfaSettings, store.FactorSMS, "sms"},
	} {
		if set.s == nil || set.s.Enabled == nil {
			continue
		}
		var have []string
		for _, f := range fs {
			if f.Kind == set.kind {
				have = append(have, f.ID)
			}
		}
		switch {
		case *set.s.Enabled && len(have) == 0:
			return nil, errf("InvalidParameterException", "User has not verified "+set.name+" mfa")
		case !*set.s.Enabled && len(have) > 0:
			if p.MFA().Mode == pool.MFARequired && len(have) == len(fs) {
				return nil, errf("InvalidParameterException", "This user pool requires multi-factor authentication")
			}
			for _, id := range have {
				if err := p.RemoveFactor(c.ctx(), u.ID, id); err != nil {
					return nil, err
				}
			}
		}
	}
	return struct{}{}, nil
}

// enableSMS turns SMS codes on for u, whose number must be verified; on
// already is a no-op.
func (c *call) enableSMS(u *store.User) error {
	if _, verified := pool.Phone(u); !verified {
		return errf("InvalidParameterException", "User does not have a verified phone number")
	}
	on, err := c.h.cfg.Pool.SMSCodesOn(c.ctx(), u)
	if err != nil || on {
		return err
	}
	return c.h.cfg.Pool.EnableVerifiedSMS(c.ctx(), u.ID)
}
