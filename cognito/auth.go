package cognito

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// clientBinding is what the machine's sessions are bound to for an app
// client of the API: a session started through one client answers only
// through it, and never on the hosted pages.
func clientBinding(c *oidc.Client) string { return "cognito-api:" + c.ID }

// client finds the app client a call names.
func (c *call) client(id string) (*oidc.Client, error) {
	if id == "" {
		return nil, errf("InvalidParameterException", "1 validation error detected: Value null at 'clientId' failed to satisfy constraint: Member must not be null")
	}
	cl, err := c.h.cfg.Provider.Client(c.ctx(), id)
	if errors.Is(err, oidc.ErrUnknownClient) {
		return nil, errf("ResourceNotFoundException", "User pool client "+clip(id)+" does not exist.")
	}
	if err != nil {
		return nil, err
	}
	c.setTriggerContext(cl.ID)
	return cl, nil
}

// setTriggerContext gives the pool's hooks what Cognito gives its Lambda
// triggers: the app client, and the app's ValidationData and
// ClientMetadata of this call.
func (c *call) setTriggerContext(clientID string) {
	if c.h.cfg.Pool.Triggers() == nil {
		return // no hook to tell: the body need not be read again
	}
	var extra struct {
		ValidationData []attribute       `json:"ValidationData"`
		ClientMetadata map[string]string `json:"ClientMetadata"`
	}
	_ = json.Unmarshal(c.body, &extra) // the action's own decode has judged the body
	tc := pool.TriggerContext{ClientID: clientID, ClientMetadata: extra.ClientMetadata}
	if len(extra.ValidationData) > 0 {
		tc.ValidationData = map[string]string{}
		for _, a := range extra.ValidationData {
			tc.ValidationData[a.Name] = a.Value
		}
	}
	c.r = c.r.WithContext(pool.WithTriggerContext(c.r.Context(), tc))
}

// checkSecretHash checks Cognito's SECRET_HASH, Base64(HMAC-SHA256(client
// secret, username + client id)), for a client with a secret; usernames
// lists the names the hash may be over (the login, the user id). A
// stored client keeps its secret sealed (oidc.Client.ClearSecret); one
// stored before that has a digest alone, from which no hash can be
// checked: it cannot use the API until its secret is rotated.
func checkSecretHash(cl *oidc.Client, got string, usernames ...string) error {
	if cl.Public {
		return nil
	}
	secret, ok := cl.ClearSecret()
	if !ok {
		return errf("NotAuthorizedException", "Client "+cl.ID+" has a secret kept only as a digest (stored before client secrets were sealed), from which SECRET_HASH cannot be checked; give it a new secret with `gatehouse clients rotate-secret --id "+cl.ID+"` to use this API")
	}
	if got == "" {
		return errf("NotAuthorizedException", "Client "+cl.ID+" is configured with secret but SECRET_HASH was not received")
	}
	given, err := base64.StdEncoding.DecodeString(got)
	match := 0
	for _, u := range usernames {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(u + cl.ID))
		if err == nil && hmac.Equal(m.Sum(nil), given) {
			match++
		}
	}
	if match == 0 {
		return errf("NotAuthorizedException", "Unable to verify secret hash for client "+cl.ID)
	}
	return nil
}

// authResult is Cognito's AuthenticationResultType.
type authResult struct {
	AccessToken  string `json:"AccessToken"`
	ExpiresIn    int64  `json:"ExpiresIn"`
	IDToken      string `json:"IdToken"`
	RefreshToken string `json:"RefreshToken,omitempty"`
	TokenType    string `json:"TokenType"`
}

// authAnswer is the answer of InitiateAuth and RespondToAuthChallenge.
type authAnswer struct {
	AuthenticationResult *authResult       `json:"AuthenticationResult,omitempty"`
	ChallengeName        string            `json:"ChallengeName,omitempty"`
	ChallengeParameters  map[string]string `json:"ChallengeParameters"`
	Session              string            `json:"Session,omitempty"`
	// AvailableChallenges are SELECT_CHALLENGE's choices (USER_AUTH).
	AvailableChallenges []string `json:"AvailableChallenges,omitempty"`
}

