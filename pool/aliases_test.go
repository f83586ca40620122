package pool

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// aliasPool is smsPool signing in with kinds.
func aliasPool(t *testing.T, kinds ...string) (*Pool, *fakeMailer) {
	t.Helper()
	p, fm, _ := accountPool(t, func(a *AccountConfig) { a.SignInWith = kinds })
	return p, fm
}

func TestAliasLoginKeys(t *testing.T) {
	p, _ := aliasPool(t, LoginEmail, LoginUsername, LoginPhone)
	for _, c := range []struct{ in, key, kind string }{
		{" Ada@Example.com ", "ada@example.com", LoginEmail},
		{"Ada.Lovelace", "ada.lovelace", LoginUsername},
		{"+1 (555) 555-0100", "+15555550100", LoginPhone},
		{"ab", "", LoginUsername},                      // too short
		{"_ada", "", LoginUsername},                    // starts with a symbol
		{"adá", "", LoginUsername},                     // not ASCII
		{"аda", "", LoginUsername},                     // a Cyrillic а
		{"+0123", "", LoginPhone},                      // no E.164
		{"ada@", "", LoginEmail},                       // no address
		{string(make([]byte, 129)), "", LoginUsername}, // too long, and NULs
	} {
		key, kind := p.LoginKey(c.in)
		if key != c.key || kind != c.kind {
			t.Errorf("LoginKey(%q) = %q %s, want %q %s", c.in, key, kind, c.key, c.kind)
		}
	}
	if err := ValidateSignInWith([]string{"email", "nickname"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

func TestSignInByUsernameAndPhone(t *testing.T) {
	p, _ := aliasPool(t, LoginEmail, LoginUsername, LoginPhone)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com", Password: goodPassword, EmailVerified: true,
		Attributes: map[string]string{AttrUsername: "Ada.L", AttrPhone: adaPhone}})
	for _, login := range []string{"ada@example.com", "Ada.L", "ADA.l", "ada.l"} {
		got, err := p.SignIn(ctx, login, goodPassword)
		if err != nil || got.ID != u.ID {
			t.Fatalf("SignIn(%q) = %v, %v", login, got, err)
		}
	}
	// An unverified number signs in nobody, with a wrong password's error.
	if _, err := p.SignIn(ctx, adaPhone, goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unverified number: %v, want ErrInvalidCredentials", err)
	}
	if err := p.setPhoneVerified(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, err := p.SignIn(ctx, "+1 555 555 0100", goodPassword); err != nil || got.ID != u.ID {
		t.Fatalf("verified number: %v, %v", got, err)
	}
	for _, login := range []string{"grace", "+15555550199", "nobody@example.com", "x"} {
		if _, err := p.SignIn(ctx, login, goodPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("unknown %q: %v, want ErrInvalidCredentials", login, err)
		}
	}
	if _, err := p.SignIn(ctx, "Ada.L", "wrong password!"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	// A pool of email alone finds nobody by the other two.
	pe, _ := aliasPool(t)
	mustCreate(t, pe, NewUser{Email: "ada@example.com", Password: goodPassword, Attributes: map[string]string{AttrUsername: "ada.l"}})
	if _, err := pe.SignIn(ctx, "ada.l", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("email-only pool by username: %v", err)
	}
}

func TestAliasLockoutPerLogin(t *testing.T) {
	p, _ := aliasPool(t, LoginEmail, LoginUsername)
	ctx := t.Context()
	mustCreate(t, p, NewUser{Email: "ada@example.com", Password: goodPassword, Attributes: map[string]string{AttrUsername: "ada"}})
	// Failures by one case of the name count for every case of it.
	for i := range p.mfa.Lockout.Threshold {
		login := []string{"ada", "ADA", "Ada"}[i%3]
		if _, err := p.SignIn(ctx, login, "wrong password!"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	var lo *LockedOutError
	if _, err := p.SignIn(ctx, "aDa", goodPassword); !errors.As(err, &lo) {
		t.Fatalf("after the threshold: %v, want a lockout", err)
	}
	// The lock is the login's: another of the account's logins is not
	// told of it (that would tie the name to the address).
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatalf("the address while the name is locked: %v", err)
	}
}

func TestSignUpUsername(t *testing.T) {
	p, fm := aliasPool(t, LoginEmail, LoginUsername)
	ctx := t.Context()
	req := func(email, username string) SignUpRequest {
		r := signUpReq(email)
		r.Attributes[AttrUsername] = username
		return r
	}
	for _, bad := range []string{"ab", "ada@example.com", "+15555550100", "ada lovelace", "ádá"} {
		_, err := p.SignUp(ctx, req("x@example.com", bad))
		var fe FieldErrors
		if !errors.As(err, &fe) || fe[AttrUsername] != MsgUsernameFormat {
			t.Errorf("username %q: %v", bad, err)
		}
	}
	mustCreate(t, p, NewUser{Email: "ada@example.com", Password: goodPassword, Attributes: map[string]string{AttrUsername: "Ada"}})
	sent := fm.count()
	_, err := p.SignUp(ctx, req("eve@example.com", "ADA"))
	var fe FieldErrors
	if !errors.As(err, &fe) || fe[AttrUsername] != MsgUsernameTaken || len(fe) != 1 {
		t.Fatalf("a taken username: %v", err)
	}
	if fm.count() != sent {
		t.Fatal("a refused sign-up mailed something")
	}
	// A pending sign-up's name gives way to the next one (it proved
	// nothing), and the first keeps its account without it.
	if _, err := p.SignUp(ctx, req("squat@example.com", "grace")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignUp(ctx, req("grace@example.com", "Grace")); err != nil {
		t.Fatalf("a name only a pending sign-up holds: %v", err)
	}
	holder, err := p.store.UserByAlias(ctx, store.AliasUsername, "grace")
	if err != nil || holder.Email != "grace@example.com" {
		t.Fatalf("grace is %v, %v", holder, err)
	}
	squat, _ := p.UserByEmail(ctx, "squat@example.com")
	if _, ok := squat.Attributes[AttrUsername]; ok {
		t.Fatalf("the squatter kept the name: %v", squat.Attributes)
	}
	// Confirmed, the name is theirs: a later pending one cannot take it.
	c := codeOf(t, fm.last(t, mail.KindVerifyEmail, "grace@example.com"))
	if _, err := p.ConfirmSignUp(ctx, "grace@example.com", c, goodPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignUp(ctx, req("late@example.com", "grace")); !errors.As(err, &fe) || fe[AttrUsername] != MsgUsernameTaken {
		t.Fatalf("a confirmed user's name: %v", err)
	}
	if u, err := p.SignIn(ctx, "GRACE", goodPassword); err != nil || u.Email != "grace@example.com" {
		t.Fatalf("sign in by the name: %v %v", u, err)
	}
}

func TestUsernameChangeAndForgot(t *testing.T) {
	p, fm := aliasPool(t, LoginEmail, LoginUsername)
	ctx := t.Context()
	ada := mustCreate(t, p, NewUser{Email: "ada@example.com", Password: goodPassword, EmailVerified: true, Attributes: map[string]string{"custom:tenant": "t", AttrUsername: "ada"}})
	bob := mustCreate(t, p, NewUser{Email: "bob@example.com", Password: goodPassword, EmailVerified: true, Attributes: map[string]string{"custom:tenant": "t"}})
	var fe FieldErrors
	if _, err := p.UpdateProfile(ctx, bob.ID, map[string]string{AttrUsername: "ADA"}); !errors.As(err, &fe) || fe[AttrUsername] != MsgUsernameTaken {
		t.Fatalf("taking ada's name: %v", err)
	}
	if _, err := p.UpdateProfile(ctx, ada.ID, map[string]string{AttrUsername: "Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpdateProfile(ctx, bob.ID, map[string]string{AttrUsername: "ada"}); err != nil {
		t.Fatalf("a freed name: %v", err)
	}
	if u, err := p.SignIn(ctx, "lovelace", goodPassword); err != nil || u.ID != ada.ID {
		t.Fatalf("the new name: %v %v", u, err)
	}
	// Forgot by the name mails the address; reset by the name.
	if err := p.ForgotPassword(ctx, "LoveLace"); err != nil {
		t.Fatal(err)
	}
	c := codeOf(t, fm.last(t, mail.KindResetPassword, "ada@example.com"))
	const next = "another good passphrase 7"
	if _, err := p.ResetPassword(ctx, "lovelace", c, next); err != nil {
		t.Fatalf("reset by the name: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", next); err != nil {
		t.Fatal(err)
	}
	if err := p.ForgotPassword(ctx, "nobody-here"); err != nil {
		t.Fatalf("an unknown name: %v", err)
	}
}

func TestVerifiedPhoneUnique(t *testing.T) {
	p, _, gw := smsPool(t)
	p.acct.SignInWith = []string{LoginEmail, LoginPhone}
	if err := p.keepAliases(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	a := userWithPhone(t, p, "a@example.com", true)
	b := userWithPhone(t, p, "b@example.com", true)
	verifyPhone(t, p, gw, a)
	n := gw.Count(adaPhone)
	if _, err := p.SendPhoneCode(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := gw.WaitFor(t, adaPhone, n+1, 5*time.Second)
	if _, err := p.VerifyPhone(ctx, b.ID, d.Code); !errors.Is(err, ErrPhoneTaken) {
		t.Fatalf("verifying a's number on b: %v, want ErrPhoneTaken", err)
	}
	if u, _ := p.User(ctx, b.ID); u.Attributes[AttrPhoneVerified] == "true" {
		t.Fatal("b's number was marked verified")
	}
	if u, err := p.SignIn(ctx, adaPhone, goodPassword); err != nil && !errors.Is(err, ErrInvalidCredentials) || u != nil && u.ID != a.ID {
		t.Fatalf("the number signs in a alone: %v %v", u, err)
	}
}

// TestUserAuthByUsername: USER_AUTH's EMAIL_OTP by a username mails the
// account's address, and its challenge reads the same for a name nobody
// has (the destination is the login typed, masked: never the address
// behind the name).
func TestUserAuthByUsername(t *testing.T) {
	p, fm := choicePool(t)
	p.acct.SignInWith = []string{LoginEmail, LoginUsername}
	if err := p.keepAliases(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com", Attributes: map[string]string{AttrUsername: "lovelace"}})
	start := func(login string) *Challenge {
		t.Helper()
		step, err := p.InitiateUserAuth(ctx, UserAuth{Username: login, Preferred: FirstFactorEmailOTP, Client: "c"})
		if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeEmailOTP {
			t.Fatalf("EMAIL_OTP for %s: %+v, %v", login, step, err)
		}
		return step.Challenge
	}
	known, unknown := start("LoveLace"), start("babbage")
	if d := known.Parameters["CODE_DELIVERY_DESTINATION"]; strings.Contains(d, "example.com") || d == "" {
		t.Errorf("the destination %q tells the address behind the name", d)
	}
	if len(known.Parameters) != len(unknown.Parameters) || known.Parameters["USERNAME"] != "lovelace" || unknown.Parameters["USERNAME"] != "babbage" {
		t.Errorf("known %v, unknown %v", known.Parameters, unknown.Parameters)
	}
	c := mailedCode(t, p, fm, 1)
	if fm.sent[0].To != "ada@example.com" {
		t.Fatalf("mailed %s", fm.sent[0].To)
	}
	step, err := p.RespondToAuthChallenge(ctx, Answer{Session: known.Session, Client: "c", Code: c})
	if err != nil || step.Auth == nil || step.Auth.User.ID != u.ID {
		t.Fatalf("the code: %+v, %v", step, err)
	}
}
