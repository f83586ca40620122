package pool

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// fakeMailer records what the pool sends; fail makes Send fail after
// recording, as a server that took the message and then refused it.
type fakeMailer struct {
	mu   sync.Mutex
	sent []*mail.Message
	fail error
}

func (f *fakeMailer) Send(_ context.Context, m *mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return f.fail
}

func (f *fakeMailer) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeMailer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// last returns the last message, failing the test if there is none or it
// is not of the kind and recipient expected.
func (f *fakeMailer) last(t *testing.T, kind, to string) *mail.Message {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		t.Fatalf("no message sent, want %s to %s", kind, to)
	}
	m := f.sent[len(f.sent)-1]
	if m.Kind != kind || m.To != to {
		t.Fatalf("last message is %s to %s, want %s to %s", m.Kind, m.To, kind, to)
	}
	return m
}

var codeInText = regexp.MustCompile(`(?m)^\s+(\d{6})$`)

// codeOf reads the code out of the message text, as a person would.
func codeOf(t *testing.T, m *mail.Message) string {
	t.Helper()
	c := codeInText.FindStringSubmatch(m.Text)
	if c == nil || c[1] != m.Code {
		t.Fatalf("message text has code %v, want %q:\n%s", c, m.Code, m.Text)
	}
	return c[1]
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// accountPool is a pool with open sign-up, a fake mailer and a clock the
// test moves.
func accountPool(t *testing.T, mod func(*AccountConfig)) (*Pool, *fakeMailer, *clock) {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{}
	acct := AccountConfig{
		SignUp: SignUpOpen,
		Attributes: []AttributeSpec{
			{Name: "name", Required: true},
			{Name: "phone_number"},
			{Name: "custom:tenant", Required: true, Immutable: true, MaxLength: 16},
			{Name: "custom:seats", Type: "number", Min: ptrTo[int64](1), Max: ptrTo[int64](500)},
		},
		AllowDelete: true,
		Mail: &Messenger{Mailer: fm, Templates: tmpl, DisplayName: "Test Pool",
			Link: func(purpose, email, code string) string {
				return "https://app.example.com/_gatehouse/" + purpose + "?code=" + code
			}},
	}
	if mod != nil {
		mod(&acct)
	}
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), Config{Accounts: acct})
	clk := &clock{t: time.Now()}
	p.now = clk.now
	return p, fm, clk
}

func signUpReq(email string) SignUpRequest {
	return SignUpRequest{Email: email, Password: goodPassword,
		Attributes: map[string]string{"name": "Ada Lovelace", "custom:tenant": "acme", "phone_number": "+441234567890"}}
}

func TestPasswordPolicyRules(t *testing.T) {
	strict := PasswordPolicy{MinLength: 8, MaxLength: 20, RequireLowercase: true, RequireUppercase: true, RequireDigit: true, RequireSymbol: true}
	cases := []struct {
		name     string
		policy   PasswordPolicy
		password string
		email    string
		wantRule string // "" for accepted
	}{
		{"long enough", PasswordPolicy{}, "a quiet walk in the hills", "", ""},
		{"too short", PasswordPolicy{}, "short one", "", "at least 12"},
		{"too long", PasswordPolicy{MaxLength: 16}, "seventeen letters", "", "at most 16"},
		{"length in characters, not bytes", PasswordPolicy{}, "ééééééééééé", "", "at least 12"},
		{"invalid UTF-8", PasswordPolicy{}, "abcdefghijk\xff", "", "valid text"},
		{"all classes", strict, "Ab3!defgh", "", ""},
		{"no lowercase", strict, "AB3!DEFGH", "", "lowercase"},
		{"no uppercase", strict, "ab3!defgh", "", "uppercase"},
		{"no digit", strict, "Abc!defgh", "", "digit"},
		{"no symbol", strict, "Ab3xdefgh", "", "symbol"},
		{"space is a symbol", strict, "Ab3 defgh", "", ""},
		{"common", PasswordPolicy{MinLength: 6}, "password", "", "most common"},
		{"common in other case", PasswordPolicy{MinLength: 6}, "PassWord", "", "most common"},
		{"common, long", PasswordPolicy{}, "passwordpassword", "", "most common"},
		{"common allowed", PasswordPolicy{MinLength: 6, AllowCommon: true}, "password", "", ""},
		{"contains the local part", PasswordPolicy{}, "my name is ada.lovelace!", "ada.lovelace@example.com", "email address"},
		{"contains a piece of it", PasswordPolicy{}, "lovelace forever 1815", "ada.lovelace@example.com", `"lovelace"`},
		{"contains it in another case", PasswordPolicy{}, "LOVELACE forever 1815", "ada.lovelace@example.com", "email address"},
		{"short pieces are not refused", PasswordPolicy{}, "adams family values", "ada.lovelace@example.com", ""},
		{"email rule off", PasswordPolicy{AllowEmail: true}, "lovelace forever 1815", "ada.lovelace@example.com", ""},
		{"no email known", PasswordPolicy{}, "lovelace forever 1815", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckFor(tc.password, tc.email)
			if tc.wantRule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			pe, ok := errors.AsType[*PasswordPolicyError](err)
			if !ok || !strings.Contains(pe.Rule, tc.wantRule) {
				t.Fatalf("error %v, want a policy error about %q", err, tc.wantRule)
			}
		})
	}
	rules := strings.Join(strict.Rules(), "; ")
	for _, want := range []string{"8 to 20", "lowercase", "uppercase", "digit", "symbol", "common", "email"} {
		if !strings.Contains(rules, want) {
			t.Errorf("Rules() = %q lacks %q", rules, want)
		}
	}
}

