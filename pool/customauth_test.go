package pool

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The custom challenge trio of a one-time code: define asks a
// CUSTOM_CHALLENGE until one is right (tokens) or three are wrong (fail);
// create puts the code in the private parameters; verify compares.
func codeTrio(code string) map[trigger.Kind]func(*trigger.Event) (any, error) {
	return map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.DefineAuthChallenge: func(ev *trigger.Event) (any, error) {
			req := ev.Request.(map[string]any)
			sess, _ := req["session"].([]any)
			if n := len(sess); n > 0 {
				last := sess[n-1].(map[string]any)
				if last["challengeResult"] == true {
					return map[string]any{"issueTokens": true}, nil
				}
				if n >= 3 {
					return map[string]any{"failAuthentication": true}, nil
				}
			}
			return map[string]any{"challengeName": "CUSTOM_CHALLENGE"}, nil
		},
		trigger.CreateAuthChallenge: func(ev *trigger.Event) (any, error) {
			return map[string]any{"publicChallengeParameters": map[string]string{"hint": "the code"},
				"privateChallengeParameters": map[string]string{"code": code}, "challengeMetadata": "CODE"}, nil
		},
		trigger.VerifyAuthChallengeResponse: func(ev *trigger.Event) (any, error) {
			req := ev.Request.(map[string]any)
			priv, _ := req["privateChallengeParameters"].(map[string]any)
			return map[string]any{"answerCorrect": priv["code"] == req["challengeAnswer"]}, nil
		},
	}
}

func customStart(t *testing.T, m *machine, login string) *Challenge {
	t.Helper()
	step, err := m.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: login, Client: machineClient})
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeCustom {
		t.Fatalf("InitiateCustomAuth(%s): %s, %v; want CUSTOM_CHALLENGE", login, describe(step), err)
	}
	return step.Challenge
}

func customAnswer(t *testing.T, m *machine, c *Challenge, answer string) (*AuthStep, error) {
	t.Helper()
	return m.p.RespondToAuthChallenge(t.Context(), Answer{Session: c.Session, Client: machineClient, Name: ChallengeCustom, Custom: answer})
}

func TestCustomAuth(t *testing.T) {
	h := &hooks{answer: codeTrio("424242")}
	m := migrationPool(t, h, MFAConfig{})
	m.user(t, "ada@example.com")
	c := customStart(t, m, "Ada@example.com")
	if c.Parameters["hint"] != "the code" || c.Parameters["USERNAME"] != "ada@example.com" || c.Parameters["code"] != "" {
		t.Errorf("parameters = %v: want the public ones and USERNAME, never the private", c.Parameters)
	}
	if strings.Contains(c.Session, "424242") {
		t.Error("the private parameters are readable in the session")
	}
	step, err := customAnswer(t, m, c, "000000")
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeCustom {
		t.Fatalf("wrong answer: %s, %v; want another CUSTOM_CHALLENGE", describe(step), err)
	}
	// The session is single-use.
	if _, err := customAnswer(t, m, c, "424242"); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("a spent session answered again: %v", err)
	}
	// Another client's binding opens nothing.
	if _, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: step.Challenge.Session, Client: "other", Name: ChallengeCustom, Custom: "424242"}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("another client's answer: %v", err)
	}
	done, err := customAnswer(t, m, step.Challenge, "424242")
	if err != nil || done.Auth == nil {
		t.Fatalf("right answer: %s, %v; want tokens", describe(done), err)
	}
	if got := strings.Join(done.Auth.AMR, " "); got != AMRCustom {
		t.Errorf("amr = %q", got)
	}
	// The define hook saw the run's history: empty, a wrong and a right.
	var sessions []int
	for _, ev := range h.events {
		if ev.TriggerSource == "DefineAuthChallenge_Authentication" {
			sessions = append(sessions, len(ev.Request.(map[string]any)["session"].([]any)))
		}
		if ev.TriggerSource == "VerifyAuthChallengeResponse_Authentication" && ev.Request.(map[string]any)["userNotFound"] != false {
			t.Errorf("verify of a known user: %v", ev.Request)
		}
	}
	if len(sessions) != 3 || sessions[0] != 0 || sessions[1] != 1 || sessions[2] != 2 {
		t.Errorf("define's session lengths = %v, want [0 1 2]", sessions)
	}
}