func resultOf(t *oidc.Tokens) *authResult {
	return &authResult{AccessToken: t.AccessToken, ExpiresIn: t.ExpiresIn, IDToken: t.IDToken, RefreshToken: t.RefreshToken, TokenType: "Bearer"}
}

// answerStep turns the machine's step into the API's answer: tokens for a
// finished sign-in, else the challenge with Cognito's parameters.
func (c *call) answerStep(cl *oidc.Client, step *pool.AuthStep) (*authAnswer, error) {
	if step.Auth != nil {
		return c.issue(cl, step.Auth.User, step.Auth.AMR, step.Auth.AuthTime)
	}
	ch := step.Challenge
	if ch == nil {
		return nil, errBadSession
	}
	params := map[string]string{}
	for k, v := range ch.Parameters {
		params[k] = v
	}
	// The pool's SRP challenge names USER_ID_FOR_SRP itself and has no
	// User (a decoy has none); every other challenge has its user.
	// A custom challenge names none: an unknown login's must look alike.
	if ch.User != nil && params["USER_ID_FOR_SRP"] == "" && ch.Name != pool.ChallengeCustom {
		params["USER_ID_FOR_SRP"] = ch.User.ID
	}
	switch ch.Name {
	case pool.ChallengeNewPasswordRequired:
		if ch.User == nil {
			return nil, errBadSession
		}
		// amazon-cognito-identity-js parses both as JSON.
		attrs, _ := json.Marshal(map[string]string{"email": ch.User.Email})
		params["userAttributes"] = string(attrs)
		params["requiredAttributes"] = "[]"
	case pool.ChallengeMFASetup:
		if ch.EmailSetup {
			// Cognito asks the code of an email set-up as EMAIL_OTP;
			// the answer goes to the machine's set-up step (Name "").
			return &authAnswer{ChallengeName: pool.ChallengeEmailOTP, ChallengeParameters: params, Session: wrapSession(cl, ch.Session)}, nil
		}
		if ch.SMSSetup {
			// And an SMS set-up's as SMS_MFA, which Cognito's clients
			// answer with SMS_MFA_CODE.
			return &authAnswer{ChallengeName: pool.ChallengeSMSMFA, ChallengeParameters: params, Session: wrapSession(cl, ch.Session)}, nil
		}
		can := []string{pool.ChallengeSoftwareTokenMFA}
		if c.h.cfg.Pool.CanEmailCodes() {
			can = append(can, pool.ChallengeEmailOTP)
		}
		if _, verified := pool.Phone(ch.User); verified && c.h.cfg.Pool.CanTextCodes() {
			can = append(can, pool.ChallengeSMSMFA)
		}
		list, _ := json.Marshal(can)
		params["MFAS_CAN_SETUP"] = string(list)
	}
	return &authAnswer{ChallengeName: ch.Name, ChallengeParameters: params, Session: wrapSession(cl, ch.Session), AvailableChallenges: ch.Available}, nil
}

func (c *call) issue(cl *oidc.Client, u *store.User, amr []string, authTime time.Time) (*authAnswer, error) {
	t, err := c.h.cfg.Provider.IssueTokens(c.ctx(), cl, u, amr, authTime)
	if err != nil {
		return nil, err
	}
	return &authAnswer{AuthenticationResult: resultOf(t), ChallengeParameters: map[string]string{}}, nil
}

type initiateAuthRequest struct {
	AuthFlow       string            `json:"AuthFlow"`
	AuthParameters map[string]string `json:"AuthParameters"`
	ClientID       string            `json:"ClientId"`
	ClientMetadata map[string]string `json:"ClientMetadata"`
	Session        string            `json:"Session"`
}

// Cognito's AuthFlow names and the client flow each needs.
var flowNeeds = map[string]string{
	"USER_PASSWORD_AUTH":       oidc.AuthFlowUserPassword,
	"USER_SRP_AUTH":            oidc.AuthFlowUserSRP,
	"REFRESH_TOKEN_AUTH":       oidc.AuthFlowRefreshToken,
	"REFRESH_TOKEN":            oidc.AuthFlowRefreshToken,
	"USER_AUTH":                oidc.AuthFlowUserAuth,
	"ADMIN_USER_PASSWORD_AUTH": oidc.AuthFlowAdminUserPassword,
	"CUSTOM_AUTH":              oidc.AuthFlowCustom,
}