func TestCommonPassword(t *testing.T) {
	for pw, want := range map[string]bool{
		"123456": true, "password": true, "QWERTY": true, "iloveyou": true, "dragon": true,
		"correct horse battery staple": false, "": false, "a quiet walk in the hills": false,
	} {
		if got := CommonPassword(pw); got != want {
			t.Errorf("CommonPassword(%q) = %v, want %v", pw, got, want)
		}
	}
	if n := len(commonPasswords()); n != 96518 {
		t.Errorf("list holds %d passwords, want 96518", n)
	}
}

func TestAttributes(t *testing.T) {
	specs := []struct {
		spec    AttributeSpec
		wantErr string
	}{
		{AttributeSpec{Name: "given_name", Required: true}, ""},
		{AttributeSpec{Name: "custom:tenant", MaxLength: 32}, ""},
		{AttributeSpec{Name: "custom:age", Type: "number", Min: ptrTo[int64](0), Max: ptrTo[int64](150)}, ""},
		{AttributeSpec{Name: "email"}, "every pool"},
		{AttributeSpec{Name: "tenant"}, "not a standard"},
		{AttributeSpec{Name: "custom:this_name_is_far_too_long"}, "not a standard"},
		{AttributeSpec{Name: "locale", Type: "string"}, "fixed"},
		{AttributeSpec{Name: "custom:x", Type: "date"}, "type"},
		{AttributeSpec{Name: "custom:x", Min: ptrTo[int64](1)}, "min and max"},
		{AttributeSpec{Name: "custom:x", Type: "number", MaxLength: 3}, "min_length"},
		{AttributeSpec{Name: "custom:x", MinLength: 10, MaxLength: 5}, "not sensible"},
		{AttributeSpec{Name: "custom:x", MaxLength: 5000}, "not sensible"},
		{AttributeSpec{Name: "custom:x", Type: "number", Min: ptrTo[int64](5), Max: ptrTo[int64](1)}, "above"},
	}
	for _, tc := range specs {
		err := tc.spec.Validate()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.spec, err, tc.wantErr)
		}
	}
	if err := ValidateAttributes([]AttributeSpec{{Name: "name"}, {Name: "name"}}); err == nil {
		t.Error("a duplicate attribute was accepted")
	}

	seats := AttributeSpec{Name: "custom:seats", Type: "number", Min: ptrTo[int64](1), Max: ptrTo[int64](500)}
	values := []struct {
		spec  AttributeSpec
		value string
		want  string // part of the message; "" for fine
	}{
		{AttributeSpec{Name: "given_name"}, "", ""},
		{AttributeSpec{Name: "given_name", Required: true}, "", "Required"},
		{AttributeSpec{Name: "given_name"}, "Zoë", ""},
		{AttributeSpec{Name: "given_name"}, "   ", "only spaces"},
		{AttributeSpec{Name: "given_name"}, "a\x00b", "control"},
		{AttributeSpec{Name: "given_name"}, "\xff", "valid text"},
		{AttributeSpec{Name: "given_name"}, strings.Repeat("x", 257), "at most 256"},
		{AttributeSpec{Name: "custom:t", MinLength: 3}, "ab", "at least 3"},
		{AttributeSpec{Name: "address"}, "1 Main St\nSpringfield", ""},
		{AttributeSpec{Name: "phone_number"}, "+14155550123", ""},
		{AttributeSpec{Name: "phone_number"}, "415 555 0123", "international"},
		{AttributeSpec{Name: "birthdate"}, "1815-12-10", ""},
		{AttributeSpec{Name: "birthdate"}, "1815-13-10", "YYYY-MM-DD"},
		{AttributeSpec{Name: "website"}, "https://ada.example", ""},
		{AttributeSpec{Name: "website"}, "javascript:alert(1)", "web address"},
		{AttributeSpec{Name: "locale"}, "pt-BR", ""},
		{AttributeSpec{Name: "locale"}, "Portuguese!", "language tag"},
		{AttributeSpec{Name: "zoneinfo"}, "America/Argentina/Buenos_Aires", ""},
		{AttributeSpec{Name: "zoneinfo"}, "not a zone", "time zone"},
		{seats, "42", ""},
		{seats, "4.2", "whole number"},
		{seats, "forty", "whole number"},
		{seats, "0", "at least 1"},
		{seats, "501", "at most 500"},
		{AttributeSpec{Name: "custom:b", Type: "boolean"}, "true", ""},
		{AttributeSpec{Name: "custom:b", Type: "boolean"}, "yes", "true or false"},
	}
	for _, tc := range values {
		got := tc.spec.Check(tc.value)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s.Check(%q) = %q, want %q", tc.spec.Name, tc.value, got, tc.want)
		}
	}
}

