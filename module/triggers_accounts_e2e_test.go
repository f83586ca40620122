package module_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The account hooks through Caddy: pre sign-up on the hosted sign-up page
// (deny alike for a taken and a new address, bad JSON, timeout, forged
// answer, auto-confirm), custom message on the mail a real SMTP server
// receives, and post confirmation on the confirmation page.
func TestAccountTriggersThroughCaddy(t *testing.T) {
	h := startHookServer(t)
	a := startAccounts(t, `
			trigger pre_sign_up `+h.URL+`/presignup {
				secret `+h.secret+`
				timeout 300ms
			}
			trigger post_confirmation `+h.URL+`/postconfirm {
				secret `+h.secret+`
			}
			trigger custom_message `+h.URL+`/message {
				secret `+h.secret+`
			}`)
	h.set("/presignup", "ok", map[string]any{})
	if _, err := a.pool.Pool.CreateUser(context.Background(), pool.NewUser{Email: "taken@example.com", Password: "a quiet walk in the hills", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	c := testenv.Browser(t)
	const password = "a quiet walk in the hills"

	t.Run("pre sign-up deny: the same for a taken and a new address", func(t *testing.T) {
		h.set("/presignup", "deny", nil)
		var alerts []string
		for _, email := range []string{"taken@example.com", "new@example.com"} {
			resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm(email, password))
			wantStatus(t, "denied sign-up of "+email, resp, body, http.StatusForbidden)
			alerts = append(alerts, alert(body))
		}
		if alerts[0] != alerts[1] || alerts[0] != "Sign-ins from this app are paused." {
			t.Fatalf("alerts %q", alerts)
		}
		if _, err := a.pool.Pool.UserByEmail(context.Background(), "new@example.com"); !errors.Is(err, pool.ErrUserNotFound) {
			t.Fatalf("a denied sign-up was stored: %v", err)
		}
		evs := h.received("/presignup")
		ev := evs[len(evs)-1]
		req, _ := ev["request"].(map[string]any)
		ua, _ := req["userAttributes"].(map[string]any)
		if ev["triggerSource"] != "PreSignUp_SignUp" || ua["email"] != "new@example.com" || ua["custom:tenant"] != "acme" {
			t.Fatalf("event %v", ev)
		}
	})
	for _, mode := range []string{"badjson", "slow"} {
		t.Run("pre sign-up "+mode+" fails the sign-up", func(t *testing.T) {
			h.set("/presignup", mode, map[string]any{})
			resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm("new@example.com", password))
			wantStatus(t, "sign-up", resp, body, http.StatusBadGateway)
			if _, err := a.pool.Pool.UserByEmail(context.Background(), "new@example.com"); !errors.Is(err, pool.ErrUserNotFound) {
				t.Fatalf("a failed sign-up was stored: %v", err)
			}
		})
	}

	t.Run("forged answer ignored; custom message; post confirmation", func(t *testing.T) {
		h.set("/presignup", "forged", map[string]any{})
		h.set("/message", "ok", map[string]any{"emailSubject": "Welcome to Acme", "emailMessage": "Your Acme code:\n\n  {####}\n"})
		h.set("/postconfirm", "deny", nil)
		const email = "bob@example.com"
		resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm(email, password))
		wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Path != "/_gatehouse/confirm" {
			t.Fatalf("sign-up went to %s", loc)
		}
		msg := a.smtp.WaitFor(t, email, 1, mailWait)
		code := msg.Code(t)
		if msg.Subject != "Welcome to Acme" || !strings.HasPrefix(msg.Text, "Your Acme code:") {
			t.Fatalf("mail %q:\n%s", msg.Subject, msg.Text)
		}
		for _, ev := range h.received("/message") {
			if strings.Contains(ev["request"].(map[string]any)["codeParameter"].(string), code) {
				t.Fatal("the hook was sent the code")
			}
		}
		// The forged answer's userName and attributes were not used.
		u, err := a.pool.Pool.UserByEmail(context.Background(), email)
		if err != nil || u.Attributes["custom:tenant"] != "acme" || u.Status != store.StatusUnconfirmed {
			t.Fatalf("user %+v %v", u, err)
		}
		// Post confirmation refuses: the page says so; the user is confirmed.
		resp, body = a.form(t, c, "/_gatehouse/confirm", url.Values{"email": {email}, "code": {code}, "password": {password}, "action": {"confirm"}})
		wantStatus(t, "confirm", resp, body, http.StatusForbidden)
		if !strings.Contains(body, "Sign-ins from this app are paused.") {
			t.Fatalf("confirm page:\n%s", body)
		}
		if u, _ := a.pool.Pool.UserByEmail(context.Background(), email); u.Status != store.StatusConfirmed {
			t.Fatalf("status %s: the confirmation should stand", u.Status)
		}
		if evs := h.received("/postconfirm"); len(evs) != 1 || evs[0]["triggerSource"] != "PostConfirmation_ConfirmSignUp" || evs[0]["userName"] != u.ID {
			t.Fatalf("post confirmation events %v", evs)
		}
	})

	t.Run("pre sign-up autoConfirmUser: no code, sign in at once", func(t *testing.T) {
		h.set("/presignup", "ok", map[string]any{"autoConfirmUser": true, "autoVerifyEmail": true})
		const email = "cy@example.com"
		resp, body := a.form(t, c, "/_gatehouse/signup", signUpForm(email, password))
		wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path != "/_gatehouse/signin" || loc.Query().Get("notice") != "signed_up" {
			t.Fatalf("auto-confirmed sign-up went to %s", loc)
		}
		var u *store.User
		for deadline := time.Now().Add(mailWait); u == nil && time.Now().Before(deadline); {
			// The sign-up completes after the answer, in Caddy's process.
			if u, _ = a.pool.Pool.UserByEmail(context.Background(), email); u == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if u == nil || u.Status != store.StatusConfirmed || !u.EmailVerified {
			t.Fatalf("user %+v", u)
		}
		if _, to := signIn(t, testenv.Browser(t), a.base, "/", email, password); to != "/" {
			t.Fatalf("sign-in continues to %s", to)
		}
		if n := a.smtp.CountTo(email); n != 0 {
			t.Fatalf("%d mails to an auto-confirmed user", n)
		}
	})
}
