package pool

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// hooks is a stand-in trigger.Invoker for the pool's unit tests: answer
// gives each kind's response (as JSON into resp) or error. The hooks over
// real HTTP are tested end to end in cognito and module.
type hooks struct {
	mu     sync.Mutex
	answer map[trigger.Kind]func(ev *trigger.Event) (any, error)
	events []trigger.Event
	calls  atomic.Int32
}

func (h *hooks) Configured(k trigger.Kind) bool { _, ok := h.answer[k]; return ok }

func (h *hooks) Invoke(ctx context.Context, k trigger.Kind, ev *trigger.Event, resp any) error {
	h.calls.Add(1)
	// The event goes over the wire as JSON: keep what the receiver would
	// see.
	raw, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var seen trigger.Event
	_ = json.Unmarshal(raw, &seen)
	h.mu.Lock()
	h.events = append(h.events, seen)
	h.mu.Unlock()
	out, err := h.answer[k](&seen)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(out)
	if err := json.Unmarshal(b, resp); err != nil {
		return &trigger.Error{Kind: k, Invalid: true, Reason: err.Error()}
	}
	return nil
}

func (h *hooks) last(t *testing.T) trigger.Event {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		t.Fatal("no trigger was called")
	}
	return h.events[len(h.events)-1]
}

// oldSystem is the migration hook of a stand-in old system: logins and
// their passwords; it vouches for a right one, with the attributes given.
func oldSystem(users map[string]string, attrs map[string]string) func(ev *trigger.Event) (any, error) {
	return func(ev *trigger.Event) (any, error) {
		req, _ := ev.Request.(map[string]any)
		pw, ok := users[strings.ToLower(ev.UserName)]
		if !ok || ev.TriggerSource == MigrationAuthentication && req["password"] != pw {
			return nil, &trigger.Error{Kind: trigger.UserMigration, Denied: true, Reason: "Bad password"}
		}
		a := map[string]string{"email": ev.UserName, "email_verified": "true"}
		for k, v := range attrs {
			a[k] = v
		}
		return map[string]any{"userAttributes": a, "finalUserStatus": "CONFIRMED", "messageAction": "SUPPRESS"}, nil
	}
}

func migrationPool(t *testing.T, h *hooks, mfa MFAConfig) *machine {
	t.Helper()
	return migrationPoolWith(t, h, mfa, nil)
}

// migrationPoolWith is migrationPool with the accounts' settings edited.
func migrationPoolWith(t *testing.T, h *hooks, mfa MFAConfig, accounts func(*AccountConfig)) *machine {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{}
	acct := AccountConfig{Mail: &Messenger{Mailer: fm, Templates: tmpl, DisplayName: "Test Pool",
		Link: func(purpose, email, code string) string { return "https://x/" + code }}}
	if accounts != nil {
		accounts(&acct)
	}
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), Config{MFA: mfa, Triggers: h, Accounts: acct})
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)}
	return &machine{p: withClock(p, clk), fm: fm, clk: clk}
}

func auditOf(t *testing.T, p *Pool, login, typ string) []store.AuditEvent {
	t.Helper()
	es, err := p.store.AuditEvents(t.Context(), store.AuditQuery{Login: login})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range es {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestMigrationOnSignIn(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"old@example.com": goodPassword}, map[string]string{"given_name": "Old", "email": "OLD@Example.com"}),
	}}
	m := migrationPool(t, h, MFAConfig{})
	ctx := t.Context()
	step, err := m.p.InitiatePasswordAuth(WithTriggerContext(ctx, TriggerContext{ClientID: "app1", ClientMetadata: map[string]string{"k": "v"}}),
		PasswordAuth{Username: "Old@Example.com", Password: goodPassword, Client: machineClient})
	if err != nil || step.Auth == nil {
		t.Fatalf("first sign-in: %s, %v; want done", describe(step), err)
	}
	if got := strings.Join(step.Auth.AMR, " "); got != AMRPassword {
		t.Errorf("amr = %q, want pwd", got)
	}
	ev := h.last(t)
	req, _ := ev.Request.(map[string]any)
	if ev.TriggerSource != MigrationAuthentication || ev.UserName != "Old@Example.com" || ev.CallerContext.ClientID != "app1" ||
		req["password"] != goodPassword || req["clientMetadata"].(map[string]any)["k"] != "v" {
		t.Errorf("event = %+v", ev)
	}
	u, err := m.p.UserByEmail(ctx, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusConfirmed || !u.EmailVerified || u.Attributes["given_name"] != "Old" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("migrated user = %+v", u)
	}
	if len(auditOf(t, m.p, "old@example.com", AuditUserMigrated)) != 1 || len(auditOf(t, m.p, "old@example.com", AuditSignIn)) != 1 {
		t.Error("want one user_migrated and one sign_in event")
	}
	// The second time the pool knows the user: no call.
	calls := h.calls.Load()
	if step, err := m.p.InitiatePasswordAuth(ctx, PasswordAuth{Username: "old@example.com", Password: goodPassword, Client: machineClient}); err != nil || step.Auth == nil {
		t.Fatalf("second sign-in: %s, %v", describe(step), err)
	}
	if _, err := m.p.SignIn(ctx, "old@example.com", "not the password at all"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("wrong password after migration: %v", err)
	}
	if h.calls.Load() != calls {
		t.Errorf("the trigger was called for a known user")
	}
}