func TestAccountConfigValidate(t *testing.T) {
	tmpl, _ := mail.LoadTemplates(nil, nil)
	withMail := &Messenger{Mailer: &fakeMailer{}, Templates: tmpl}
	cases := []struct {
		name string
		cfg  AccountConfig
		ok   bool
	}{
		{"defaults", AccountConfig{}, true},
		{"open with mail", AccountConfig{SignUp: SignUpOpen, Mail: withMail}, true},
		{"open without mail", AccountConfig{SignUp: SignUpOpen}, false},
		{"invite without mail", AccountConfig{SignUp: SignUpInvite}, true},
		{"unknown mode", AccountConfig{SignUp: "maybe"}, false},
		{"mail without templates", AccountConfig{Mail: &Messenger{Mailer: &fakeMailer{}}}, false},
		{"bad attribute", AccountConfig{Attributes: []AttributeSpec{{Name: "nope"}}}, false},
		{"too many attempts", AccountConfig{MaxAttempts: 1000}, false},
	}
	for _, tc := range cases {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestSignUpConfirm(t *testing.T) {
	ctx := context.Background()
	p, fm, clk := accountPool(t, nil)

	email, err := p.SignUp(ctx, signUpReq(" Ada@Example.com "))
	if err != nil || email != "ada@example.com" {
		t.Fatalf("SignUp = %q, %v", email, err)
	}
	u, err := p.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusUnconfirmed || u.EmailVerified || u.Name != "Ada Lovelace" ||
		u.Attributes["custom:tenant"] != "acme" || u.Attributes["phone_number"] != "+441234567890" {
		t.Fatalf("new user %+v", u)
	}
	if _, ok := u.Attributes["name"]; ok {
		t.Error("name is kept as an attribute too")
	}
	m := fm.last(t, mail.KindVerifyEmail, email)
	code := codeOf(t, m)
	if !strings.Contains(m.Text, "https://app.example.com/_gatehouse/verify_email?code="+code) || !strings.Contains(m.Text, "24 hours") {
		t.Errorf("message lacks the link or the expiry:\n%s", m.Text)
	}

	// Not yet: the account cannot sign in.
	if _, err := p.SignIn(ctx, email, goodPassword); !errors.Is(err, ErrUserNotConfirmed) {
		t.Fatalf("sign-in before confirming: %v", err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := p.ConfirmSignUp(ctx, email, wrong, goodPassword); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := p.ConfirmSignUp(ctx, "nobody@example.com", code, goodPassword); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("unknown address: %v, want ErrWrongCode", err)
	}
	// Typed with a space in the middle, as people copy codes.
	confirmed, err := p.ConfirmSignUp(ctx, email, code[:3]+" "+code[3:], goodPassword)
	if err != nil {
		t.Fatalf("right code: %v", err)
	}
	if confirmed.Status != store.StatusConfirmed || !confirmed.EmailVerified {
		t.Fatalf("confirmed user %+v", confirmed)
	}
	if _, err := p.SignIn(ctx, email, goodPassword); err != nil {
		t.Fatalf("sign-in after confirming: %v", err)
	}
	if _, err := p.ConfirmSignUp(ctx, email, code, goodPassword); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("code used twice: %v, want ErrCodeExpired", err)
	}
	_ = clk
}

func TestSignUpRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(*SignUpRequest)
		fields []string
	}{
		{"bad email", func(r *SignUpRequest) { r.Email = "not an email" }, []string{"email"}},
		{"weak password", func(r *SignUpRequest) { r.Password = "password1234" }, []string{"password"}},
		{"password with the email", func(r *SignUpRequest) { r.Password = "grace.hopper 1906!" }, []string{"password"}},
		{"missing required", func(r *SignUpRequest) { delete(r.Attributes, "name") }, []string{"name"}},
		{"too long", func(r *SignUpRequest) { r.Attributes["custom:tenant"] = strings.Repeat("t", 17) }, []string{"custom:tenant"}},
		{"wrong type", func(r *SignUpRequest) { r.Attributes["custom:seats"] = "many" }, []string{"custom:seats"}},
		{"invalid UTF-8", func(r *SignUpRequest) { r.Attributes["name"] = "Ada \xff" }, []string{"name"}},
		{"unknown attribute", func(r *SignUpRequest) { r.Attributes["custom:admin"] = "true" }, []string{"custom:admin"}},
		{"several", func(r *SignUpRequest) { r.Email = "x"; r.Password = "short" }, []string{"email", "password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, fm, _ := accountPool(t, nil)
			req := signUpReq("grace.hopper@example.com")
			tc.mutate(&req)
			_, err := p.SignUp(ctx, req)
			fe, ok := errors.AsType[FieldErrors](err)
			if !ok {
				t.Fatalf("SignUp: %v, want FieldErrors", err)
			}
			for _, f := range tc.fields {
				if fe[f] == "" {
					t.Errorf("no error for %s: %v", f, fe)
				}
			}
			if len(fe) != len(tc.fields) {
				t.Errorf("errors %v, want exactly %v", fe, tc.fields)
			}
			if users, _ := p.ListUsers(ctx, store.ListOptions{}); len(users) != 0 {
				t.Errorf("%d users left behind", len(users))
			}
			if fm.count() != 0 {
				t.Errorf("%d messages sent", fm.count())
			}
		})
	}
	for _, mode := range []string{SignUpInvite, SignUpOff} {
		p, _, _ := accountPool(t, func(c *AccountConfig) { c.SignUp = mode })
		if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); !errors.Is(err, ErrSignUpDisabled) {
			t.Errorf("signup %s: %v, want ErrSignUpDisabled", mode, err)
		}
	}
}