func initiateAuth(c *call) (any, error) {
	var req initiateAuthRequest
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
	need, ok := flowNeeds[req.AuthFlow]
	if !ok || req.AuthFlow == "ADMIN_USER_PASSWORD_AUTH" {
		return nil, errf("InvalidParameterException", "Invalid AuthFlow: "+clip(req.AuthFlow))
	}
	if !cl.AllowsAuthFlow(need) {
		return nil, errf("InvalidParameterException", req.AuthFlow+" flow not enabled for this client")
	}
	p := req.AuthParameters
	switch req.AuthFlow {
	case "USER_PASSWORD_AUTH":
		if p["USERNAME"] == "" || p["PASSWORD"] == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter USERNAME or PASSWORD")
		}
		if err := checkSecretHash(cl, p["SECRET_HASH"], p["USERNAME"]); err != nil {
			return nil, err
		}
		step, err := c.h.cfg.Pool.InitiatePasswordAuth(c.ctx(), pool.PasswordAuth{
			Username: p["USERNAME"], Password: p["PASSWORD"], Client: clientBinding(cl),
		})
		if err != nil {
			return nil, err
		}
		return c.answerStep(cl, step)
	case "CUSTOM_AUTH":
		return c.customAuth(cl, p)
	case "USER_SRP_AUTH":
		if p["USERNAME"] == "" || p["SRP_A"] == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter USERNAME or SRP_A")
		}
		if err := checkSecretHash(cl, p["SECRET_HASH"], p["USERNAME"]); err != nil {
			return nil, err
		}
		// Config.SRP (the pool's InitiateSRPAuth) returns the
		// PASSWORD_VERIFIER step; nil: the pool has no `srp on`.
		if c.h.cfg.SRP == nil {
			return nil, errf("InvalidParameterException", "USER_SRP_AUTH is not enabled for this user pool; use USER_PASSWORD_AUTH")
		}
		step, err := c.h.cfg.SRP(c.ctx(), clientBinding(cl), p["USERNAME"], p["SRP_A"])
		if err != nil {
			return nil, err
		}
		return c.answerStep(cl, step)
	case "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN":
		return c.refresh(cl, p["REFRESH_TOKEN"], p["SECRET_HASH"], p["USERNAME"])
	case "USER_AUTH":
		return c.userAuth(cl, p)
	}
	return nil, errf("InvalidParameterException", req.AuthFlow+" is not supported by this user pool")
}

// Cognito's first-factor names, which PREFERRED_CHALLENGE may give (SMS_OTP
// is Cognito's, never offered here: it leads to SELECT_CHALLENGE).
var knownFirstFactors = map[string]bool{
	pool.FirstFactorPassword: true, pool.FirstFactorPasswordSRP: true, pool.FirstFactorEmailOTP: true,
	pool.FirstFactorWebAuthn: true, "SMS_OTP": true,
}

// userAuth starts USER_AUTH (choice-based sign-in) in the pool's machine:
// InitiateAuth's and AdminInitiateAuth's.
func (c *call) userAuth(cl *oidc.Client, p map[string]string) (*authAnswer, error) {
	if p["USERNAME"] == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter USERNAME")
	}
	if pref := p["PREFERRED_CHALLENGE"]; pref != "" && !knownFirstFactors[pref] {
		return nil, errf("InvalidParameterException", "Invalid PREFERRED_CHALLENGE: "+clip(pref))
	}
	if err := checkSecretHash(cl, p["SECRET_HASH"], p["USERNAME"]); err != nil {
		return nil, err
	}
	step, err := c.h.cfg.Pool.InitiateUserAuth(c.ctx(), pool.UserAuth{
		Username: p["USERNAME"], Preferred: p["PREFERRED_CHALLENGE"], Password: p["PASSWORD"], SRPA: p["SRP_A"],
		Client: clientBinding(cl), RelyingParty: c.h.cfg.WebAuthn,
	})
	if err != nil {
		return nil, err
	}
	return c.answerStep(cl, step)
}

