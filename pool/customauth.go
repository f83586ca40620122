package pool

import (
	"context"
	"errors"
	"maps"
	"math/big"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// Custom authentication (Cognito's CUSTOM_AUTH): the pool's
// define_auth_challenge hook decides the run of challenges, its
// create_auth_challenge hook makes each CUSTOM_CHALLENGE and its
// verify_auth_challenge_response hook judges each answer. The run's
// history and the challenge's private parameters ride in the machine's
// sealed, single-use session, never in server memory; the private
// parameters leave the server only to the verify hook.
//
//	InitiateCustomAuth -> define(session []) -> fail | tokens | CUSTOM_CHALLENGE: create -> challenge
//	CUSTOM_CHALLENGE answer -> verify -> session + {CUSTOM_CHALLENGE, answerCorrect, metadata}
//	                        -> define(session) -> ...
//	tokens -> the user's own checks (disabled, status), then their second factor, if any
//	SRP_A given: define(session [{SRP_A, true}]) -> PASSWORD_VERIFIER (srpStep, answered
//	             as USER_SRP_AUTH's; wrong ends the run) -> + {PASSWORD_VERIFIER, true} -> define
//
// Every login, known or not, runs the same way (the hooks are told
// userNotFound); an unknown one can never end in tokens.

// ChallengeCustom is a challenge of the pool's create_auth_challenge hook;
// answer with Answer.Custom (Cognito's ChallengeResponses ANSWER).
const ChallengeCustom = "CUSTOM_CHALLENGE"

// challengeSRPA opens the history of a run started with SRP_A.
const challengeSRPA = "SRP_A"

// AMRCustom names a sign-in whose first factor was the custom challenges.
const AMRCustom = "custom"

// How long a custom challenge may be answered (Cognito's default session
// validity), and how many challenges a run may have: a run that reaches
// the bound without tokens fails. Cognito's own bound is not documented
// where we could find it; this one keeps the sealed history small.
const (
	customTTL       = 3 * time.Minute
	MaxCustomRounds = 8
	// maxChallengeMetadata bounds each challenge's metadata, which rides
	// along in every later session.
	maxChallengeMetadata = 512
	// maxCustomParams bounds the private parameters sealed per challenge.
	maxCustomParams = 2048
)

// Errors of custom authentication.
var (
	// ErrCustomAuthUnavailable: the pool has no define and create hooks.
	ErrCustomAuthUnavailable = errors.New("custom authentication is not configured for this user pool")
	// ErrCustomChallengeInvalid: a hook answered what cannot be asked
	// (an unknown challenge name, oversized parameters).
	ErrCustomChallengeInvalid = errors.New("the custom authentication hooks answered an invalid challenge")
)

// ChallengeResult is one challenge of a custom run, as Cognito's
// ChallengeResult in the define and create hooks' session.
type ChallengeResult struct {
	ChallengeName     string `json:"challengeName"`
	ChallengeResult   bool   `json:"challengeResult"`
	ChallengeMetadata string `json:"challengeMetadata,omitempty"`
}

// CustomAuth starts a CUSTOM_AUTH sign-in.
type CustomAuth struct {
	Username string
	// Client binds the challenge sessions, as PasswordAuth.Client.
	Client string
	// SRPA, when set, starts the run with Cognito's SRP_A (a pool with
	// SRP on): the define hook's session begins {SRP_A, true}, and it may
	// ask PASSWORD_VERIFIER, answered as USER_SRP_AUTH's.
	SRPA string
	// PoolName, when set, must be the pool's SRPConfig.PoolName.
	PoolName string
}

type defineRequest struct {
	UserAttributes map[string]string `json:"userAttributes"`
	Session        []ChallengeResult `json:"session"`
	ClientMetadata map[string]string `json:"clientMetadata"`
	UserNotFound   bool              `json:"userNotFound"`
}

type defineResponse struct {
	ChallengeName      string `json:"challengeName"`
	IssueTokens        bool   `json:"issueTokens"`
	FailAuthentication bool   `json:"failAuthentication"`
}

type createRequest struct {
	UserAttributes map[string]string `json:"userAttributes"`
	ChallengeName  string            `json:"challengeName"`
	Session        []ChallengeResult `json:"session"`
	ClientMetadata map[string]string `json:"clientMetadata"`
	UserNotFound   bool              `json:"userNotFound"`
}

type createResponse struct {
	PublicChallengeParameters  map[string]string `json:"publicChallengeParameters"`
	PrivateChallengeParameters map[string]string `json:"privateChallengeParameters"`
	ChallengeMetadata          string            `json:"challengeMetadata"`
}

type verifyRequest struct {
	UserAttributes             map[string]string `json:"userAttributes"`
	PrivateChallengeParameters map[string]string `json:"privateChallengeParameters"`
	ChallengeAnswer            string            `json:"challengeAnswer"`
	ClientMetadata             map[string]string `json:"clientMetadata"`
	UserNotFound               bool              `json:"userNotFound"`
}

type verifyResponse struct {
	AnswerCorrect bool `json:"answerCorrect"`
}

// CustomAuthOn reports whether the pool has the hooks CUSTOM_AUTH needs.
func (p *Pool) CustomAuthOn() bool {
	return trigger.Configured(p.triggers, trigger.DefineAuthChallenge) &&
		trigger.Configured(p.triggers, trigger.CreateAuthChallenge) &&
		trigger.Configured(p.triggers, trigger.VerifyAuthChallengeResponse)
}

// customRun is a custom sign-in between two steps.
type customRun struct {
	client string
	login  string // normalized, or as typed when no address
	user   *store.User
	// failures are the login's recent failures (cleared by tokens).
	failures int
	history  []ChallengeResult
	// srpA is the client's SRP_A, for a PASSWORD_VERIFIER the define
	// hook may ask once.
	srpA *big.Int
}

// InitiateCustomAuth starts a CUSTOM_AUTH sign-in: the define hook with an
// empty session. Errors: ErrCustomAuthUnavailable, a *LockedOutError,
// ErrInvalidCredentials (the define hook failed the run), a
// *trigger.Error, the store's.
func (p *Pool) InitiateCustomAuth(ctx context.Context, a CustomAuth) (*AuthStep, error) {
	if !p.CustomAuthOn() {
		return nil, ErrCustomAuthUnavailable
	}
	email, _ := p.LoginKey(a.Username)
	login := email
	if email == "" {
		login = a.Username
	}
	failures, err := p.checkLock(ctx, email)
	if err != nil {
		p.auditSignIn(ctx, nil, email, err)
		return nil, err
	}
	run := &customRun{client: a.Client, login: login, failures: failures}
	if a.SRPA != "" {
		if !p.SRPOn() || a.PoolName != "" && a.PoolName != p.srp.PoolName {
			return nil, ErrSRPUnavailable
		}
		if run.srpA, err = srp.ParseA(a.SRPA); err != nil {
			return nil, ErrInvalidSRPA
		}
		run.history = []ChallengeResult{{ChallengeName: challengeSRPA, ChallengeResult: true}}
	}
	_, u, err := p.lookupLogin(ctx, a.Username)
	if err != nil {
		return nil, err
	}
	run.user = u
	return p.customNext(ctx, run)
}

// customNext asks the define hook what follows run's history.
func (p *Pool) customNext(ctx context.Context, run *customRun) (*AuthStep, error) {
	if len(run.history) >= MaxCustomRounds {
		return nil, p.failed(ctx, run.user, run.lockLogin(p))
	}
	attrs, notFound := customAttributes(run.user)
	var def defineResponse
	err := p.callTrigger(ctx, trigger.DefineAuthChallenge, p.customEvent(ctx, "DefineAuthChallenge_Authentication", run,
		defineRequest{UserAttributes: attrs, Session: history(run), ClientMetadata: metadata(ctx), UserNotFound: notFound},
		defineResponse{}), &def, run.user, run.lockLogin(p))
	if err != nil {
		return nil, err
	}
	switch {
	case def.FailAuthentication:
		return nil, p.failed(ctx, run.user, run.lockLogin(p))
	case def.IssueTokens:
		if run.user == nil {
			return nil, p.failed(ctx, nil, run.lockLogin(p))
		}
		return p.customDone(ctx, run)
	case def.ChallengeName == ChallengeCustom:
		return p.customChallenge(ctx, run)
	case def.ChallengeName == ChallengePasswordVerifier && run.srpA != nil && !run.passed(ChallengePasswordVerifier):
		return p.srpStep(ctx, run.client, run.login, run.srpA, run.history)
	}
	return nil, ErrCustomChallengeInvalid
}

// customChallenge asks the create hook for the next CUSTOM_CHALLENGE and
// seals it, with the run, into the step's session.
func (p *Pool) customChallenge(ctx context.Context, run *customRun) (*AuthStep, error) {
	attrs, notFound := customAttributes(run.user)
	var cr createResponse
	err := p.callTrigger(ctx, trigger.CreateAuthChallenge, p.customEvent(ctx, "CreateAuthChallenge_Authentication", run,
		createRequest{UserAttributes: attrs, ChallengeName: ChallengeCustom, Session: history(run),
			ClientMetadata: metadata(ctx), UserNotFound: notFound},
		createResponse{}), &cr, run.user, run.lockLogin(p))
	if err != nil {
		return nil, err
	}
	if len(cr.ChallengeMetadata) > maxChallengeMetadata || paramsSize(cr.PrivateChallengeParameters) > maxCustomParams ||
		paramsSize(cr.PublicChallengeParameters) > maxCustomParams {
		return nil, ErrCustomChallengeInvalid
	}
	s := session{Name: ChallengeCustom, Flow: FlowSignIn, Login: run.login, Custom: run.history,
		Private: cr.PrivateChallengeParameters, Metadata: cr.ChallengeMetadata, Expires: p.now().Add(customTTL).Unix()}
	if run.user != nil {
		s.UserID, s.Fingerprint = run.user.ID, PasswordFingerprint(run.user)
	}
	tok, err := p.sealSession(ctx, run.client, s)
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	maps.Copy(params, cr.PublicChallengeParameters)
	params["USERNAME"] = run.login
	c := &Challenge{Name: ChallengeCustom, Session: tok, Flow: FlowSignIn, User: run.user, Parameters: params}
	return &AuthStep{User: run.user, Challenge: c}, nil
}

// answerCustom judges an answer to a CUSTOM_CHALLENGE with the verify
// hook. The session is spent before: each challenge takes one answer,
// right or wrong, and the define hook says what follows either. A wrong
// answer counts in the login's lockout.
func (p *Pool) answerCustom(ctx context.Context, a Answer) (*AuthStep, error) {
	s, ok, err := p.unsealSession(ctx, a.Client, a.Session)
	if err != nil {
		return nil, err
	}
	if !ok || s.Name != ChallengeCustom || p.now().Unix() > s.Expires {
		return nil, ErrChallengeExpired
	}
	run := &customRun{client: a.Client, login: s.Login, history: s.Custom}
	if s.UserID != "" {
		u, err := p.store.UserByID(ctx, s.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrChallengeExpired
		}
		if err != nil {
			return nil, err
		}
		if PasswordFingerprint(u) != s.Fingerprint {
			return nil, ErrChallengeExpired
		}
		run.user = u
	}
	if run.failures, err = p.checkLock(ctx, run.lockLogin(p)); err != nil {
		p.auditSignIn(ctx, run.user, run.lockLogin(p), err)
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	attrs, notFound := customAttributes(run.user)
	var vr verifyResponse
	err = p.callTrigger(ctx, trigger.VerifyAuthChallengeResponse, p.customEvent(ctx, "VerifyAuthChallengeResponse_Authentication", run,
		verifyRequest{UserAttributes: attrs, PrivateChallengeParameters: orEmpty(s.Private), ChallengeAnswer: a.Custom,
			ClientMetadata: metadata(ctx), UserNotFound: notFound},
		verifyResponse{}), &vr, run.user, run.lockLogin(p))
	if err != nil {
		return nil, err
	}
	right := vr.AnswerCorrect && run.user != nil
	run.history = append(run.history, ChallengeResult{ChallengeName: ChallengeCustom, ChallengeResult: right, ChallengeMetadata: s.Metadata})
	if !right {
		p.auditSignIn(ctx, run.user, run.lockLogin(p), ErrInvalidCredentials)
		if err := p.recordFailure(ctx, run.lockLogin(p)); err != nil {
			return nil, err
		}
		if _, err := p.checkLock(ctx, run.lockLogin(p)); err != nil {
			return nil, err
		}
	}
	return p.customNext(ctx, run)
}

// customDone ends a run the define hook gave tokens: the user's own
// state decides as after a right password, then their second factor.
func (p *Pool) customDone(ctx context.Context, run *customRun) (*AuthStep, error) {
	u, err := p.passwordRight(ctx, run.user, run.lockLogin(p), run.failures)
	if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok {
		return p.challenge(ctx, run.client, session{Name: ChallengeNewPasswordRequired, Flow: FlowSignIn}, npr.User, newPasswordTTL, &Challenge{})
	}
	if err != nil {
		return nil, err
	}
	hasFactor, _, err := p.NeedsMFA(ctx, u)
	if err != nil {
		return nil, err
	}
	if hasFactor {
		// The custom challenges stand for the first factor; a user's
		// second factor is asked as after a password (a pool that
		// requires one and a user without: no set-up asked, as for a
		// federated sign-in).
		return p.secondFactor(ctx, run.client, session{Flow: FlowSignIn, First: AMRCustom}, u, mailIfOnly)
	}
	amr := []string{AMRCustom}
	if run.passed(ChallengePasswordVerifier) {
		amr = []string{AMRPassword, AMRCustom}
	}
	return p.authenticated(ctx, u, amr, "custom", nil)
}

// passed reports whether the run answered a challenge named name right.
func (r *customRun) passed(name string) bool {
	for _, c := range r.history {
		if c.ChallengeName == name && c.ChallengeResult {
			return true
		}
	}
	return false
}

// lockLogin is what the run counts failures against: the login's key of
// whichever kind it is (address, username, phone; LoginKey, as
// InitiateCustomAuth and SignIn lock on), or nothing for a malformed login.
func (r *customRun) lockLogin(p *Pool) string {
	key, _ := p.LoginKey(r.login)
	return key
}

func (p *Pool) customEvent(ctx context.Context, source string, run *customRun, req, resp any) *trigger.Event {
	name := run.login
	if run.user != nil {
		name = run.user.ID // Cognito's userName: the user's username, which here is the id
	}
	return p.event(ctx, source, name, req, resp)
}

// customAttributes are the user's attributes as Cognito gives them to
// the hooks; an unknown login has none (userNotFound).
func customAttributes(u *store.User) (map[string]string, bool) {
	if u == nil {
		return map[string]string{}, true
	}
	return TriggerAttributes(u), false
}

func history(run *customRun) []ChallengeResult {
	if run.history == nil {
		return []ChallengeResult{}
	}
	return run.history
}

// metadata is the app's ClientMetadata of this call, for the hooks.
func metadata(ctx context.Context) map[string]string {
	return orEmpty(triggerContextOf(ctx).ClientMetadata)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func paramsSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}
