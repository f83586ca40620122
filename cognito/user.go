package cognito

import (
	"errors"
	"slices"
	"sort"
	"strconv"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// tokenRequest is what every user action sends: the access token.
type tokenRequest struct {
	AccessToken string `json:"AccessToken"`
}

func (r tokenRequest) accessToken() string { return r.AccessToken }

// decodeSignedIn reads a request that carries the caller's access token
// (its type embeds tokenRequest) and checks the token as signedIn does.
func (c *call) decodeSignedIn(req interface{ accessToken() string }) (*oidc.AccessToken, *store.User, error) {
	if err := c.decode(req); err != nil {
		return nil, nil, err
	}
	return c.signedIn(req.accessToken())
}

// signedIn verifies an access token as the gateway verifies the pool's
// bearer tokens (oidc.Provider.VerifyAccessToken: signature, issuer,
// expiry, token_use access, the deny list), needs Cognito's admin scope
// for the API, and returns its user, who must still be enabled.
func (c *call) signedIn(token string) (*oidc.AccessToken, *store.User, error) {
	if token == "" {
		return nil, nil, errf("InvalidParameterException", "Missing required parameter AccessToken")
	}
	at, err := c.h.cfg.Provider.VerifyAccessToken(c.ctx(), token)
	if err != nil {
		return nil, nil, errBadToken
	}
	if !slices.Contains(at.Scopes, oidc.ScopeCognitoAdmin) {
		return nil, nil, errf("NotAuthorizedException", "Access Token does not have required scopes")
	}
	u, err := c.h.cfg.Pool.User(c.ctx(), at.UserID)
	if errors.Is(err, pool.ErrUserNotFound) {
		return nil, nil, errf("NotAuthorizedException", "User does not exist.")
	}
	if err != nil {
		return nil, nil, err
	}
	if !u.Enabled {
		return nil, nil, errf("NotAuthorizedException", "User is disabled.")
	}
	return at, u, nil
}

// userAttributes lists u's attributes as Cognito does: sub first.
func userAttributes(u *store.User) []attribute {
	out := []attribute{
		{Name: "sub", Value: u.ID},
		{Name: "email", Value: u.Email},
		{Name: "email_verified", Value: strconv.FormatBool(u.EmailVerified)},
	}
	if u.Name != "" {
		out = append(out, attribute{Name: "name", Value: u.Name})
	}
	names := make([]string, 0, len(u.Attributes))
	for n := range u.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, attribute{Name: n, Value: u.Attributes[n]})
	}
	return out
}

type getUserResponse struct {
	Username            string      `json:"Username"`
	UserAttributes      []attribute `json:"UserAttributes"`
	MFAOptions          []any       `json:"MFAOptions,omitempty"`
	PreferredMfaSetting string      `json:"PreferredMfaSetting,omitempty"`
	UserMFASettingList  []string    `json:"UserMFASettingList,omitempty"`
}

// mfaSettings are the Cognito names of u's confirmed factors, in the
// order the sign-in machine prefers them (an app, SMS, email, a passkey):
// the first is the one asked for.
func (c *call) mfaSettings(u *store.User) ([]string, error) {
	fs, err := c.h.cfg.Pool.Factors(c.ctx(), u.ID)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, f := range fs {
		have[f.Kind] = have[f.Kind] || f.Confirmed
	}
	var out []string
	for _, k := range []struct{ kind, name string }{
		{store.FactorTOTP, pool.ChallengeSoftwareTokenMFA},
		{store.FactorSMS, pool.ChallengeSMSMFA},
		{store.FactorEmail, pool.ChallengeEmailOTP},
		{store.FactorWebAuthn, pool.ChallengeWebAuthn},
	} {
		if have[k.kind] {
			out = append(out, k.name)
		}
	}
	return out, nil
}

func getUser(c *call) (any, error) {
	var req tokenRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	mfa, err := c.mfaSettings(u)
	if err != nil {
		return nil, err
	}
	out := getUserResponse{Username: oidc.Username(u), UserAttributes: userAttributes(u), UserMFASettingList: mfa}
	if len(mfa) > 0 && mfa[0] != pool.ChallengeWebAuthn {
		out.PreferredMfaSetting = mfa[0]
	}
	return out, nil
}