// refresh runs the refresh grant; the secret hash of a client with a
// secret is over the user's username (its id) or the login they gave.
func (c *call) refresh(cl *oidc.Client, token, secretHash, username string) (*authAnswer, error) {
	if token == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter REFRESH_TOKEN")
	}
	if !cl.Public {
		uid, err := c.h.cfg.Provider.RefreshTokenUser(c.ctx(), cl, token)
		if err != nil {
			return nil, err
		}
		names := []string{uid}
		if u, err := c.h.cfg.Pool.User(c.ctx(), uid); err == nil {
			names = append(names, u.Email)
		}
		if username != "" {
			names = append(names, username)
		}
		if err := checkSecretHash(cl, secretHash, names...); err != nil {
			return nil, err
		}
	}
	t, err := c.h.cfg.Provider.RefreshTokens(c.ctx(), cl, token)
	if err != nil {
		return nil, err
	}
	return &authAnswer{AuthenticationResult: resultOf(t), ChallengeParameters: map[string]string{}}, nil
}

type respondRequest struct {
	ChallengeName      string            `json:"ChallengeName"`
	ChallengeResponses map[string]string `json:"ChallengeResponses"`
	ClientID           string            `json:"ClientId"`
	Session            string            `json:"Session"`
	ClientMetadata     map[string]string `json:"ClientMetadata"`
}

func respondToAuthChallenge(c *call) (any, error) {
	var req respondRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	return c.respond(req)
}