func TestCustomAuthFails(t *testing.T) {
	h := &hooks{answer: codeTrio("424242")}
	m := migrationPool(t, h, MFAConfig{})
	m.user(t, "ada@example.com")
	c := customStart(t, m, "ada@example.com")
	var err error
	for i := range 3 {
		var step *AuthStep
		step, err = customAnswer(t, m, c, "wrong")
		if i < 2 {
			if err != nil || step.Challenge == nil {
				t.Fatalf("wrong answer %d: %s, %v", i, describe(step), err)
			}
			c = step.Challenge
		}
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("third wrong answer: %v, want ErrInvalidCredentials", err)
	}
	if n := len(auditOf(t, m.p, "ada@example.com", AuditSignInFailed)); n < 3 {
		t.Errorf("%d failures audited, want each wrong answer", n)
	}
}

// Wrong answers count in the lockout of the login as typed, whatever its
// kind: a username's as an address's.
func TestCustomAuthLocksUsernames(t *testing.T) {
	m := migrationPoolWith(t, &hooks{answer: codeTrio("424242")}, MFAConfig{Lockout: LockoutConfig{Threshold: 3}},
		func(a *AccountConfig) { a.SignInWith = []string{LoginEmail, LoginUsername} })
	mustCreate(t, m.p, NewUser{Email: "ada@example.com", Password: goodPassword, Attributes: map[string]string{AttrUsername: "ada"}})
	c := customStart(t, m, "Ada")
	for i := range 3 {
		step, err := customAnswer(t, m, c, "wrong")
		if i == 2 {
			break
		}
		if err != nil || step.Challenge == nil {
			t.Fatalf("wrong answer %d: %s, %v", i, describe(step), err)
		}
		c = step.Challenge
	}
	var lo *LockedOutError
	if _, err := m.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "ada", Client: machineClient}); !errors.As(err, &lo) {
		t.Fatalf("after three wrong answers for the username: %v, want a lockout", err)
	}
}

// An unknown login runs as a known one does and never gets tokens, even
// when its hooks would give them.
func TestCustomAuthUnknownUser(t *testing.T) {
	h := &hooks{answer: codeTrio("424242")}
	m := migrationPool(t, h, MFAConfig{})
	c := customStart(t, m, "nobody@example.com")
	if c.Parameters["USERNAME"] != "nobody@example.com" || c.Parameters["hint"] != "the code" {
		t.Errorf("parameters = %v", c.Parameters)
	}
	step, err := customAnswer(t, m, c, "424242")
	if err != nil || step.Challenge == nil {
		t.Fatalf("right code of nobody: %s, %v; want another challenge (as a wrong answer)", describe(step), err)
	}
	for _, ev := range h.events {
		if req := ev.Request.(map[string]any); req["userNotFound"] != true {
			t.Errorf("%s without userNotFound", ev.TriggerSource)
		}
	}
	issue := codeTrio("x")
	issue[trigger.DefineAuthChallenge] = func(*trigger.Event) (any, error) { return map[string]any{"issueTokens": true}, nil }
	m2 := migrationPool(t, &hooks{answer: issue}, MFAConfig{})
	if _, err := m2.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "nobody@example.com", Client: machineClient}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("tokens for nobody: %v", err)
	}
}

// Tokens from the hooks are not the end for a user with a second factor.
func TestCustomAuthThenSecondFactor(t *testing.T) {
	h := &hooks{answer: codeTrio("424242")}
	m := migrationPool(t, h, MFAConfig{Mode: MFAOptional})
	_, secret := m.user(t, "ada@example.com", "totp")
	step, err := customAnswer(t, m, customStart(t, m, "ada@example.com"), "424242")
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeSoftwareTokenMFA {
		t.Fatalf("after the hooks: %s, %v; want SOFTWARE_TOKEN_MFA", describe(step), err)
	}
	done, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: step.Challenge.Session, Client: machineClient, Code: codeAt(t, secret, m.clk.now())})
	if err != nil || done.Auth == nil {
		t.Fatalf("code: %s, %v", describe(done), err)
	}
	if got := strings.Join(done.Auth.AMR, " "); !strings.HasPrefix(got, AMRCustom+" ") || strings.Contains(got, AMRPassword) {
		t.Errorf("amr = %q, want custom first, no pwd", got)
	}
}

