package cognito

import (
	"errors"
	"slices"
	"sort"
	"strconv"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// tokenRequest is what every user action sends: the access token.
type tokenRequest struct {
	AccessToken string `json:"AccessToken"`
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

// mfaSettings are the Cognito names of u's confirmed factors.
func (c *call) mfaSettings(u *store.User) ([]string, error) {
	fs, err := c.h.cfg.Pool.Factors(c.ctx(), u.ID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fs {
		name := ""
		switch f.Kind {
		case store.FactorTOTP:
			name = pool.ChallengeSoftwareTokenMFA
		case store.FactorEmail:
			name = pool.ChallengeEmailOTP
		case store.FactorWebAuthn:
			name = pool.ChallengeWebAuthn
		}
		if name != "" && f.Confirmed && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func getUser(c *call) (any, error) {
	var req tokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
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
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
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
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
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
	AccessToken    string      `json:"AccessToken"`
	UserAttributes []attribute `json:"UserAttributes"`
}

// updateUserAttributes changes the pool's mutable attributes. The email
// address changes only on the hosted account page (with the password and
// a code to the new address): here it is refused.
func updateUserAttributes(c *call) (any, error) {
	var req updateAttributesRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	_, u, err := c.signedIn(req.AccessToken)
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
		case "sub", "email_verified":
			return nil, errf("InvalidParameterException", "Attribute "+a.Name+" cannot be changed")
		default:
			values[a.Name] = a.Value
		}
	}
	if len(values) > 0 {
		if _, err := c.h.cfg.Pool.UpdateProfile(c.ctx(), u.ID, values); err != nil {
			return nil, err
		}
	}
	return map[string]any{"CodeDeliveryDetailsList": []any{}}, nil
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

// readAttributeRequest reads a request about the email attribute, the
// only one this pool verifies.
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
	if req.AttributeName != "email" {
		return nil, nil, errf("InvalidParameterException", "Only the email attribute is verified in this user pool")
	}
	return &req, u, nil
}

// getUserAttributeVerificationCode mails a code that verifies the user's
// address (the sign-up's confirmation code); an address verified already
// gets none.
func getUserAttributeVerificationCode(c *call) (any, error) {
	_, u, err := c.readAttributeRequest()
	if err != nil {
		return nil, err
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
	if _, err := c.h.cfg.Pool.ConfirmSignUpCode(c.ctx(), u.Email, req.Code); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