// respond answers a challenge: RespondToAuthChallenge's and
// AdminRespondToAuthChallenge's work once the call is let through.
func (c *call) respond(req respondRequest) (any, error) {
	cl, err := c.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if req.ChallengeName == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter ChallengeName")
	}
	// PASSWORD_VERIFIER's SECRET_BLOCK carries its challenge: clients
	// such as pycognito send no Session with it.
	srpAnswer := req.ChallengeName == pool.ChallengePasswordVerifier
	if req.Session == "" && !srpAnswer {
		return nil, errf("InvalidParameterException", "Missing required parameter Session")
	}
	r := req.ChallengeResponses
	// After SRP, Cognito's clients name the user by USER_ID_FOR_SRP (the
	// user's id) and hash over it; the machine's session, not USERNAME,
	// says whose sign-in it is.
	if err := checkSecretHash(cl, r["SECRET_HASH"], r["USERNAME"]); err != nil {
		return nil, err
	}
	var session string
	if req.Session != "" {
		id, s, ok := unwrapSession(req.Session)
		if !ok || id != cl.ID {
			return nil, errBadSession
		}
		session = s
	}
	if req.ChallengeName == pool.ChallengeMFASetup && isSetupDone(session) {
		// VerifySoftwareToken answered the machine already.
		d, ok, err := c.h.seal.open(c.ctx(), clientBinding(cl), session, time.Now())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errBadSession
		}
		u, err := c.h.cfg.Pool.User(c.ctx(), d.UserID)
		if err != nil || !u.Enabled {
			return nil, errBadSession
		}
		return c.issue(cl, u, d.AMR, time.Unix(d.AuthTime, 0))
	}
	a := pool.Answer{Session: session, Client: clientBinding(cl), Name: req.ChallengeName}
	switch req.ChallengeName {
	case pool.ChallengeCustom:
		a.Custom = r["ANSWER"]
		if a.Custom == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter ANSWER")
		}
	case pool.ChallengeNewPasswordRequired:
		a.NewPassword = r["NEW_PASSWORD"]
		if a.NewPassword == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter NEW_PASSWORD")
		}
	case pool.ChallengeSoftwareTokenMFA:
		a.Code = r["SOFTWARE_TOKEN_MFA_CODE"]
	case pool.ChallengeEmailOTP:
		// The code of a sign-in's EMAIL_OTP or of an email set-up: the
		// session's own step takes it.
		a.Code, a.Name = r["EMAIL_OTP_CODE"], ""
	case pool.ChallengeSMSMFA:
		// Likewise for SMS_MFA and an SMS set-up.
		a.Code, a.Name = r["SMS_MFA_CODE"], ""
	case pool.ChallengeMFASetup:
		// Email codes chosen (Cognito's answer names the address, which
		// here is the user's own); an app's set-up is answered with the
		// Session VerifySoftwareToken returned (above), not this one.
		if r["EMAIL"] == "" {
			return nil, errBadSession
		}
		a.Select = pool.ChallengeEmailOTP
	case pool.ChallengeSelectMFAType:
		switch ans := r["ANSWER"]; {
		case ans == pool.ChallengeEmailOTP, ans == pool.ChallengeSMSMFA && c.h.cfg.Pool.CanTextCodes():
			// The session's own step (a second factor's or a set-up's)
			// takes the choice.
			a.Select, a.Name = r["ANSWER"], ""
		case ans == pool.ChallengeSoftwareTokenMFA:
			// Any second-factor session takes an app's code: ask it
			// with the same session.
			return &authAnswer{ChallengeName: pool.ChallengeSoftwareTokenMFA, Session: req.Session,
				ChallengeParameters: map[string]string{"USERNAME": r["USERNAME"]}}, nil
		default:
			return nil, errf("InvalidParameterException", "ANSWER must be SOFTWARE_TOKEN_MFA, SMS_MFA or EMAIL_OTP")
		}
	case pool.ChallengeSelectChallenge:
		// USER_AUTH's choice, with the password (or SRP_A) when it is
		// the password's.
		a.Select, a.Password, a.SRPA, a.RelyingParty = r["ANSWER"], r["PASSWORD"], r["SRP_A"], c.h.cfg.WebAuthn
		if a.Select == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter ANSWER")
		}
	case pool.ChallengeWebAuthn:
		// USER_AUTH's passkey: the assertion (AuthenticationResponseJSON);
		// the ceremony is in the Session.
		if r["CREDENTIAL"] == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter CREDENTIAL")
		}
		a.RelyingParty = c.h.cfg.WebAuthn
		if a.RelyingParty != nil {
			a.Passkey = &pool.PasskeyAnswer{RelyingParty: *a.RelyingParty, Credential: []byte(r["CREDENTIAL"])}
		}
	case pool.ChallengePasswordVerifier:
		// USER_SRP_AUTH's proof; the pool checks it (pool/srp.go).
		a.PasswordClaimSignature = r["PASSWORD_CLAIM_SIGNATURE"]
		a.PasswordClaimSecretBlock = r["PASSWORD_CLAIM_SECRET_BLOCK"]
		a.Timestamp = r["TIMESTAMP"]
		if a.PasswordClaimSignature == "" || a.PasswordClaimSecretBlock == "" || a.Timestamp == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter PASSWORD_CLAIM_SIGNATURE, PASSWORD_CLAIM_SECRET_BLOCK or TIMESTAMP")
		}
	default:
		return nil, errf("InvalidParameterException", "Unsupported ChallengeName: "+clip(req.ChallengeName))
	}
	if (req.ChallengeName == pool.ChallengeSoftwareTokenMFA || req.ChallengeName == pool.ChallengeEmailOTP || req.ChallengeName == pool.ChallengeSMSMFA) && a.Code == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter for the code")
	}
	step, err := c.h.cfg.Pool.RespondToAuthChallenge(c.ctx(), a)
	if err != nil {
		// A wrong code comes with a fresh step; Cognito's answer is the
		// error alone, and the session given stays good (a refused
		// answer does not spend it).
		return nil, err
	}
	return c.answerStep(cl, step)
}

// customAuth starts CUSTOM_AUTH (InitiateAuth's and AdminInitiateAuth's):
// the pool's define hook decides the first step.
func (c *call) customAuth(cl *oidc.Client, p map[string]string) (*authAnswer, error) {
	if p["USERNAME"] == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter USERNAME")
	}
	if err := checkSecretHash(cl, p["SECRET_HASH"], p["USERNAME"]); err != nil {
		return nil, err
	}
	a := pool.CustomAuth{Username: p["USERNAME"], Client: clientBinding(cl)}
	if p["SRP_A"] != "" {
		// amazon-cognito-identity-js's CUSTOM_AUTH with a password: the
		// define hook may ask PASSWORD_VERIFIER first.
		if p["CHALLENGE_NAME"] != "" && p["CHALLENGE_NAME"] != "SRP_A" {
			return nil, errf("InvalidParameterException", "CHALLENGE_NAME must be SRP_A")
		}
		a.SRPA, a.PoolName = p["SRP_A"], srp.PoolName(c.h.cfg.PoolID)
	}
	step, err := c.h.cfg.Pool.InitiateCustomAuth(c.ctx(), a)
	if err != nil {
		return nil, err
	}
	return c.answerStep(cl, step)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
