package pool

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// hookReceiver is a real HTTP receiver for every trigger: answer says how
// to answer each trigger source; events records what came.
type hookReceiver struct {
	mu     sync.Mutex
	events []map[string]any
	answer func(source string, ev map[string]any) (int, any)
}

func (h *hookReceiver) received(source string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, ev := range h.events {
		if ev["triggerSource"] == source {
			out = append(out, ev)
		}
	}
	return out
}

// withHooks points p's hooks at a real receiver, kinds as listed.
func withHooks(t *testing.T, p *Pool, answer func(string, map[string]any) (int, any), kinds ...trigger.Kind) *hookReceiver {
	t.Helper()
	h := &hookReceiver{answer: answer}
	secret := trigger.NewSecret()
	sec, _ := trigger.ParseSecret(secret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sec.Verify(r.Header, body, time.Now(), trigger.DefaultTolerance) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
		status, out := h.answer(ev["triggerSource"].(string), ev)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	var hooks []trigger.Hook
	for _, k := range kinds {
		hooks = append(hooks, trigger.Hook{Kind: k, URL: srv.URL + "/" + string(k), Secret: secret})
	}
	w, err := trigger.New(hooks, trigger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.triggers = w
	return h
}

func respond(resp map[string]any) func(string, map[string]any) (int, any) {
	return func(_ string, ev map[string]any) (int, any) {
		ev["response"] = resp
		return 200, ev
	}
}

func deny(msg string) func(string, map[string]any) (int, any) {
	return func(string, map[string]any) (int, any) { return 400, map[string]string{"message": msg} }
}

func triggerAudits(t *testing.T, p *Pool) []store.AuditEvent {
	t.Helper()
	es, err := p.store.AuditEvents(t.Context(), store.AuditQuery{Limit: store.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range es {
		if e.Type == AuditTrigger {
			out = append(out, e)
		}
	}
	return out
}

// A refusal comes from the form alone: for a new address and a taken one
// alike, before anything is stored or mailed.
func TestPreSignUpDenySaysNothingOfTheAddress(t *testing.T) {
	p, fm, _ := accountPool(t, nil)
	mustCreate(t, p, NewUser{Email: "taken@example.com"})
	h := withHooks(t, p, deny("Only example.org may sign up"), trigger.PreSignUp)
	var msgs []string
	for _, email := range []string{"taken@example.com", "new@example.com"} {
		_, err := p.PrepareSignUp(t.Context(), signUpReq(email))
		var te *trigger.Error
		if !errors.As(err, &te) || !te.Denied {
			t.Fatalf("%s: err = %v, want a deny", email, err)
		}
		msgs = append(msgs, te.Message())
	}
	if msgs[0] != msgs[1] || msgs[0] != "PreSignUp failed with error Only example.org may sign up." {
		t.Fatalf("messages %q", msgs)
	}
	if _, err := p.UserByEmail(t.Context(), "new@example.com"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("a denied sign-up was stored: %v", err)
	}
	if fm.count() != 0 {
		t.Fatalf("%d mails after a denied sign-up", len(fm.sent))
	}
	evs := h.received(trigger.SourcePreSignUpSignUp)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	req := evs[1]["request"].(map[string]any)
	attrs := req["userAttributes"].(map[string]any)
	if attrs["email"] != "new@example.com" || attrs["custom:tenant"] != "acme" || attrs["name"] != "Ada Lovelace" {
		t.Fatalf("userAttributes %v", attrs)
	}
	if _, ok := req["validationData"].(map[string]any); !ok {
		t.Fatalf("validationData %v: want an object", req["validationData"])
	}
	if au := triggerAudits(t, p); len(au) != 2 || au[0].Reason != "denied" || au[0].Detail["trigger"] != "pre_sign_up" {
		t.Fatalf("audit %+v", au)
	}
}

func TestPreSignUpAutoConfirm(t *testing.T) {
	p, fm, _ := accountPool(t, nil)
	withHooks(t, p, respond(map[string]any{"autoConfirmUser": true, "autoVerifyEmail": true}), trigger.PreSignUp, trigger.PostConfirmation)
	if _, err := p.SignUp(t.Context(), signUpReq("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	u, err := p.UserByEmail(t.Context(), "ann@example.com")
	if err != nil || u.Status != store.StatusConfirmed || !u.EmailVerified {
		t.Fatalf("user %+v, %v: want confirmed and verified", u, err)
	}
	if fm.count() != 0 {
		t.Fatalf("an auto-confirmed sign-up was mailed a code")
	}
	if _, err := p.SignIn(t.Context(), "ann@example.com", goodPassword); err != nil {
		t.Fatalf("sign-in after auto-confirm: %v", err)
	}
}

func TestAdminCreateUserAsksPreSignUp(t *testing.T) {
	p := newTestPool(t)
	h := withHooks(t, p, deny("no"), trigger.PreSignUp)
	if _, err := p.CreateUser(t.Context(), NewUser{Email: "x@example.com", Password: goodPassword}); err == nil {
		t.Fatal("a denied AdminCreateUser made the user")
	}
	if len(h.received(trigger.SourcePreSignUpAdminCreateUser)) != 1 {
		t.Fatal("no PreSignUp_AdminCreateUser event")
	}
}

// Pre authentication is asked for every login, with userNotFound for an
// unknown one, before the password: its refusal is the same for both, and
// not counted in the lockout.
func TestPreAuthentication(t *testing.T) {
	p := newTestPool(t)
	mustCreate(t, p, NewUser{Email: "ann@example.com"})
	h := withHooks(t, p, deny("Sign-ins are paused"), trigger.PreAuthentication)
	for _, login := range []string{"ann@example.com", "nobody@example.com"} {
		for range 7 { // more than the lockout's threshold
			_, err := p.SignIn(t.Context(), login, goodPassword)
			var te *trigger.Error
			if !errors.As(err, &te) || !te.Denied || te.Reason != "Sign-ins are paused" {
				t.Fatalf("%s: err = %v", login, err)
			}
		}
	}
	evs := h.received(trigger.SourcePreAuthentication)
	first, unknown := evs[0]["request"].(map[string]any), evs[7]["request"].(map[string]any)
	if first["userNotFound"] != nil || first["userAttributes"].(map[string]any)["email"] != "ann@example.com" {
		t.Fatalf("known login request %v", first)
	}
	if unknown["userNotFound"] != true || len(unknown["userAttributes"].(map[string]any)) != 0 {
		t.Fatalf("unknown login request %v", unknown)
	}
	h.answer = respond(map[string]any{})
	if _, err := p.SignIn(t.Context(), "ann@example.com", goodPassword); err != nil {
		t.Fatalf("the denies counted in the lockout: %v", err)
	}
	if _, err := p.SignIn(t.Context(), "ann@example.com", "wrong password!"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password after an allow: %v", err)
	}
}

// Post authentication's failure fails the sign-in (no session), and it
// is told of a sign-in that ended.
func TestPostAuthentication(t *testing.T) {
	p := newTestPool(t)
	mustCreate(t, p, NewUser{Email: "ann@example.com"})
	h := withHooks(t, p, func(string, map[string]any) (int, any) { return 500, "boom" }, trigger.PostAuthentication)
	step, err := p.InitiatePasswordAuth(t.Context(), PasswordAuth{Username: "ann@example.com", Password: goodPassword})
	var te *trigger.Error
	if !errors.As(err, &te) || te.Denied || step != nil {
		t.Fatalf("step %v err %v: want a failure", step, err)
	}
	h.answer = respond(map[string]any{})
	step, err = p.InitiatePasswordAuth(t.Context(), PasswordAuth{Username: "ann@example.com", Password: goodPassword})
	if err != nil || step.Auth == nil {
		t.Fatalf("step %v err %v", step, err)
	}
	evs := h.received(trigger.SourcePostAuthentication)
	if len(evs) != 2 || evs[1]["request"].(map[string]any)["newDeviceUsed"] != true {
		t.Fatalf("events %v", evs)
	}
}

func TestPostConfirmation(t *testing.T) {
	p, fm, _ := accountPool(t, nil)
	h := withHooks(t, p, deny("crm down"), trigger.PostConfirmation)
	if _, err := p.SignUp(t.Context(), signUpReq("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, fm.last(t, mail.KindVerifyEmail, "ann@example.com"))
	_, err := p.ConfirmSignUp(t.Context(), "ann@example.com", code, goodPassword)
	var te *trigger.Error
	if !errors.As(err, &te) || te.Message() != "PostConfirmation failed with error crm down." {
		t.Fatalf("err = %v", err)
	}
	// As Cognito: the call failed, the confirmation stands.
	if u, _ := p.UserByEmail(t.Context(), "ann@example.com"); u.Status != store.StatusConfirmed {
		t.Fatalf("status %s", u.Status)
	}
	ev := h.received(trigger.SourcePostConfirmationSignUp)
	if len(ev) != 1 || ev[0]["request"].(map[string]any)["userAttributes"].(map[string]any)["email_verified"] != "true" {
		t.Fatalf("events %v", ev)
	}
}

func TestPreTokenGenerationDropsProtectedClaims(t *testing.T) {
	p := newTestPool(t)
	u := mustCreate(t, p, NewUser{Email: "ann@example.com"})
	withHooks(t, p, respond(map[string]any{"claimsOverrideDetails": map[string]any{
		"claimsToAddOrOverride": map[string]any{"tenant": "acme", "sub": "mallory", "iss": "evil", "exp": 9999999999},
		"claimsToSuppress":      []string{"email", "aud"},
		"groupOverrideDetails":  map[string]any{"groupsToOverride": []string{"admins"}},
	}}), trigger.PreTokenGeneration)
	ch, err := p.PreTokenGeneration(t.Context(), TokenRequest{Source: trigger.SourceTokenHostedAuth, ClientID: "web", User: u, Scopes: []string{"openid"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.IDClaims) != 1 || ch.IDClaims["tenant"] != "acme" || len(ch.IDSuppress) != 1 || ch.IDSuppress[0] != "email" {
		t.Fatalf("changes %+v", ch)
	}
	if len(ch.Groups) != 1 || ch.Groups[0] != "admins" || ch.AccessClaims != nil {
		t.Fatalf("changes %+v", ch)
	}
	// Version 1 is not asked for client credentials.
	if ch, err := p.PreTokenGeneration(t.Context(), TokenRequest{Source: trigger.SourceTokenClientCredentials, ClientID: "svc"}); ch != nil || err != nil {
		t.Fatalf("client credentials with V1: %+v %v", ch, err)
	}
}

func TestCustomMessage(t *testing.T) {
	p, fm, clk := accountPool(t, nil)
	h := withHooks(t, p, respond(map[string]any{"emailSubject": "Welcome to Acme",
		"emailMessage": "<p>Your Acme code is {####}</p>"}), trigger.CustomMessage)
	if _, err := p.SignUp(t.Context(), signUpReq("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	m := fm.last(t, mail.KindVerifyEmail, "ann@example.com")
	if m.Subject != "Welcome to Acme" || m.Text != "<p>Your Acme code is "+m.Code+"</p>" || m.HTML != m.Text {
		t.Fatalf("message %q %q", m.Subject, m.Text)
	}
	ev := h.received(trigger.SourceMessageSignUp)
	if len(ev) != 1 {
		t.Fatalf("%d CustomMessage_SignUp events", len(ev))
	}
	body, _ := json.Marshal(ev[0])
	if req := ev[0]["request"].(map[string]any); req["codeParameter"] != "{####}" || strings.Contains(string(body), m.Code) {
		t.Fatalf("the hook was sent the code, or no placeholder: %s", body)
	}
	if _, err := p.ConfirmSignUp(t.Context(), "ann@example.com", m.Code, goodPassword); err != nil {
		t.Fatalf("the code in the custom message does not confirm: %v", err)
	}

	// No placeholder: the pool's own message goes, with its code.
	h.answer = respond(map[string]any{"emailSubject": "Hi", "emailMessage": "no code here"})
	clk.advance(time.Hour)
	if err := p.ForgotPassword(t.Context(), "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	m = fm.last(t, mail.KindResetPassword, "ann@example.com")
	if m.Subject == "Hi" || !strings.Contains(m.Text, m.Code) {
		t.Fatalf("message without {####} was used: %q %q", m.Subject, m.Text)
	}
	if len(h.received(trigger.SourceMessageForgotPassword)) != 1 {
		t.Fatal("no CustomMessage_ForgotPassword event")
	}
}

// USER_SRP_AUTH asks pre authentication before its challenge, for a
// known login and an unknown one alike.
func TestPreAuthenticationSRP(t *testing.T) {
	m := srpMachine(t, "", srpPoolName)
	m.user(t, "ada@example.com")
	h := withHooks(t, m.p, deny("paused"), trigger.PreAuthentication)
	for _, login := range []string{"ada@example.com", "nobody@example.com"} {
		_, err := m.p.InitiateSRPAuth(t.Context(), SRPAuth{Username: login, SRPA: srp.NewClient().AHex(), Client: machineClient})
		var te *trigger.Error
		if !errors.As(err, &te) || !te.Denied {
			t.Fatalf("%s: %v", login, err)
		}
	}
	if n := len(h.received(trigger.SourcePreAuthentication)); n != 2 {
		t.Fatalf("%d events", n)
	}
}

// A first federated sign-in is a sign-up: PreSignUp_ExternalProvider,
// with Cognito's provider_subject user name; a refusal makes no user.
func TestPreSignUpExternalProvider(t *testing.T) {
	m := newMachine(t, filepath.Join(t.TempDir(), "gatehouse.db"), MFAConfig{})
	h := withHooks(t, m.p, deny("no outsiders"), trigger.PreSignUp)
	_, err := m.p.InitiateFederatedAuth(t.Context(), FederatedAuth{Identity: google("g-ada", "ada@example.com", true), CreateUsers: true, Client: machineClient})
	var te *trigger.Error
	if !errors.As(err, &te) || !te.Denied {
		t.Fatalf("err = %v", err)
	}
	if _, err := m.p.UserByEmail(t.Context(), "ada@example.com"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("a refused federated sign-up made a user: %v", err)
	}
	evs := h.received(trigger.SourcePreSignUpExternalProvider)
	if len(evs) != 1 || evs[0]["userName"] != "google_g-ada" {
		t.Fatalf("events %v", evs)
	}
	h.answer = respond(map[string]any{})
	if step, err := m.p.InitiateFederatedAuth(t.Context(), FederatedAuth{Identity: google("g-ada", "ada@example.com", true), CreateUsers: true, Client: machineClient}); err != nil || step.Auth == nil {
		t.Fatalf("allowed: %v", err)
	}
}

// A federated sign-in asks pre authentication too, once the provider has
// named the user (a first sign-in after the user is made); a refusal ends
// it without a session.
func TestPreAuthenticationFederated(t *testing.T) {
	m := newMachine(t, filepath.Join(t.TempDir(), "gatehouse.db"), MFAConfig{})
	h := withHooks(t, m.p, deny("outsiders paused"), trigger.PreAuthentication)
	auth := FederatedAuth{Identity: google("g-bea", "bea@example.com", true), CreateUsers: true, Client: machineClient}
	step, err := m.p.InitiateFederatedAuth(t.Context(), auth)
	var te *trigger.Error
	if !errors.As(err, &te) || !te.Denied || step != nil {
		t.Fatalf("step %v err %v: want the refusal", step, err)
	}
	evs := h.received(trigger.SourcePreAuthentication)
	if len(evs) != 1 {
		t.Fatalf("%d pre authentication events, want 1", len(evs))
	}
	req := evs[0]["request"].(map[string]any)
	if req["userAttributes"].(map[string]any)["email"] != "bea@example.com" || req["userNotFound"] != nil {
		t.Fatalf("request %v", req)
	}
	h.answer = respond(map[string]any{})
	if step, err := m.p.InitiateFederatedAuth(t.Context(), auth); err != nil || step.Auth == nil {
		t.Fatalf("allowed: step %v err %v", step, err)
	}
}
