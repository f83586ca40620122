package pool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/store"
)

const auditIP = "203.0.113.50"

// auditPool is a pool on a fresh SQLite store with an observed audit log
// and a clock the test moves.
func auditPool(t *testing.T, cfg Config) (*Pool, *observer.ObservedLogs, *clock) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	cfg.AuditLog = zap.New(core)
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), cfg)
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	return withClock(p, clk), logs, clk
}

// trail is every event of p's store, oldest first.
func trail(t *testing.T, p *Pool) []store.AuditEvent {
	t.Helper()
	es, err := p.store.AuditEvents(context.Background(), store.AuditQuery{Limit: store.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(es)
	return es
}

// brief names events as type[/reason] for comparing sequences.
func brief(es []store.AuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Type
		if e.Reason != "" {
			out[i] += "/" + e.Reason
		}
	}
	return out
}

// noSecrets fails if any event or log line holds one of secrets.
func noSecrets(t *testing.T, es []store.AuditEvent, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%+v\n", e)
	}
	for _, l := range logs.All() {
		fmt.Fprintf(&b, "%s %v\n", l.Message, l.ContextMap())
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(b.String(), s) {
			t.Errorf("the audit trail or log holds the secret %q:\n%s", s, b.String())
		}
	}
}

func TestAuditSignIn(t *testing.T) {
	p, logs, clk := auditPool(t, Config{MFA: MFAConfig{Lockout: LockoutConfig{Threshold: 3, Base: 10 * time.Second}}})
	ctx := WithClientIP(t.Context(), auditIP)
	ada := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	bob := mustCreate(t, p, NewUser{Email: "bob@example.com"})
	if err := p.SetEnabled(t.Context(), bob.ID, false); err != nil { // from no client
		t.Fatal(err)
	}
	carol := mustCreate(t, p, NewUser{Email: "carol@example.com", Status: store.StatusUnconfirmed})
	wrong := "wrong " + goodPassword
	start := len(trail(t, p))

	for range 3 {
		if _, err := p.SignIn(ctx, " Ada@Example.com", wrong); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	lockedAt := clk.now()
	clk.advance(time.Second)
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errorsAsLocked(err) {
		t.Fatalf("after three failures: %v", err)
	}
	for _, login := range []string{"ghost@example.com", goodPassword} { // a password typed as the email
		if _, err := p.SignIn(ctx, login, wrong); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := p.SignIn(ctx, "bob@example.com", goodPassword); !errors.Is(err, ErrUserDisabled) {
		t.Fatal(err)
	}
	if _, err := p.SignIn(ctx, "carol@example.com", goodPassword); !errors.Is(err, ErrUserNotConfirmed) {
		t.Fatal(err)
	}
	// A right password is not yet a sign-in: the pages say when it is.
	u, err := p.SignIn(ctx, "dave@example.com", goodPassword)
	if err == nil || u != nil {
		t.Fatal("dave has no account")
	}
	p.SignedIn(ctx, ada, []string{AMRPassword, AMROTP, AMRMFA})

	all := trail(t, p)
	if e := all[start-1]; e.Type != AuditUserDisabled || e.UserID != bob.ID || e.IP != "" || e.Detail["by"] != "admin" || e.Login != "bob@example.com" {
		t.Errorf("administrator's disable = %+v", e)
	}
	es := all[start:]
	want := []string{
		"sign_in_failed/invalid_credentials", "sign_in_failed/invalid_credentials",
		"sign_in_failed/invalid_credentials", "locked_out", "sign_in_failed/locked_out",
		"sign_in_failed/invalid_credentials", "sign_in_failed/invalid_credentials",
		"sign_in_failed/user_disabled", "sign_in_failed/not_confirmed",
		"sign_in_failed/invalid_credentials", "sign_in",
	}
	if !slices.Equal(brief(es), want) {
		t.Fatalf("events = %q\nwant %q", brief(es), want)
	}
	for i, e := range es {
		if e.IP != auditIP {
			t.Errorf("event %d (%s): IP %q, want %q", i, e.Type, e.IP, auditIP)
		}
		if e.At.IsZero() || e.At.Before(lockedAt) || e.At.After(clk.now()) {
			t.Errorf("event %d (%s): At %v, want the pool's clock", i, e.Type, e.At)
		}
	}
	for _, c := range []struct {
		i             int
		userID, login string
	}{
		{0, ada.ID, "ada@example.com"}, {3, "", "ada@example.com"}, {4, "", "ada@example.com"},
		{5, "", "ghost@example.com"}, {6, "", ""}, {7, bob.ID, "bob@example.com"},
		{8, carol.ID, "carol@example.com"}, {10, ada.ID, "ada@example.com"},
	} {
		if e := es[c.i]; e.UserID != c.userID || e.Login != c.login {
			t.Errorf("event %d (%s): user %q, login %q; want %q, %q", c.i, e.Type, e.UserID, e.Login, c.userID, c.login)
		}
	}
	if d := es[3].Detail; d["failures"] != "3" || d["until"] != lockedAt.Add(10*time.Second).Format(time.RFC3339) {
		t.Errorf("lockout detail = %v", d)
	}
	if d := es[10].Detail; d["amr"] != "pwd otp mfa" {
		t.Errorf("sign-in detail = %v", d)
	}

	// The same events went to the log, with their fields.
	lines := logs.FilterMessage(AuditSignInFailed).All()
	if len(lines) != 9 {
		t.Errorf("%d sign_in_failed log lines, want 9", len(lines))
	} else if m := lines[0].ContextMap(); m["pool"] != "test" || m["user_id"] != ada.ID || m["login"] != "ada@example.com" ||
		m["remote_ip"] != auditIP || m["reason"] != "invalid_credentials" {
		t.Errorf("log line fields = %v", m)
	}
	noSecrets(t, all, logs, goodPassword, wrong)
}

func TestAuditFactorsAndAdmin(t *testing.T) {
	p, logs, clk := auditPool(t, Config{})
	ctx := WithClientIP(t.Context(), auditIP)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})

	e, err := p.StartTOTP(ctx, u, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	first := codeAt(t, e.Secret, clk.now())
	codes, err := p.ConfirmTOTP(ctx, u.ID, e.FactorID, first)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(30 * time.Second)
	good := codeAt(t, e.Secret, clk.now())
	bad := "000000"
	if good == bad {
		bad = "111111"
	}
	if _, err := p.VerifyMFA(ctx, u, bad); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	if _, err := p.VerifyMFA(ctx, u, good); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyMFA(ctx, u, codes[0]); err != nil {
		t.Fatal(err)
	}
	fresh, err := p.RegenerateRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveFactor(ctx, u.ID, e.FactorID); err != nil {
		t.Fatal(err)
	}
	const newPassword = "a brand new passphrase"
	if _, err := p.ChangePassword(ctx, u.ID, Confirmation{Password: goodPassword}, newPassword); err != nil {
		t.Fatal(err)
	}
	if err := p.SignOutEverywhere(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	// An administrator's, through the CLI: no client address.
	admin := t.Context()
	const adminPassword = "set by the administrator"
	for _, step := range []func() error{
		func() error { return p.ResetMFA(admin, u.ID) },
		func() error { return p.SetPassword(admin, u.ID, adminPassword) },
		func() error { return p.SetEnabled(admin, u.ID, false) },
		func() error { return p.SetEnabled(admin, u.ID, true) },
		func() error { return p.DeleteUser(admin, u.ID) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// Refused operations record nothing.
	if err := p.RemoveFactor(ctx, u.ID, e.FactorID); !errors.Is(err, ErrNoSuchFactor) {
		t.Fatal(err)
	}
	if err := p.DeleteUser(admin, u.ID); !errors.Is(err, ErrUserNotFound) {
		t.Fatal(err)
	}

	es := trail(t, p)
	want := []string{
		"mfa_enrolled", "recovery_codes_replaced", "sign_in_failed/wrong_mfa_code", "recovery_code_used",
		"recovery_codes_replaced", "mfa_removed", "password_changed", "signed_out_everywhere",
		"mfa_reset", "password_reset", "user_disabled", "user_enabled", "user_deleted",
	}
	if !slices.Equal(brief(es), want) {
		t.Fatalf("events = %q\nwant %q", brief(es), want)
	}
	for i, ev := range es {
		wantIP := auditIP
		if i >= 8 {
			wantIP = ""
		}
		if ev.UserID != u.ID || ev.Login != "ada@example.com" || ev.IP != wantIP {
			t.Errorf("event %d (%s): user %q, login %q, IP %q", i, ev.Type, ev.UserID, ev.Login, ev.IP)
		}
	}
	if d := es[0].Detail; d["kind"] != store.FactorTOTP || d["name"] != "Phone" {
		t.Errorf("enrolment detail = %v", d)
	}
	for i, by := range map[int]string{8: "admin", 9: "admin", 10: "admin", 12: "admin"} {
		if es[i].Detail["by"] != by {
			t.Errorf("event %d (%s): by %q, want %q", i, es[i].Type, es[i].Detail["by"], by)
		}
	}
	secrets := append([]string{goodPassword, newPassword, adminPassword, e.Secret, first, good, bad}, codes...)
	noSecrets(t, es, logs, append(secrets, fresh...)...)
}

func TestAuditMailedChanges(t *testing.T) {
	p, fm, _ := accountPool(t, nil)
	ctx := WithClientIP(t.Context(), auditIP)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})

	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	resetCode := codeOf(t, fm.last(t, "reset_password", "ada@example.com"))
	const newPassword = "reset to a new passphrase"
	if _, err := p.ResetPassword(ctx, "ada@example.com", resetCode, newPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RequestEmailChange(ctx, u.ID, Confirmation{Password: newPassword}, "lovelace@example.com"); err != nil {
		t.Fatal(err)
	}
	changeCode := codeOf(t, fm.last(t, "verify_new_email", "lovelace@example.com"))
	if _, err := p.ConfirmEmailChange(ctx, u.ID, changeCode); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteOwnAccount(ctx, u.ID, Confirmation{Password: newPassword}); err != nil {
		t.Fatal(err)
	}

	es := trail(t, p)
	if got, want := brief(es), []string{"password_reset", "email_changed", "user_deleted"}; !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if d := es[0].Detail; d["by"] != "email_code" || es[0].Login != "ada@example.com" {
		t.Errorf("reset = %+v", es[0])
	}
	if e := es[1]; e.Login != "lovelace@example.com" || e.Detail["from"] != "ada@example.com" {
		t.Errorf("address change = %+v", e)
	}
	if e := es[2]; e.Login != "lovelace@example.com" || e.Detail["by"] != "self" || e.IP != auditIP {
		t.Errorf("own deletion = %+v", e)
	}
	for _, e := range es {
		if e.UserID != u.ID {
			t.Errorf("%s: user %q", e.Type, e.UserID)
		}
	}
	// The deleted account's trail is found by either address.
	for _, login := range []string{"ada@example.com", "lovelace@example.com"} {
		got, err := p.store.AuditEvents(ctx, store.AuditQuery{Login: login})
		if err != nil || len(got) == 0 {
			t.Errorf("events of %s: %v, %v", login, got, err)
		}
	}
	var logs observer.ObservedLogs // nothing logged: the pool has no audit log
	noSecrets(t, es, &logs, goodPassword, newPassword, resetCode, changeCode)
}

// failingAudit is a store whose audit trail cannot be written.
type failingAudit struct{ store.Store }

func (failingAudit) AppendAudit(context.Context, store.AuditEvent) error {
	return errors.New("disk full")
}

// A trail that cannot be written is logged and changes nobody's answer.
func TestAuditStoreFailureIsLoggedOnly(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := newPoolOn(t, failingAudit{openSQLite(t, filepath.Join(t.TempDir(), "g.db"))}, Config{AuditLog: zap.New(core)})
	ctx := WithClientIP(t.Context(), auditIP)
	mustCreate(t, p, NewUser{Email: "ada@example.com"})
	if _, err := p.SignIn(ctx, "ada@example.com", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	u, err := p.SignIn(ctx, "ada@example.com", goodPassword)
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	p.SignedIn(ctx, u, []string{AMRPassword})
	if err := p.SignOutEverywhere(ctx, u.ID); err != nil {
		t.Fatalf("sign out everywhere: %v", err)
	}
	failed := logs.FilterMessage("audit event not stored").All()
	if len(failed) != 3 {
		t.Fatalf("%d failures logged, want 3: %v", len(failed), failed)
	}
	if m := failed[0].ContextMap(); m["type"] != AuditSignInFailed || m["error"] == nil {
		t.Errorf("failure logged as %v", m)
	}
}

// TestConfirmationReauth: a re-authentication the caller vouches for
// stands in for the password without a check (nothing counted), a new
// password must still differ from the old one (checked against its hash),
// and the trail records how the change was confirmed and the
// re-authentication itself.
func TestConfirmationReauth(t *testing.T) {
	p, _, _ := auditPool(t, Config{})
	ctx := context.Background()
	u, err := p.CreateUser(ctx, NewUser{Email: "ada@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Confirm(ctx, u.ID, Confirmation{Reauth: "otp"}); err != nil {
		t.Fatalf("confirm by an earlier code: %v", err)
	}
	if _, err := p.Confirm(ctx, u.ID, Confirmation{}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("confirm by nothing: %v", err)
	}
	byPassword := Confirmation{Reauth: "password"}
	if _, err := p.ChangePassword(ctx, u.ID, byPassword, "correct horse battery"); !errors.As(err, new(*PasswordPolicyError)) {
		t.Fatalf("the same password again: %v", err)
	}
	if _, err := p.ChangePassword(ctx, u.ID, byPassword, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	p.RecordReauthentication(ctx, u, "passkey")
	var by, method string
	for _, e := range trail(t, p) {
		switch e.Type {
		case AuditPasswordChanged:
			by = e.Detail["confirmed_by"]
		case AuditReauthenticated:
			method = e.Detail["method"]
		case AuditSignInFailed:
			t.Errorf("a failure was recorded: %+v", e)
		}
	}
	if by != "password" || method != "passkey" {
		t.Fatalf("confirmed_by %q, reauthenticated method %q", by, method)
	}
}