func TestCustomAuthLimits(t *testing.T) {
	endless := codeTrio("x")
	endless[trigger.DefineAuthChallenge] = func(*trigger.Event) (any, error) { return map[string]any{"challengeName": "CUSTOM_CHALLENGE"}, nil }
	endless[trigger.VerifyAuthChallengeResponse] = func(*trigger.Event) (any, error) { return map[string]any{"answerCorrect": true}, nil }
	m := migrationPool(t, &hooks{answer: endless}, MFAConfig{Lockout: LockoutConfig{Off: true}})
	m.user(t, "ada@example.com")
	c := customStart(t, m, "ada@example.com")
	var err error
	for range MaxCustomRounds {
		var step *AuthStep
		if step, err = customAnswer(t, m, c, "x"); err != nil {
			break
		}
		c = step.Challenge
	}
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("after %d rounds: %v, want the run failed", MaxCustomRounds, err)
	}
	bad := codeTrio("x")
	bad[trigger.DefineAuthChallenge] = func(*trigger.Event) (any, error) { return map[string]any{"challengeName": "SMS_MFA"}, nil }
	m2 := migrationPool(t, &hooks{answer: bad}, MFAConfig{})
	if _, err := m2.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "a@example.com", Client: machineClient}); !errors.Is(err, ErrCustomChallengeInvalid) {
		t.Errorf("unknown challenge name: %v", err)
	}
	big := codeTrio(strings.Repeat("x", maxCustomParams+1))
	m3 := migrationPool(t, &hooks{answer: big}, MFAConfig{})
	if _, err := m3.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "a@example.com", Client: machineClient}); !errors.Is(err, ErrCustomChallengeInvalid) {
		t.Errorf("oversized private parameters: %v", err)
	}
	none := migrationPool(t, &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){}}, MFAConfig{})
	if _, err := none.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "a@example.com", Client: machineClient}); !errors.Is(err, ErrCustomAuthUnavailable) {
		t.Errorf("without hooks: %v", err)
	}
	deny := codeTrio("x")
	deny[trigger.DefineAuthChallenge] = func(*trigger.Event) (any, error) {
		return nil, &trigger.Error{Kind: trigger.DefineAuthChallenge, Denied: true, Reason: "no"}
	}
	m4 := migrationPool(t, &hooks{answer: deny}, MFAConfig{})
	if _, err := m4.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "a@example.com", Client: machineClient}); err == nil {
		t.Error("a refusing define hook started a run")
	} else if _, ok := errors.AsType[*trigger.Error](err); !ok {
		t.Errorf("refusal = %v, want the *trigger.Error", err)
	}
}

