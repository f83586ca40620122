package module_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Sign-in aliases (sign_in_with): a username and a verified phone number
// sign in as the address does, on a real Caddy.

const (
	adaUsername = "Ada.L"
	bobEmail    = "bob@example.com"
	bobPhone    = "+15555550111" // never verified
	evePhone    = "+15555550122" // verified, Eve's
)

// aliasSite is the SMS site signing in with all three, with Ada (username
// Ada.L, number verified), Bob (number not verified) and Eve (a verified
// number, no username).
func aliasSite(t *testing.T, extra string) *smsSite {
	t.Helper()
	s := startSMS(t, "sign_in_with email username phone\n"+extra, false)
	ctx := context.Background()
	mk := func(email, phone string, verified bool, attrs map[string]string) {
		attrs["custom:tenant"], attrs["phone_number"] = "acme", phone
		u, err := s.pool.Pool.CreateUser(ctx, pool.NewUser{Email: email, Password: adaPassword, Name: email,
			EmailVerified: true, Attributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		if verified {
			if _, err := s.pool.Pool.UpdateAttributesByAdmin(ctx, u.ID, pool.AdminAttributes{PhoneVerified: &verified}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(adaEmail, adaPhone, true, map[string]string{"preferred_username": adaUsername})
	mk(bobEmail, bobPhone, false, map[string]string{"preferred_username": "bob"})
	mk("eve@example.com", evePhone, true, map[string]string{})
	return s
}

var loginInputRE = regexp.MustCompile(`(?s)<label for="email">([^<]*)</label>\s*<input id="email"[^>]*>`)

func TestAliasSignInPageField(t *testing.T) {
	for _, c := range []struct {
		with, label, typ, inputmode string
	}{
		{"email username phone", "Email, username or phone number", "text", ""},
		{"email username", "Email or username", "text", ""},
		{"username", "Username", "text", ""},
		{"phone", "Phone number", "tel", "tel"},
		{"email", "Email", "email", "email"},
	} {
		t.Run(c.with, func(t *testing.T) {
			s := startSMS(t, "sign_in_with "+c.with, false)
			_, body, _ := s.page(t, testenv.Browser(t), "/_gatehouse/signin")
			m := loginInputRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no login field:\n%s", body)
			}
			input := m[0]
			if m[1] != c.label || !strings.Contains(input, `type="`+c.typ+`"`) || !strings.Contains(input, `autocomplete="username`) {
				t.Errorf("label %q, input %s; want %q, type %s, autocomplete username", m[1], input, c.label, c.typ)
			}
			if has := strings.Contains(input, "inputmode="); has != (c.inputmode != "") || c.inputmode != "" && !strings.Contains(input, `inputmode="`+c.inputmode+`"`) {
				t.Errorf("input %s: want inputmode %q", input, c.inputmode)
			}
			// login_hint fills in only a login of the pool's kinds, and
			// never as markup.
			_, hinted, _ := s.page(t, testenv.Browser(t), "/_gatehouse/signin?login_hint="+url.QueryEscape(`"><script>x</script>`))
			if strings.Contains(hinted, "<script>x") || !strings.Contains(hinted, `value=""`) {
				t.Errorf("a hostile login_hint was filled in:\n%s", hinted)
			}
			// The forgotten password page asks for the same.
			_, forgot, _ := s.page(t, testenv.Browser(t), "/_gatehouse/forgot")
			if !strings.Contains(forgot, ">"+c.label+"</label>") || !strings.Contains(forgot, `type="`+c.typ+`"`) {
				t.Errorf("forgot page's field is not %q %s:\n%s", c.label, c.typ, forgot)
			}
		})
	}
}

func TestSignInByUsernameAndVerifiedPhone(t *testing.T) {
	s := aliasSite(t, "")
	for _, login := range []string{"ada.l", "ADA.L", adaUsername, "+1 555 555 0100", adaPhone, adaEmail} {
		c := testenv.Browser(t)
		signIn(t, c, s.base, "/private", login, adaPassword)
		if !s.signedIn(t, c) {
			t.Fatalf("signed in by %q, but the upstream refuses the session", login)
		}
		if got := s.upstream.Last().Header.Get("X-Auth-Request-Email"); got != adaEmail {
			t.Fatalf("signed in by %q as %q, want Ada", login, got)
		}
	}
	// Bob's number was never verified: his right password with it is a
	// wrong login, and he is not signed in.
	c := testenv.Browser(t)
	csrf := signInForm(t, c, s.base, "/private")
	resp, body := postSignIn(t, c, s.base, csrf, "/private", bobPhone, adaPassword)
	wantStatus(t, "an unverified number", resp, body, http.StatusUnauthorized)
	if alert(body) != "Incorrect login or password." || s.signedIn(t, c) {
		t.Fatalf("an unverified number: alert %q, signed in %v", alert(body), s.signedIn(t, c))
	}
	// A username is checked by its rule first: the shape of an address
	// or number is never a username, so "+..." and "...@..." cannot
	// shadow another's login.
	if _, err := s.pool.Pool.UpdateProfile(context.Background(), aliasUser(t, s.site, bobEmail).ID,
		map[string]string{"preferred_username": "eve@example.com"}); err == nil {
		t.Fatal("an address was accepted as a username")
	}
}

func aliasUser(t *testing.T, s *site, email string) *store.User {
	t.Helper()
	u, err := s.pool.Pool.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestAliasEnumeration: an unknown username, an unknown number, a known
// name with a wrong password, an unverified number with its owner's right
// password, a verified number with a wrong one: one status and one page,
// the login itself aside. So for forgotten passwords.
func TestAliasEnumeration(t *testing.T) {
	s := aliasSite(t, enumOptions)
	logins := []string{"nobody.here", "ada.l", "+15555550199", bobPhone, evePhone, "bob"}
	passwords := map[string]string{bobPhone: adaPassword} // the right one: still refused
	for _, f := range []struct {
		name, path string
		form       func(login string) url.Values
	}{
		{"sign-in", "/_gatehouse/signin", func(l string) url.Values {
			pw := passwords[l]
			if pw == "" {
				pw = "not the password at all"
			}
			return url.Values{"email": {l}, "password": {pw}, "rd": {"/"}}
		}},
		{"forgot password", "/_gatehouse/forgot", func(l string) url.Values { return url.Values{"email": {l}} }},
		{"reset with a wrong code", "/_gatehouse/reset", func(l string) url.Values {
			return url.Values{"email": {l}, "code": {"000000"}, "password": {"a brand new passphrase"}}
		}},
	} {
		t.Run(f.name, func(t *testing.T) {
			var want enumAnswer
			for i, login := range logins {
				c := testenv.Browser(t)
				resp, body := s.form(t, c, f.path, f.form(login))
				key, _ := s.pool.Pool.LoginKey(login)
				norm := func(p string) string {
					for _, l := range []string{key, login} {
						p = normalize(normalize(normalize(p, strings.ReplaceAll(l, "+", "&#43;")), strings.ReplaceAll(l, "+", "%2b")), l)
					}
					return p
				}
				ans := enumAnswer{Status: resp.StatusCode, Page: norm(body)}
				if loc := resp.Header.Get("Location"); loc != "" {
					ans.Location = norm(loc)
					_, page, _ := s.page(t, c, loc)
					ans.Page = norm(page)
				}
				if i == 0 {
					want = ans
					continue
				}
				if ans != want {
					t.Errorf("%s for %q differs from an unknown username's:\nstatus %d vs %d, location %q vs %q\n%s",
						f.name, login, ans.Status, want.Status, ans.Location, want.Location, firstDiff(ans.Page, want.Page))
				}
			}
		})
	}
	// The forgotten password for a name went to its owner's address (after
	// the answer), for the unknown ones nowhere.
	flush(t, s.site)
	if s.smtp.CountTo(adaEmail) == 0 {
		t.Error("forgot by username mailed Ada nothing")
	}
}

// TestAliasTiming measures, as TestEnumerationTiming does (on request),
// that a sign-in by an unknown username or number takes as long as one by
// a known name or verified number with a wrong password: every login costs
// one indexed read and one argon2id verification.
func TestAliasTiming(t *testing.T) {
	if os.Getenv("GATEHOUSE_TIMING") == "" {
		t.Skip("a measurement: GATEHOUSE_TIMING=1 go test ./module -run TestAliasTiming -v")
	}
	const hash = "password_hash {\n memory_kib 19456\n iterations 2\n parallelism 1\n}"
	s := aliasSite(t, enumOptions+"\n"+hash)
	f := enumFlow{name: "sign-in", path: "/_gatehouse/signin", form: func(l string) url.Values {
		return url.Values{"email": {l}, "password": {"not the password at all"}, "rd": {"/"}}
	}}
	kinds := []string{"unknown name", "known name", "unknown number", "unverified number", "verified number"}
	var last string
	for attempt := range 5 {
		times := map[string][]time.Duration{}
		for i := range 25 {
			order := slices.Clone(kinds)
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, k := range order {
				login := map[string]string{"unknown name": fmt.Sprintf("nobody-%d-%d", attempt, i), "known name": "ada.l",
					"unknown number": fmt.Sprintf("+1555777%04d", i), "unverified number": bobPhone, "verified number": evePhone}[k]
				times[k] = append(times[k], timePost(t, s.accounts, f, login))
			}
		}
		lo, hi := time.Duration(1<<62), time.Duration(0)
		var parts []string
		for _, k := range kinds {
			m := median(times[k])
			lo, hi = min(lo, m), max(hi, m)
			parts = append(parts, fmt.Sprintf("%s %s", k, m))
		}
		last = fmt.Sprintf("medians %s: ratio %.3f", strings.Join(parts, ", "), float64(hi)/float64(lo))
		t.Logf("round %d: %s", attempt+1, last)
		if float64(hi)/float64(lo) <= 1.10 {
			return
		}
	}
	t.Errorf("answer times tell the logins apart: %s (want a ratio within 1.10)", last)
}

func TestSignUpWithUsername(t *testing.T) {
	s := aliasSite(t, "")
	form := func(email, username string) url.Values {
		f := signUpForm(email, "a quiet walk in the hills")
		f.Set("preferred_username", username)
		return f
	}
	c := testenv.Browser(t)
	_, page, _ := s.page(t, c, "/_gatehouse/signup")
	if !strings.Contains(page, `name="preferred_username"`) || !strings.Contains(page, `autocomplete="email"`) {
		t.Fatalf("the sign-up page has no username field, or its email field is still the saved login:\n%s", page)
	}
	// A taken name (in another case): said so, on the field, nothing
	// else told (not whose), nothing stored or mailed.
	resp, body := s.form(t, c, "/_gatehouse/signup", form("grace@example.com", "ADA.l"))
	wantStatus(t, "a taken username", resp, body, http.StatusUnprocessableEntity)
	if !strings.Contains(body, pool.MsgUsernameTaken) || strings.Contains(body, adaEmail) {
		t.Fatalf("a taken username's page:\n%s", body)
	}
	flush(t, s.site)
	if s.smtp.CountTo("grace@example.com") != 0 {
		t.Fatal("a refused sign-up mailed a code")
	}
	// A name of the wrong shape is refused by its rule.
	resp, body = s.form(t, c, "/_gatehouse/signup", form("grace@example.com", "+15555550100"))
	wantStatus(t, "a number as a username", resp, body, http.StatusUnprocessableEntity)
	if !strings.Contains(body, escaped(pool.MsgUsernameFormat)) {
		t.Fatalf("a number as a username:\n%s", body)
	}
	// A free one signs up, confirms, and signs in by the name.
	resp, body = s.form(t, c, "/_gatehouse/signup", form("grace@example.com", "Grace.H"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d\n%s", resp.StatusCode, body)
	}
	code := s.smtp.WaitFor(t, "grace@example.com", 1, mailWait).Code(t)
	resp, body = s.form(t, c, "/_gatehouse/confirm", url.Values{"email": {"grace@example.com"}, "code": {code},
		"password": {"a quiet walk in the hills"}, "action": {"confirm"}})
	if resp.StatusCode >= 400 {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, body)
	}
	c2 := testenv.Browser(t)
	signIn(t, c2, s.base, "/private", "grace.h", "a quiet walk in the hills")
	if !s.signedIn(t, c2) {
		t.Fatal("not signed in by the new username")
	}
	// The account page changes the name; the old one signs in nobody.
	resp, body = s.form(t, c2, "/_gatehouse/account", url.Values{"action": {"profile"}, "preferred_username": {"ada.l"},
		"name": {"Grace"}})
	wantStatus(t, "taking Ada's name on the account page", resp, body, http.StatusUnprocessableEntity)
	if !strings.Contains(body, pool.MsgUsernameTaken) {
		t.Fatalf("account page, a taken name:\n%s", body)
	}
	resp, body = s.form(t, c2, "/_gatehouse/account", url.Values{"action": {"profile"}, "preferred_username": {"hopper"},
		"name": {"Grace"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account page, a new name: %d\n%s", resp.StatusCode, body)
	}
	c3 := testenv.Browser(t)
	signIn(t, c3, s.base, "/private", "Hopper", "a quiet walk in the hills")
	csrf := signInForm(t, c3, s.base, "/private")
	if resp, body := postSignIn(t, c3, s.base, csrf, "/private", "grace.h", "a quiet walk in the hills"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old name: %d\n%s", resp.StatusCode, body)
	}
}

// escaped is s as the pages do.
func escaped(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

func TestForgotPasswordByUsername(t *testing.T) {
	s := aliasSite(t, "")
	c := testenv.Browser(t)
	resp, body := s.form(t, c, "/_gatehouse/forgot", url.Values{"email": {"ADA.L"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forgot: %d\n%s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "email=ada.l") || strings.Contains(loc, "example.com") {
		t.Fatalf("forgot goes to %q: the name, never the address", loc)
	}
	code := s.smtp.WaitFor(t, adaEmail, 1, mailWait).Code(t)
	const next = "a brand new passphrase here"
	resp, body = s.form(t, c, "/_gatehouse/reset", url.Values{"email": {"ada.l"}, "code": {code}, "password": {next}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "login_hint=ada.l") {
		t.Fatalf("reset: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, page := get(t, c, s.base+resp.Header.Get("Location"), nil)
	if !strings.Contains(page, `value="ada.l"`) {
		t.Errorf("the sign-in page after the reset is not filled in with the name:\n%s", page)
	}
	signIn(t, testenv.Browser(t), s.base, "/private", "ada.l", next)
}

func TestVerifyingANumberVerifiedElsewhere(t *testing.T) {
	s := aliasSite(t, "")
	ctx := context.Background()
	// Bob changes his number to Eve's (verified on her account).
	bob := aliasUser(t, s.site, bobEmail)
	if _, err := s.pool.Pool.UpdateProfile(ctx, bob.ID, map[string]string{"phone_number": evePhone}); err != nil {
		t.Fatal(err)
	}
	c := testenv.Browser(t)
	signIn(t, c, s.base, "/private", bobEmail, adaPassword)
	resp, body := s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_send"}})
	s.seeOther(t, c, "asking for a code", resp, body, "/_gatehouse/account?notice=phone_code_sent")
	d := s.gw.WaitFor(t, evePhone, 1, 5*time.Second)
	resp, body = s.form(t, c, "/_gatehouse/account", url.Values{"action": {"phone_verify"}, "phone_code": {d.Code}})
	wantStatus(t, "verifying Eve's number on Bob's account", resp, body, http.StatusConflict)
	if !strings.Contains(body, "This number is verified on another account") || strings.Contains(body, "eve@") {
		t.Fatalf("the refusal:\n%s", body)
	}
	// The number still signs in Eve alone.
	signIn(t, testenv.Browser(t), s.base, "/private", evePhone, adaPassword)
	if u := aliasUser(t, s.site, bobEmail); u.Attributes["phone_number_verified"] == "true" {
		t.Fatal("Bob's copy of the number was marked verified")
	}
}