func TestMigrationRefusals(t *testing.T) {
	cases := []struct {
		name   string
		answer func(*trigger.Event) (any, error)
		reason string
	}{
		{"denied", oldSystem(map[string]string{}, nil), migrationDenied},
		{"failed", func(*trigger.Event) (any, error) {
			return nil, &trigger.Error{Kind: trigger.UserMigration, Timeout: true, Reason: "timeout"}
		}, migrationFailed},
		{"bad json", func(*trigger.Event) (any, error) { return map[string]any{"userAttributes": "nope"}, nil }, migrationInvalid},
		{"no user", func(*trigger.Event) (any, error) { return map[string]any{}, nil }, migrationNoUser},
		{"another address", func(*trigger.Event) (any, error) {
			return map[string]any{"userAttributes": map[string]string{"email": "victim@example.com"}}, nil
		}, migrationEmailMismatch},
		{"bad status", func(*trigger.Event) (any, error) {
			return map[string]any{"userAttributes": map[string]string{}, "finalUserStatus": "ADMIN"}, nil
		}, migrationInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){trigger.UserMigration: c.answer}}
			m := migrationPool(t, h, MFAConfig{})
			_, err := m.p.InitiatePasswordAuth(t.Context(), PasswordAuth{Username: "new@example.com", Password: goodPassword, Client: machineClient})
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("sign-in = %v, want the wrong password's answer", err)
			}
			if _, err := m.p.UserByEmail(t.Context(), "new@example.com"); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("a user was made: %v", err)
			}
			if _, err := m.p.UserByEmail(t.Context(), "victim@example.com"); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("a user was made for another address: %v", err)
			}
			fails := auditOf(t, m.p, "new@example.com", AuditUserMigrationFailed)
			if len(fails) != 1 || fails[0].Reason != c.reason {
				t.Errorf("audit = %+v, want one %s", fails, c.reason)
			}
			if n := len(auditOf(t, m.p, "new@example.com", AuditSignInFailed)); n != 1 {
				t.Errorf("%d sign_in_failed events, want 1 (counted as a wrong password)", n)
			}
		})
	}
}

// A migration never replaces a user, and a known user's wrong password
// never reaches the hook.
func TestMigrationNeverReplacesAUser(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"ada@example.com": "old system password 1"}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{})
	ada := mustCreate(t, m.p, NewUser{Email: "ada@example.com"})
	if _, err := m.p.SignIn(t.Context(), "ada@example.com", "old system password 1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("sign-in with the old system's password = %v", err)
	}
	if h.calls.Load() != 0 {
		t.Error("the hook was asked about a known user")
	}
	u, _ := m.p.UserByEmail(t.Context(), "ada@example.com")
	if u.ID != ada.ID || u.PasswordHash != ada.PasswordHash {
		t.Error("the user was replaced")
	}
}

// An unconfirmed sign-up of the address (a squatter's, say) gives way to
// the old system's vouched user; with its own password it signs in as
// itself, and the hook is not asked.
func TestMigrationReplacesAnUnconfirmedSignUp(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"eve@example.com": "the owner's old password"}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{})
	squat := mustCreate(t, m.p, NewUser{Email: "eve@example.com", Password: "a squatter's password", Status: store.StatusUnconfirmed})
	if _, err := m.p.SignIn(t.Context(), "eve@example.com", "a squatter's password"); !errors.Is(err, ErrUserNotConfirmed) {
		t.Fatalf("squatter's own sign-in = %v", err)
	}
	if h.calls.Load() != 0 {
		t.Error("the hook was asked for a right password")
	}
	u, err := m.p.SignIn(t.Context(), "eve@example.com", "the owner's old password")
	if err != nil || u.ID == squat.ID || u.Status != store.StatusConfirmed {
		t.Fatalf("owner's sign-in = %+v, %v", u, err)
	}
}