// globalSignOut ends every session and refresh token of the user, and so
// every access token issued before now (the deny list).
func globalSignOut(c *call) (any, error) {
	var req tokenRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if err := c.h.cfg.Pool.SignOutEverywhere(c.ctx(), u.ID); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type changePasswordRequest struct {
	AccessToken      string `json:"AccessToken"`
	PreviousPassword string `json:"PreviousPassword"`
	ProposedPassword string `json:"ProposedPassword"`
}

// changePassword needs the current password (counted in the lockout) and
// signs the user out everywhere else, as the account page does.
func changePassword(c *call) (any, error) {
	var req changePasswordRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
	if err != nil {
		return nil, err
	}
	if req.PreviousPassword == "" || req.ProposedPassword == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter PreviousPassword or ProposedPassword")
	}
	_, err = c.h.cfg.Pool.ChangePassword(c.ctx(), u.ID, pool.Confirmation{Password: req.PreviousPassword}, req.ProposedPassword)
	if errors.Is(err, pool.ErrInvalidCredentials) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func deleteUser(c *call) (any, error) {
	var req tokenRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if err := c.h.cfg.Pool.DeleteAccountWithToken(c.ctx(), u.ID); err != nil {
		return nil, err
	}
	c.h.log.Info("user deleted their account", zap.String("user_id", u.ID))
	return struct{}{}, nil
}

type updateAttributesRequest struct {
	tokenRequest
	UserAttributes []attribute `json:"UserAttributes"`
}

// updateUserAttributes changes the pool's mutable attributes. The email
// address changes only on the hosted account page (with the password and
// a code to the new address): here it is refused.
func updateUserAttributes(c *call) (any, error) {
	var req updateAttributesRequest
	_, u, err := c.decodeSignedIn(&req)
	if err != nil {
		return nil, err
	}
	if len(req.UserAttributes) == 0 {
		return nil, errf("InvalidParameterException", "Missing required parameter UserAttributes")
	}
	values := map[string]string{}
	for _, a := range req.UserAttributes {
		switch a.Name {
		case "email":
			if a.Value != u.Email {
				return nil, errf("InvalidParameterException", "The email address changes on the account page of this user pool")
			}
		case "sub", "email_verified", pool.AttrPhoneVerified:
			return nil, errf("InvalidParameterException", "Attribute "+a.Name+" cannot be changed")
		default:
			values[a.Name] = a.Value
		}
	}
	deliveries := []any{}
	if len(values) > 0 {
		nu, err := c.h.cfg.Pool.UpdateProfile(c.ctx(), u.ID, values)
		if err != nil {
			return nil, err
		}
		// A new number gets its code at once, as Cognito's does.
		number, verified := pool.Phone(nu)
		if old, _ := pool.Phone(u); c.h.cfg.Pool.CanText() && number != "" && number != old && !verified {
			if _, err := c.h.cfg.Pool.SendPhoneCode(c.ctx(), u.ID); err != nil {
				return nil, err
			}
			deliveries = append(deliveries, smsDeliveryTo(number))
		}
	}
	return map[string]any{"CodeDeliveryDetailsList": deliveries}, nil
}

// smsDeliveryTo is Cognito's CodeDeliveryDetails of a code texted to number.
func smsDeliveryTo(number string) *codeDelivery {
	return &codeDelivery{AttributeName: pool.AttrPhone, DeliveryMedium: "SMS", Destination: sms.Mask(number)}
}

type revokeTokenRequest struct {
	Token        string `json:"Token"`
	ClientID     string `json:"ClientId"`
	ClientSecret string `json:"ClientSecret"`
}

// revokeToken revokes a refresh token and everything refreshed from it.
// Cognito answers a token that is not live with UnsupportedTokenTypeException
// only for access tokens; an unknown refresh token is answered alike.
func revokeToken(c *call) (any, error) {
	var req revokeTokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	cl, err := c.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if req.Token == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter Token")
	}
	if !cl.Public && !cl.CheckSecret(req.ClientSecret) {
		return nil, errf("NotAuthorizedException", "Client secret is not valid")
	}
	err = c.h.cfg.Provider.RevokeRefreshToken(c.ctx(), cl, req.Token)
	if err != nil && !errors.Is(err, oidc.ErrInvalidGrant) {
		return nil, err
	}
	return struct{}{}, nil
}