// TestSignUpExisting: a sign-up for a taken address answers as for a new
// one, changes nothing, and writes to the owner instead.
func TestSignUpExisting(t *testing.T) {
	ctx := context.Background()
	p, fm, clk := accountPool(t, nil)
	owner := mustCreate(t, p, NewUser{Email: "ada@example.com", Name: "The Real Ada", EmailVerified: true})

	req := signUpReq("ada@example.com")
	req.Password = "an attacker's new password"
	email, err := p.SignUp(ctx, req)
	if err != nil || email != "ada@example.com" {
		t.Fatalf("SignUp of a taken address = %q, %v; want the same answer as a new one", email, err)
	}
	after, _ := p.User(ctx, owner.ID)
	if after.PasswordHash != owner.PasswordHash || after.Name != "The Real Ada" || after.Status != store.StatusConfirmed {
		t.Fatalf("the existing account changed: %+v", after)
	}
	fm.last(t, mail.KindAccountExists, "ada@example.com")
	// Within the cool-down, no second note.
	if _, err := p.SignUp(ctx, req); err != nil {
		t.Fatal(err)
	}
	if fm.count() != 1 {
		t.Errorf("%d messages within the cool-down, want 1", fm.count())
	}
	clk.advance(DefaultResendCooldown + time.Second)
	if _, err := p.SignUp(ctx, req); err != nil {
		t.Fatal(err)
	}
	if fm.count() != 2 {
		t.Errorf("%d messages after the cool-down, want 2", fm.count())
	}

	// An unconfirmed account gets a new code instead.
	if _, err := p.SignUp(ctx, signUpReq("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	first := codeOf(t, fm.last(t, mail.KindVerifyEmail, "grace@example.com"))
	clk.advance(DefaultResendCooldown + time.Second)
	if _, err := p.SignUp(ctx, signUpReq("grace@example.com")); err != nil {
		t.Fatal(err)
	}
	second := codeOf(t, fm.last(t, mail.KindVerifyEmail, "grace@example.com"))
	if first != second {
		if _, err := p.ConfirmSignUp(ctx, "grace@example.com", first, goodPassword); !errors.Is(err, ErrWrongCode) {
			t.Errorf("the replaced code: %v, want ErrWrongCode", err)
		}
	}
	if _, err := p.ConfirmSignUp(ctx, "grace@example.com", second, goodPassword); err != nil {
		t.Errorf("the new code: %v", err)
	}
}

func TestCodeLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("tries", func(t *testing.T) {
		p, fm, _ := accountPool(t, func(c *AccountConfig) { c.MaxAttempts = 3 })
		if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); err != nil {
			t.Fatal(err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		wrong := []string{"000000", "999999", "abc"}
		for i, w := range wrong {
			if w == code {
				w = "123123"
			}
			err := func() error { _, err := p.ConfirmSignUp(ctx, "ada@example.com", w, goodPassword); return err }()
			want := ErrWrongCode
			if i == len(wrong)-1 {
				want = ErrCodeExpired // the last allowed try uses the code up
			}
			if !errors.Is(err, want) {
				t.Fatalf("wrong code %d: %v, want %v", i+1, err, want)
			}
		}
		if _, err := p.ConfirmSignUp(ctx, "ada@example.com", code, goodPassword); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("right code after the limit: %v, want ErrCodeExpired", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		p, fm, clk := accountPool(t, func(c *AccountConfig) { c.CodeTTL = time.Hour })
		if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); err != nil {
			t.Fatal(err)
		}
		m := fm.last(t, mail.KindVerifyEmail, "ada@example.com")
		if !strings.Contains(m.Text, "1 hour") {
			t.Errorf("message does not say 1 hour:\n%s", m.Text)
		}
		clk.advance(time.Hour)
		if _, err := p.ConfirmSignUp(ctx, "ada@example.com", codeOf(t, m), goodPassword); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("expired code: %v, want ErrCodeExpired", err)
		}
	})
	t.Run("resend cool-down", func(t *testing.T) {
		p, fm, clk := accountPool(t, nil)
		if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); err != nil {
			t.Fatal(err)
		}
		old := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		err := p.ResendConfirmation(ctx, "ada@example.com")
		tooSoon, ok := errors.AsType[*TooSoonError](err)
		if !ok || tooSoon.Wait <= 0 || tooSoon.Wait > DefaultResendCooldown {
			t.Fatalf("resend at once: %v, want TooSoonError", err)
		}
		if fm.count() != 1 {
			t.Fatalf("%d messages, want 1", fm.count())
		}
		clk.advance(DefaultResendCooldown)
		if err := p.ResendConfirmation(ctx, "ada@example.com"); err != nil {
			t.Fatalf("resend after the cool-down: %v", err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		if code != old {
			if _, err := p.ConfirmSignUp(ctx, "ada@example.com", old, goodPassword); !errors.Is(err, ErrWrongCode) {
				t.Fatalf("old code after a resend: %v", err)
			}
		}
		if _, err := p.ConfirmSignUp(ctx, "ada@example.com", code, goodPassword); err != nil {
			t.Fatalf("new code: %v", err)
		}
		// Nothing to resend for a confirmed or unknown address, and no hint.
		for _, e := range []string{"ada@example.com", "nobody@example.com", "not an email"} {
			clk.advance(DefaultResendCooldown)
			if err := p.ResendConfirmation(ctx, e); err != nil {
				t.Errorf("resend for %s: %v", e, err)
			}
		}
		if fm.count() != 2 {
			t.Errorf("%d messages, want 2", fm.count())
		}
	})
	t.Run("mail failure", func(t *testing.T) {
		p, fm, _ := accountPool(t, nil)
		fm.setFail(errors.New("451 try later"))
		email, err := p.SignUp(ctx, signUpReq("ada@example.com"))
		if !errors.Is(err, ErrMailNotSent) || email != "ada@example.com" {
			t.Fatalf("SignUp with failing mail = %q, %v; want ErrMailNotSent", email, err)
		}
		// The code stays valid (here we can read the message that failed)
		// and asking again is allowed at once.
		failed := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		fm.setFail(nil)
		if err := p.ResendConfirmation(ctx, "ada@example.com"); err != nil {
			t.Fatalf("resend right after a failed send: %v", err)
		}
		_ = failed
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		if _, err := p.ConfirmSignUp(ctx, "ada@example.com", code, goodPassword); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("failed code stays valid", func(t *testing.T) {
		p, fm, _ := accountPool(t, nil)
		fm.setFail(errors.New("451 try later"))
		if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); !errors.Is(err, ErrMailNotSent) {
			t.Fatal(err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ada@example.com"))
		if _, err := p.ConfirmSignUp(ctx, "ada@example.com", code, goodPassword); err != nil {
			t.Fatalf("the code of a failed send: %v", err)
		}
	})
}

func TestSignInUnverified(t *testing.T) {
	ctx := context.Background()
	p, _, _ := accountPool(t, func(c *AccountConfig) { c.SignInUnverified = true })
	if _, err := p.SignUp(ctx, signUpReq("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	u, err := p.SignIn(ctx, "ada@example.com", goodPassword)
	if err != nil {
		t.Fatalf("sign-in of an unverified user with sign_in_unverified: %v", err)
	}
	if u.EmailVerified {
		t.Error("email_verified is true before confirming")
	}
}

func TestForgotReset(t *testing.T) {
	ctx := context.Background()
	p, fm, clk := accountPool(t, nil)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	mustCreate(t, p, NewUser{Email: "new@example.com", Status: store.StatusUnconfirmed})
	off := mustCreate(t, p, NewUser{Email: "off@example.com"})
	if err := p.SetEnabled(ctx, off.ID, false); err != nil {
		t.Fatal(err)
	}
	// A refresh token the reset must revoke.
	if err := p.Store().SaveRefreshToken(ctx, store.RefreshToken{Hash: "rt", FamilyID: "f", ClientID: "c", UserID: u.ID,
		Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	for _, e := range []string{"nobody@example.com", "new@example.com", "off@example.com", "not an email"} {
		if err := p.ForgotPassword(ctx, e); err != nil {
			t.Errorf("ForgotPassword(%s): %v", e, err)
		}
	}
	if fm.count() != 0 {
		t.Fatalf("%d messages for addresses that cannot reset", fm.count())
	}
	if err := p.ForgotPassword(ctx, "ADA@example.com"); err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, fm.last(t, mail.KindResetPassword, "ada@example.com"))
	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil || fm.count() != 1 {
		t.Fatalf("second request within the cool-down: %v, %d messages; want nil and 1", err, fm.count())
	}

	before := clk.now()
	const newPassword = "a brand new passphrase"
	if _, err := p.ResetPassword(ctx, "ada@example.com", code, "password"); !errors.As(err, new(*PasswordPolicyError)) {
		t.Fatalf("weak new password: %v", err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := p.ResetPassword(ctx, "ada@example.com", wrong, newPassword); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := p.ResetPassword(ctx, "nobody@example.com", code, newPassword); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("unknown address: %v", err)
	}
	got, err := p.ResetPassword(ctx, "ada@example.com", code, newPassword)
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if got.Status != store.StatusConfirmed || !got.EmailVerified {
		t.Errorf("after reset: %+v", got)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old password after reset: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", newPassword); err != nil {
		t.Errorf("new password after reset: %v", err)
	}
	if !p.DenyList().Revoked("s", u.ID, before) {
		t.Error("a session from before the reset is still valid")
	}
	if _, err := p.Store().RefreshTokenByHash(ctx, "rt", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refresh token after reset: %v, want ErrNotFound", err)
	}
	if _, err := p.ResetPassword(ctx, "ada@example.com", code, "yet another passphrase"); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("code used twice: %v", err)
	}
}

func TestInviteAndForcedChange(t *testing.T) {
	ctx := context.Background()
	p, fm, clk := accountPool(t, nil)
	u, pw, err := p.InviteUser(ctx, Invitation{Email: "grace@example.com", Name: "Grace", EmailVerified: true, Send: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusForceChangePassword || len(pw) < 20 {
		t.Fatalf("invited %+v with password %q", u, pw)
	}
	m := fm.last(t, mail.KindInvitation, "grace@example.com")
	if !strings.Contains(m.Text, pw) || !strings.Contains(m.Text, "7 days") {
		t.Errorf("invitation lacks the password or its expiry:\n%s", m.Text)
	}

	_, err = p.SignIn(ctx, "grace@example.com", pw)
	npr, ok := errors.AsType[*NewPasswordRequiredError](err)
	if !ok || npr.User.ID != u.ID {
		t.Fatalf("sign-in with the temporary password: %v", err)
	}
	fp := PasswordFingerprint(npr.User)
	if _, err := p.CompleteNewPassword(ctx, u.ID, "stale", "my very own passphrase"); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("wrong fingerprint: %v", err)
	}
	if _, err := p.CompleteNewPassword(ctx, u.ID, fp, pw); !errors.As(err, new(*PasswordPolicyError)) {
		t.Errorf("the temporary password again: %v", err)
	}
	if _, err := p.CompleteNewPassword(ctx, u.ID, fp, "123456789012"); !errors.As(err, new(*PasswordPolicyError)) {
		t.Errorf("a common password: %v", err)
	}
	done, err := p.CompleteNewPassword(ctx, u.ID, fp, "my very own passphrase")
	if err != nil || done.Status != store.StatusConfirmed {
		t.Fatalf("CompleteNewPassword = %+v, %v", done, err)
	}
	if _, err := p.CompleteNewPassword(ctx, u.ID, fp, "another one entirely"); !errors.Is(err, ErrChallengeExpired) {
		t.Errorf("completing twice: %v", err)
	}
	if _, err := p.SignIn(ctx, "grace@example.com", "my very own passphrase"); err != nil {
		t.Errorf("sign-in with the new password: %v", err)
	}

	// A temporary password that has expired, and a given one.
	v, given, err := p.InviteUser(ctx, Invitation{Email: "late@example.com", TemporaryPassword: "Given-Temp-Pass-99"})
	if err != nil || given != "Given-Temp-Pass-99" {
		t.Fatal(err)
	}
	clk.advance(DefaultTemporaryPasswordTTL - time.Second)
	if _, err := p.SignIn(ctx, "late@example.com", given); !errors.Is(err, ErrNewPasswordRequired) {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.advance(time.Second)
	if _, err := p.SignIn(ctx, "late@example.com", given); !errors.Is(err, ErrTemporaryPasswordExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	if _, err := p.SignIn(ctx, "late@example.com", "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password on an expired one: %v", err)
	}
	if _, err := p.CompleteNewPassword(ctx, v.ID, PasswordFingerprint(v), "my very own passphrase"); !errors.Is(err, ErrTemporaryPasswordExpired) {
		t.Errorf("completing an expired one: %v", err)
	}

	// A failed invitation mail leaves the user for the caller to decide.
	fm.setFail(errors.New("down"))
	if u, _, err := p.InviteUser(ctx, Invitation{Email: "x@example.com", Send: true}); !errors.Is(err, ErrMailNotSent) || u == nil {
		t.Errorf("invitation with failing mail: %v, %v", u, err)
	}

	strict := PasswordPolicy{MinLength: 24, RequireLowercase: true, RequireUppercase: true, RequireDigit: true, RequireSymbol: true}
	p.policy = strict
	for range 50 {
		if g := p.GeneratePassword(); strict.Check(g) != nil || len(g) != 24 {
			t.Fatalf("generated %q does not meet the policy: %v", g, strict.Check(g))
		}
	}
}

func TestAccountChanges(t *testing.T) {
	ctx := context.Background()
	p, fm, clk := accountPool(t, nil)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com", Name: "Ada", Attributes: map[string]string{"custom:tenant": "acme", "phone_number": "+441234567890"}})
	mustCreate(t, p, NewUser{Email: "taken@example.com"})

	t.Run("profile", func(t *testing.T) {
		got, err := p.UpdateProfile(ctx, u.ID, map[string]string{"name": " Ada King ", "custom:seats": "12", "phone_number": ""})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Ada King" || got.Attributes["custom:seats"] != "12" || got.Attributes["custom:tenant"] != "acme" {
			t.Errorf("after update: %+v", got)
		}
		if _, ok := got.Attributes["phone_number"]; ok {
			t.Error("a cleared optional attribute was kept")
		}
		for name, values := range map[string]map[string]string{
			"immutable":      {"custom:tenant": "evil"},
			"required empty": {"name": ""},
			"bad value":      {"custom:seats": "0"},
			"unknown":        {"custom:role": "admin"},
			"email":          {"email": "x@example.com"},
		} {
			before, _ := p.User(ctx, u.ID)
			if _, err := p.UpdateProfile(ctx, u.ID, values); !errors.As(err, new(FieldErrors)) {
				t.Errorf("%s: %v, want FieldErrors", name, err)
			}
			after, _ := p.User(ctx, u.ID)
			if after.Name != before.Name || len(after.Attributes) != len(before.Attributes) {
				t.Errorf("%s changed the user", name)
			}
		}
	})

	t.Run("password", func(t *testing.T) {
		before := clk.now()
		if _, err := p.ChangePassword(ctx, u.ID, Confirmation{Password: "wrong password here"}, "a new passphrase here"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("wrong current password: %v", err)
		}
		if _, err := p.ChangePassword(ctx, u.ID, Confirmation{Password: goodPassword}, goodPassword); !errors.As(err, new(*PasswordPolicyError)) {
			t.Errorf("same password: %v", err)
		}
		if _, err := p.ChangePassword(ctx, u.ID, Confirmation{Password: goodPassword}, "a new passphrase here"); err != nil {
			t.Fatal(err)
		}
		if !p.DenyList().Revoked("s", u.ID, before) {
			t.Error("other sessions survive a password change")
		}
		if _, err := p.SignIn(ctx, "ada@example.com", "a new passphrase here"); err != nil {
			t.Error(err)
		}
	})

	t.Run("email", func(t *testing.T) {
		const pw = "a new passphrase here"
		if _, err := p.RequestEmailChange(ctx, u.ID, Confirmation{Password: "wrong password here"}, "ada.king@example.com"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		if _, err := p.RequestEmailChange(ctx, u.ID, Confirmation{Password: pw}, "ADA@example.com"); !errors.Is(err, ErrSameEmail) {
			t.Errorf("same address: %v", err)
		}
		if _, err := p.RequestEmailChange(ctx, u.ID, Confirmation{Password: pw}, "not an email"); !errors.Is(err, ErrInvalidEmail) {
			t.Errorf("bad address: %v", err)
		}
		e, err := p.RequestEmailChange(ctx, u.ID, Confirmation{Password: pw}, "Ada.King@example.com")
		if err != nil || e != "ada.king@example.com" {
			t.Fatalf("RequestEmailChange = %q, %v", e, err)
		}
		code := codeOf(t, fm.last(t, mail.KindVerifyNewEmail, "ada.king@example.com"))
		target, _, err := p.PendingEmailChange(ctx, u.ID)
		if err != nil || target != "ada.king@example.com" {
			t.Fatalf("pending = %q, %v", target, err)
		}
		// Nothing changes before the code.
		if cur, _ := p.User(ctx, u.ID); cur.Email != "ada@example.com" {
			t.Fatalf("email changed before confirming: %s", cur.Email)
		}
		got, err := p.ConfirmEmailChange(ctx, u.ID, code)
		if err != nil || got.Email != "ada.king@example.com" || !got.EmailVerified {
			t.Fatalf("ConfirmEmailChange = %+v, %v", got, err)
		}
		if target, _, _ := p.PendingEmailChange(ctx, u.ID); target != "" {
			t.Errorf("still pending: %s", target)
		}

		// An address taken between the request and the code.
		other := mustCreate(t, p, NewUser{Email: "other@example.com"})
		if _, err := p.RequestEmailChange(ctx, other.ID, Confirmation{Password: goodPassword}, "taken@example.com"); err != nil {
			t.Fatal(err)
		}
		code = codeOf(t, fm.last(t, mail.KindVerifyNewEmail, "taken@example.com"))
		if _, err := p.ConfirmEmailChange(ctx, other.ID, code); !errors.Is(err, ErrEmailTaken) {
			t.Errorf("confirming a taken address: %v", err)
		}
		if cur, _ := p.User(ctx, other.ID); cur.Email != "other@example.com" {
			t.Errorf("email became %s", cur.Email)
		}
	})

	t.Run("delete", func(t *testing.T) {
		v := mustCreate(t, p, NewUser{Email: "leaving@example.com"})
		if err := p.DeleteOwnAccount(ctx, v.ID, Confirmation{Password: "wrong password here"}); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		if err := p.DeleteOwnAccount(ctx, v.ID, Confirmation{Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.User(ctx, v.ID); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("user after deletion: %v", err)
		}
		q, _, _ := accountPool(t, func(c *AccountConfig) { c.AllowDelete = false })
		w := mustCreate(t, q, NewUser{Email: "stay@example.com"})
		if err := q.DeleteOwnAccount(ctx, w.ID, Confirmation{Password: goodPassword}); !errors.Is(err, ErrDeleteNotAllowed) {
			t.Errorf("deletion not allowed: %v", err)
		}
	})
}