// Concurrent first sign-ins of one login make one user, and all sign in.
func TestMigrationConcurrentFirstSignIns(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"many@example.com": goodPassword}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{})
	var wg sync.WaitGroup
	ids := make([]string, 6)
	errs := make([]error, 6)
	for i := range ids {
		wg.Go(func() {
			u, err := m.p.SignIn(context.Background(), "many@example.com", goodPassword)
			errs[i] = err
			if u != nil {
				ids[i] = u.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("sign-in %d: %s, %v; want %s", i, ids[i], errs[i], ids[0])
		}
	}
	if n := len(auditOf(t, m.p, "many@example.com", AuditUserMigrated)); n != 1 {
		t.Errorf("%d users migrated, want 1", n)
	}
}

// A migrated user goes on through the machine: the pool's required second
// factor is set up as for anyone.
func TestMigrationThenMFASetup(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"mfa@example.com": goodPassword}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{Mode: MFARequired})
	step, err := m.p.InitiatePasswordAuth(t.Context(), PasswordAuth{Username: "mfa@example.com", Password: goodPassword, Client: machineClient})
	if err != nil || step.Challenge == nil || step.Challenge.Name != ChallengeMFASetup {
		t.Fatalf("migrated sign-in: %s, %v; want MFA_SETUP", describe(step), err)
	}
}

// A password the pool's policy refuses is kept until reset; so is a
// RESET_REQUIRED answer.
func TestMigrationResetRequired(t *testing.T) {
	for _, c := range []struct{ name, password, status string }{
		{"weak password", "short", "CONFIRMED"},
		{"told so", goodPassword, "RESET_REQUIRED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
				trigger.UserMigration: func(ev *trigger.Event) (any, error) {
					return map[string]any{"userAttributes": map[string]string{}, "finalUserStatus": c.status}, nil
				},
			}}
			m := migrationPool(t, h, MFAConfig{})
			if _, err := m.p.SignIn(t.Context(), "r@example.com", c.password); !errors.Is(err, ErrPasswordResetRequired) {
				t.Fatalf("sign-in = %v, want ErrPasswordResetRequired", err)
			}
			u, err := m.p.UserByEmail(t.Context(), "r@example.com")
			if err != nil || u.Status != store.StatusResetRequired {
				t.Fatalf("user = %+v, %v", u, err)
			}
		})
	}
}

func TestMigrationOnForgotPassword(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{"lost@example.com": "whatever it was"}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{})
	ctx := t.Context()
	if err := m.p.ForgotPassword(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := m.p.ForgotPassword(ctx, "Lost@example.com"); err != nil {
		t.Fatal(err)
	}
	ev := h.last(t)
	if req, _ := ev.Request.(map[string]any); ev.TriggerSource != MigrationForgotPassword || req["password"] != nil {
		t.Errorf("event = %+v", ev)
	}
	u, err := m.p.UserByEmail(ctx, "lost@example.com")
	if err != nil || u.Status != store.StatusResetRequired {
		t.Fatalf("user = %+v, %v", u, err)
	}
	code := m.fm.last(t, mail.KindResetPassword, "lost@example.com").Code
	if _, err := m.p.ResetPassword(ctx, "lost@example.com", code, goodPassword+" new"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.p.SignIn(ctx, "lost@example.com", goodPassword+" new"); err != nil {
		t.Errorf("sign-in after the reset: %v", err)
	}
	if _, err := m.p.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("nobody was made: %v", err)
	}
}

// The lockout stands before the hook: a locked login asks nothing.
func TestMigrationLockedLoginAsksNothing(t *testing.T) {
	h := &hooks{answer: map[trigger.Kind]func(*trigger.Event) (any, error){
		trigger.UserMigration: oldSystem(map[string]string{}, nil),
	}}
	m := migrationPool(t, h, MFAConfig{Lockout: LockoutConfig{Threshold: 3}})
	for range 3 {
		_, _ = m.p.SignIn(t.Context(), "guess@example.com", "a guess of a password")
	}
	calls := h.calls.Load()
	if _, err := m.p.SignIn(t.Context(), "guess@example.com", "a guess of a password"); err == nil || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("locked sign-in = %v, want a lockout", err)
	}
	if h.calls.Load() != calls {
		t.Error("the hook was asked about a locked login")
	}
}