type refreshRequest struct {
	RefreshToken string `json:"RefreshToken"`
	ClientID     string `json:"ClientId"`
	ClientSecret string `json:"ClientSecret"`
}

// getTokensFromRefreshToken is Cognito's newer refresh action: the
// client's secret itself, not a hash.
func getTokensFromRefreshToken(c *call) (any, error) {
	var req refreshRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	cl, err := c.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if !cl.AllowsAuthFlow(oidc.AuthFlowRefreshToken) {
		return nil, errf("InvalidParameterException", "REFRESH_TOKEN_AUTH flow not enabled for this client")
	}
	if req.RefreshToken == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter RefreshToken")
	}
	if !cl.Public && !cl.CheckSecret(req.ClientSecret) {
		return nil, errf("NotAuthorizedException", "Client secret is not valid")
	}
	t, err := c.h.cfg.Provider.RefreshTokens(c.ctx(), cl, req.RefreshToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"AuthenticationResult": resultOf(t)}, nil
}

type attributeCodeRequest struct {
	AccessToken   string `json:"AccessToken"`
	AttributeName string `json:"AttributeName"`
	Code          string `json:"Code"`
}

// readAttributeRequest reads a request about an attribute this pool
// verifies: email, and phone_number in a pool that texts.
func (c *call) readAttributeRequest() (*attributeCodeRequest, *store.User, error) {
	var req attributeCodeRequest
	if err := c.decode(&req); err != nil {
		return nil, nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case req.AttributeName == "email":
	case req.AttributeName == pool.AttrPhone && c.h.cfg.Pool.CanText():
		if number, _ := pool.Phone(u); number == "" {
			return nil, nil, errf("InvalidParameterException", "User has no phone_number attribute")
		}
	case req.AttributeName == pool.AttrPhone:
		return nil, nil, errf("InvalidParameterException", "This user pool sends no text messages")
	default:
		return nil, nil, errf("InvalidParameterException", "Only the email and phone_number attributes are verified in this user pool")
	}
	return &req, u, nil
}

// getUserAttributeVerificationCode mails a code that verifies the user's
// address (the sign-up's confirmation code); an address verified already
// gets none.
func getUserAttributeVerificationCode(c *call) (any, error) {
	req, u, err := c.readAttributeRequest()
	if err != nil {
		return nil, err
	}
	if req.AttributeName == pool.AttrPhone {
		_, err := c.h.cfg.Pool.SendPhoneCode(c.ctx(), u.ID)
		if errors.Is(err, pool.ErrPhoneVerified) {
			// Cognito sends a code to a verified number too; here there
			// is nothing left to prove, and the answer says where.
			err = nil
		}
		if err != nil {
			return nil, err
		}
		number, _ := pool.Phone(u)
		return map[string]any{"CodeDeliveryDetails": smsDeliveryTo(number)}, nil
	}
	if err := c.h.cfg.Pool.ResendConfirmation(c.ctx(), u.Email); err != nil {
		return nil, err
	}
	return map[string]any{"CodeDeliveryDetails": deliveryTo(u.Email)}, nil
}

// verifyUserAttribute checks that code.
func verifyUserAttribute(c *call) (any, error) {
	req, u, err := c.readAttributeRequest()
	if err != nil {
		return nil, err
	}
	if req.Code == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter Code")
	}
	if req.AttributeName == pool.AttrPhone {
		if _, err := c.h.cfg.Pool.VerifyPhone(c.ctx(), u.ID, req.Code); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
	if _, err := c.h.cfg.Pool.ConfirmSignUpCode(c.ctx(), u.Email, req.Code); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
