package cognito_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// mailSite is an in-process API whose pool has open sign-up and mails
// its codes to a real SMTP server (no Caddy, so its tests run in
// parallel), for the tests of the account actions as an attacker sees
// them. The resend cool-down is a millisecond, so sign-ups one after
// another each mail a code.
type mailSite struct {
	h    *cognito.Handler
	pool *pool.Pool
	smtp *testenv.SMTPServer
}

func newMailSite(t *testing.T) *mailSite {
	t.Helper()
	ctx := context.Background()
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	mailer, err := mail.ParseURL(smtp.URL(), mail.Options{From: "pool@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pl, err := pool.New(ctx, s, pool.Config{
		Name: "default",
		Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Accounts: pool.AccountConfig{SignUp: pool.SignUpOpen, ResendCooldown: time.Millisecond,
			Mail: &pool.Messenger{Mailer: mailer, Templates: tmpl}},
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Open(ctx, s, signing.Policy{Algs: []string{signing.ES256, signing.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	marker := make([]byte, 64)
	_, _ = rand.Read(marker)
	provider, err := oidc.NewProvider(oidc.Config{
		Issuer: "https://auth.example.test", Pool: pl, Store: s, Keys: keys, Sessions: noSessions{}, MarkerKey: marker,
		Clients: []*oidc.Client{
			{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserPassword, oidc.AuthFlowRefreshToken}},
			{ID: "webapp", Secret: "webapp-secret-0123456789abcdef", RedirectURIs: []string{"https://app.example.test/cb"},
				AuthFlows: []string{oidc.AuthFlowUserPassword, oidc.AuthFlowRefreshToken}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := cognito.New(cognito.Config{PoolID: "eu-west-1_Sec1", Pool: pl, Provider: provider, SealKey: marker})
	if err != nil {
		t.Fatal(err)
	}
	return &mailSite{h: h, pool: pl, smtp: smtp}
}

// code waits for the n-th mail to to, and returns its code.
func (m *mailSite) code(t *testing.T, to string, n int) string {
	t.Helper()
	return m.smtp.WaitFor(t, to, n, 5*time.Second).Code(t)
}

func signIn(t *testing.T, h http.Handler, email, password string) *httptest.ResponseRecorder {
	t.Helper()
	return call(t, h, "InitiateAuth", map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": password}})
}

// TestPreAccountRaceAPI: the pre-account race through the API. The owner
// signs up; an attacker signs up her address again with his password
// (replacing her pending sign-up, the pool's rule); the code mailed to her
// then confirms nothing through ConfirmSignUp, which takes the code alone,
// so the attacker never signs in. The owner confirms on the hosted page's
// path (the code with the password chosen at sign-up); an uncontested
// sign-up still confirms with the code alone.
func TestPreAccountRaceAPI(t *testing.T) {
	t.Parallel()
	m := newMailSite(t)
	const victim, ownerPW, attackerPW = "ada@example.com", "the owner's long passphrase", "mallory's long passphrase"
	signUp := func(pw string) {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // past the cool-down, so a code is mailed
		w := call(t, m.h, "SignUp", map[string]any{"ClientId": "spa", "Username": victim, "Password": pw})
		if w.Code != 200 {
			t.Fatalf("SignUp: %d %s", w.Code, w.Body)
		}
	}
	confirm := func(email, code string) *httptest.ResponseRecorder {
		return call(t, m.h, "ConfirmSignUp", map[string]any{"ClientId": "spa", "Username": email, "ConfirmationCode": code})
	}

	// Uncontested: the code alone, as every Cognito app sends it.
	w := call(t, m.h, "SignUp", map[string]any{"ClientId": "spa", "Username": "grace@example.com", "Password": ownerPW})
	if w.Code != 200 {
		t.Fatalf("SignUp: %d %s", w.Code, w.Body)
	}
	if w := confirm("grace@example.com", m.code(t, "grace@example.com", 1)); w.Code != 200 {
		t.Fatalf("an uncontested ConfirmSignUp: %d %s", w.Code, w.Body)
	}
	if w := signIn(t, m.h, "grace@example.com", ownerPW); w.Code != 200 {
		t.Fatalf("signing in after it: %d %s", w.Code, w.Body)
	}

	// The race.
	signUp(ownerPW)
	signUp(attackerPW)
	code := m.code(t, victim, 2)
	body := wantError(t, confirm(victim, code), 400, "NotAuthorizedException")
	if msg, _ := body["message"].(string); !strings.Contains(msg, "sign-up page") {
		t.Errorf("the message does not say where to confirm: %q", msg)
	}
	for _, pw := range []string{attackerPW, ownerPW} {
		if w := signIn(t, m.h, victim, pw); w.Code == 200 || strings.Contains(w.Body.String(), "AccessToken") {
			t.Fatalf("signed in with %q after the race: %s", pw, w.Body)
		}
	}
	// A wrong code is still a wrong code (the mark says nothing to whoever
	// lacks the code).
	wantError(t, confirm(victim, "000000"), 400, "CodeMismatchException")

	// The owner signs up again and confirms where her password is asked.
	signUp(ownerPW)
	code = m.code(t, victim, 3)
	wantError(t, confirm(victim, code), 400, "NotAuthorizedException")
	if _, err := m.pool.ConfirmSignUp(context.Background(), victim, code, ownerPW); err != nil {
		t.Fatalf("the hosted page's confirmation: %v", err)
	}
	if w := signIn(t, m.h, victim, ownerPW); w.Code != 200 {
		t.Fatalf("the owner signs in: %d %s", w.Code, w.Body)
	}
	wantError(t, signIn(t, m.h, victim, attackerPW), 400, "NotAuthorizedException")
}

// TestConfirmSignUpUnknownAddress: ConfirmSignUp of an address without an
// account answers byte for byte as one of an account with no live code.
func TestConfirmSignUpUnknownAddress(t *testing.T) {
	t.Parallel()
	h, pl := inProcessAPI(t)
	newUser(t, pl, "confirmed-known@example.com", "correct horse battery staple")
	answer := func(email string) string {
		w := call(t, h, "ConfirmSignUp", map[string]any{"ClientId": "spa", "Username": email, "ConfirmationCode": "123456"})
		wantError(t, w, 400, "ExpiredCodeException")
		return w.Body.String()
	}
	if known, unknown := answer("confirmed-known@example.com"), answer("nobody-here@example.com"); known != unknown {
		t.Errorf("known %s, unknown %s", known, unknown)
	}
}