// The "SRP_A, then PASSWORD_VERIFIER, then a custom challenge" run of
// amazon-cognito-identity-js's CUSTOM_AUTH with a password.
func TestCustomAuthWithSRP(t *testing.T) {
	trio := codeTrio("424242")
	var sessions [][]any
	trio[trigger.DefineAuthChallenge] = func(ev *trigger.Event) (any, error) {
		sess, _ := ev.Request.(map[string]any)["session"].([]any)
		sessions = append(sessions, sess)
		if len(sess) == 0 {
			return map[string]any{"challengeName": "PASSWORD_VERIFIER"}, nil
		}
		last, _ := sess[len(sess)-1].(map[string]any)
		switch {
		case len(sess) == 1 && last["challengeName"] == "SRP_A":
			return map[string]any{"challengeName": "PASSWORD_VERIFIER"}, nil
		case last["challengeName"] == "PASSWORD_VERIFIER" && last["challengeResult"] == true:
			return map[string]any{"challengeName": "CUSTOM_CHALLENGE"}, nil
		case last["challengeName"] == "CUSTOM_CHALLENGE" && last["challengeResult"] == true:
			return map[string]any{"issueTokens": true}, nil
		}
		return map[string]any{"failAuthentication": true}, nil
	}
	m := srpMachine(t, "", srpPoolName)
	m.p.triggers = &hooks{answer: trio}
	m.user(t, "ada@example.com")
	start := func(email string) (*srp.Client, *Challenge) {
		c := srp.NewClient()
		step, err := m.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: email, Client: machineClient, SRPA: c.AHex(), PoolName: srpPoolName})
		if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengePasswordVerifier {
			t.Fatalf("InitiateCustomAuth with SRP_A: %s, %v; want PASSWORD_VERIFIER", describe(step), err)
		}
		return c, step.Challenge
	}
	c, ch := start("ada@example.com")
	step, err := m.p.RespondToAuthChallenge(t.Context(), srpAnswer(t, m, c, ch, goodPassword))
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeCustom {
		t.Fatalf("after the password: %s, %v; want CUSTOM_CHALLENGE", describe(step), err)
	}
	done, err := customAnswer(t, m, step.Challenge, "424242")
	if err != nil || done.Auth == nil {
		t.Fatalf("custom answer: %s, %v", describe(done), err)
	}
	if got := strings.Join(done.Auth.AMR, " "); got != "pwd custom" {
		t.Errorf("amr = %q, want pwd custom", got)
	}
	if len(sessions) != 3 || len(sessions[2]) != 3 {
		t.Errorf("define's sessions = %v", sessions)
	}
	// A wrong password ends the run, as USER_SRP_AUTH's.
	c, ch = start("ada@example.com")
	if _, err := m.p.RespondToAuthChallenge(t.Context(), srpAnswer(t, m, c, ch, "not the password")); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	// An unknown login gets a decoy PASSWORD_VERIFIER, answered as wrong.
	c, ch = start("nobody@example.com")
	if _, err := m.p.RespondToAuthChallenge(t.Context(), srpAnswer(t, m, c, ch, goodPassword)); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("unknown login: %v", err)
	}
	// Without SRP_A the define hook's PASSWORD_VERIFIER cannot be asked.
	if _, err := m.p.InitiateCustomAuth(t.Context(), CustomAuth{Username: "ada@example.com", Client: machineClient}); !errors.Is(err, ErrCustomChallengeInvalid) {
		t.Errorf("PASSWORD_VERIFIER without SRP_A: %v", err)
	}
}

// TestCustomAndChoiceSessionsApart: a CUSTOM_AUTH session does not answer
// as a USER_AUTH choice, nor a USER_AUTH session as a custom challenge
// (their sealed states share one format; each path takes only its own).
func TestCustomAndChoiceSessionsApart(t *testing.T) {
	h := &hooks{answer: codeTrio("424242")}
	m := migrationPool(t, h, MFAConfig{})
	m.user(t, "ada@example.com")
	ctx := t.Context()

	c := customStart(t, m, "ada@example.com")
	if _, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: c.Session, Client: machineClient, Name: ChallengeSelectChallenge, Select: FirstFactorPassword, Password: goodPassword}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("a CUSTOM_CHALLENGE session answered as SELECT_CHALLENGE: %v", err)
	}

	step, err := m.p.InitiateUserAuth(ctx, UserAuth{Username: "ada@example.com", Client: machineClient})
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeSelectChallenge {
		t.Fatalf("InitiateUserAuth: %s, %v; want SELECT_CHALLENGE", describe(step), err)
	}
	if _, err := m.p.RespondToAuthChallenge(ctx, Answer{Session: step.Challenge.Session, Client: machineClient, Name: ChallengeCustom, Custom: "424242"}); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("a SELECT_CHALLENGE session answered as CUSTOM_CHALLENGE: %v", err)
	}
	// Each still answers on its own path.
	if done, err := customAnswer(t, m, c, "424242"); err != nil || done.Auth == nil {
		t.Errorf("the custom challenge afterwards: %s, %v; want tokens", describe(done), err)
	}
}
