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

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The federated sign-in's specification: which user an outside identity
// becomes, and what it never becomes (the attacker cases).

// google is who signed in at the provider "google".
func google(sub, email string, verified bool) ExternalIdentity {
	return ExternalIdentity{Provider: "google", ProviderType: "Google", Issuer: "https://accounts.google.com",
		Subject: sub, Email: email, EmailVerified: verified,
		Attributes: map[string]string{"name": "Ada Lovelace", "given_name": "Ada"}}
}

// fed starts a federated sign-in on the machine's pool.
func (m *machine) fed(t *testing.T, id ExternalIdentity, create, link bool) (*AuthStep, error) {
	t.Helper()
	return m.p.InitiateFederatedAuth(t.Context(), FederatedAuth{Identity: id, CreateUsers: create, LinkByEmail: link, Client: machineClient})
}

// fedAuth wants a finished sign-in.
func (m *machine) fedAuth(t *testing.T, id ExternalIdentity, create, link bool) *Authentication {
	t.Helper()
	step, err := m.fed(t, id, create, link)
	if err != nil || step.Auth == nil {
		t.Fatalf("federated sign-in of %s/%s: step %s, err %v; want done", id.Provider, id.Subject, describe(step), err)
	}
	return step.Auth
}

// fedRefused wants the sign-in refused with want.
func (m *machine) fedRefused(t *testing.T, id ExternalIdentity, create, link bool, want error) {
	t.Helper()
	step, err := m.fed(t, id, create, link)
	if !errors.Is(err, want) || step != nil {
		t.Fatalf("federated sign-in of %s/%s: step %s, err %v; want %v", id.Provider, id.Subject, describe(step), err, want)
	}
}

func (m *machine) userByEmail(t *testing.T, email string) *store.User {
	t.Helper()
	u, err := m.p.store.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("UserByEmail(%s): %v", email, err)
	}
	return u
}

func identityNames(u *store.User) []string {
	var out []string
	for _, id := range u.Identities {
		s := id.Provider + "/" + id.Subject
		if id.Primary {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

// fedTrail is the pool's audit trail as type[/reason][ provider][ amr].
func fedTrail(t *testing.T, p *Pool) []string {
	t.Helper()
	var out []string
	for _, e := range trail(t, p) {
		s := e.Type
		if r := e.Detail["reason"]; r != "" {
			s += "/" + r
		}
		if pr := e.Detail["provider"]; pr != "" {
			s += " " + pr
		}
		if a := e.Detail["amr"]; a != "" {
			s += " amr=" + a
		}
		out = append(out, s)
	}
	return out
}

func wantTrail(t *testing.T, p *Pool, want ...string) {
	t.Helper()
	if got := fedTrail(t, p); !slices.Equal(got, want) {
		t.Errorf("audit trail:\n got %q\nwant %q", got, want)
	}
}

func TestFederatedFirstSignInCreatesUser(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	id := google("g-ada", "Ada@Example.com", true)
	id.Attributes["custom:dept"] = "math"
	id.Attributes["picture"] = "https://lh3.example/ada.png"
	// Not pool attributes, or refused by their format: dropped.
	id.Attributes["email_verified"] = "true"
	id.Attributes["phone_number_verified"] = "true"
	id.Attributes["isAdmin"] = "yes"
	id.Attributes["website"] = "javascript:alert(1)"
	a := m.fedAuth(t, id, true, false)
	if !slices.Equal(a.AMR, []string{AMRFederated}) || a.Method != "federated" || !a.AuthTime.Equal(m.clk.now()) {
		t.Errorf("authentication amr %v, method %q, at %v", a.AMR, a.Method, a.AuthTime)
	}
	u := a.User
	if u.Email != "ada@example.com" || !u.EmailVerified || u.Status != store.StatusExternalProvider ||
		!u.Enabled || u.PasswordHash != "" || u.Name != "Ada Lovelace" {
		t.Errorf("created user %+v", u)
	}
	wantAttrs := map[string]string{"given_name": "Ada", "custom:dept": "math", "picture": "https://lh3.example/ada.png"}
	if fmt.Sprint(u.Attributes) != fmt.Sprint(wantAttrs) {
		t.Errorf("attributes %v, want %v", u.Attributes, wantAttrs)
	}
	if got := identityNames(u); !slices.Equal(got, []string{"google/g-ada*"}) {
		t.Errorf("identities %v", got)
	}
	if i := u.Identities[0]; i.ProviderType != "Google" || i.Issuer != "https://accounts.google.com" {
		t.Errorf("identity %+v", i)
	}
	wantTrail(t, m.p, "federated_user_created google", "sign_in amr=fed")

	// The next sign-in finds the same user, and nothing is created.
	again := m.fedAuth(t, id, true, false)
	if again.User.ID != u.ID {
		t.Errorf("second sign-in is user %s, want %s", again.User.ID, u.ID)
	}
	wantTrail(t, m.p, "federated_user_created google", "sign_in amr=fed", "sign_in amr=fed")
}

func TestFederatedSignInRefreshesAttributes(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	u := m.fedAuth(t, google("g-ada", "ada@example.com", true), true, false).User
	mustCreate(t, m.p, NewUser{Email: "taken@example.com"})

	for _, tc := range []struct {
		name      string
		email     string
		verified  bool
		given     string
		wantEmail string
	}{
		{"a changed attribute", "ada@example.com", true, "Augusta", "ada@example.com"},
		{"a new verified address", "ada@new.example", true, "Augusta", "ada@new.example"},
		{"a new unverified address is not taken", "ada@unverified.example", false, "Augusta", "ada@new.example"},
		{"another user's address is not taken", "taken@example.com", true, "Ada", "ada@new.example"},
	} {
		id := google("g-ada", tc.email, tc.verified)
		id.Attributes["given_name"] = tc.given
		got := m.fedAuth(t, id, true, false).User
		if got.ID != u.ID || got.Email != tc.wantEmail || got.Attributes["given_name"] != tc.given || !got.EmailVerified {
			t.Errorf("%s: user %s %s %v, want %s %s given_name %s", tc.name, got.ID, got.Email, got.Attributes, u.ID, tc.wantEmail, tc.given)
		}
		if stored := m.userByEmail(t, tc.wantEmail); stored.ID != u.ID || stored.Attributes["given_name"] != tc.given {
			t.Errorf("%s: stored %+v", tc.name, stored)
		}
	}
	if other := m.userByEmail(t, "taken@example.com"); other.ID == u.ID {
		t.Error("the federated user took another user's address")
	}
}

// TestFederatedNeverChangesNativeEmail: a provider linked to a native user
// refreshes its mapped attributes, never the address.
func TestFederatedNeverChangesNativeEmail(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	u, _ := m.user(t, "ada@example.com")
	if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
		t.Fatal(err)
	}
	id := google("g-ada", "ada@elsewhere.example", true)
	id.Attributes["given_name"] = "Augusta"
	got := m.fedAuth(t, id, true, true).User
	if got.ID != u.ID || got.Email != "ada@example.com" || got.Status != store.StatusConfirmed || got.Attributes["given_name"] != "Augusta" {
		t.Errorf("native user after a federated sign-in: %+v", got)
	}
	if _, err := m.p.SignIn(t.Context(), "ada@example.com", goodPassword); err != nil {
		t.Errorf("the native user's password: %v", err)
	}
}

// TestFederatedUnverifiedEmail: an address the provider does not vouch for
// never links to an account nor creates one (an account takeover: anyone
// can type anyone's address at some providers).
func TestFederatedUnverifiedEmail(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	victim := mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true})
	for _, id := range []ExternalIdentity{
		google("g-mallory", "ada@example.com", false),
		google("g-mallory", "", true),
		google("g-mallory", "not an address", true),
		google("g-mallory", "Ada <ada@example.com>", true),
	} {
		m.fedRefused(t, id, true, true, ErrFederatedNoEmail)
	}
	if got := m.userByEmail(t, "ada@example.com"); got.ID != victim.ID || len(got.Identities) != 0 {
		t.Errorf("the victim's account after the attempts: %+v, identities %v", got, identityNames(got))
	}
	if _, err := m.p.store.UserByIdentity(t.Context(), "google", "g-mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the attacker's identity was stored: %v", err)
	}
	users, _ := m.p.ListUsers(t.Context(), store.ListOptions{})
	if len(users) != 1 {
		t.Errorf("%d users, want the victim only", len(users))
	}
	wantTrail(t, m.p, slices.Repeat([]string{"federation_failed/no_email google"}, 4)...)
}

func TestFederatedLinkByEmail(t *testing.T) {
	t.Parallel()
	t.Run("links a confirmed user with a verified address", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u := mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true})
		a := m.fedAuth(t, google("g-ada", "ADA@example.com", true), false, true)
		if a.User.ID != u.ID || a.User.Status != store.StatusConfirmed || a.User.PasswordHash != u.PasswordHash {
			t.Errorf("linked sign-in is %+v, want the native user as they were", a.User)
		}
		if got := identityNames(a.User); !slices.Equal(got, []string{"google/g-ada"}) {
			t.Errorf("identities %v, want one, not primary", got)
		}
		if !slices.Equal(a.AMR, []string{AMRFederated}) {
			t.Errorf("amr %v", a.AMR)
		}
		wantTrail(t, m.p, "identity_linked google", "sign_in amr=fed")
	})
	t.Run("without link_by_email the address is taken", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true})
		m.fedRefused(t, google("g-ada", "ada@example.com", true), true, false, ErrFederatedEmailTaken)
		m.fedRefused(t, google("g-ada", "ada@example.com", true), false, false, ErrFederatedNotAllowed)
		if got := m.userByEmail(t, "ada@example.com"); len(got.Identities) != 0 {
			t.Errorf("linked without link_by_email: %v", identityNames(got))
		}
		wantTrail(t, m.p, "federation_failed/email_taken google", "federation_failed/not_allowed google")
	})
	t.Run("a user whose own address is unverified is not linked", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: false})
		m.fedRefused(t, google("g-ada", "ada@example.com", true), true, true, ErrFederatedEmailTaken)
		if got := m.userByEmail(t, "ada@example.com"); len(got.Identities) != 0 {
			t.Errorf("linked: %v", identityNames(got))
		}
	})
	t.Run("a user who must change a temporary password is not linked", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true, Status: store.StatusForceChangePassword})
		m.fedRefused(t, google("g-ada", "ada@example.com", true), false, true, ErrFederatedNotAllowed)
		if got := m.userByEmail(t, "ada@example.com"); len(got.Identities) != 0 {
			t.Errorf("linked: %v", identityNames(got))
		}
	})
	t.Run("a disabled user is refused and not linked", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u := mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true})
		if err := m.p.SetEnabled(t.Context(), u.ID, false); err != nil {
			t.Fatal(err)
		}
		m.fedRefused(t, google("g-ada", "ada@example.com", true), true, true, ErrUserDisabled)
		if got := m.userByEmail(t, "ada@example.com"); len(got.Identities) != 0 {
			t.Errorf("linked: %v", identityNames(got))
		}
	})
	t.Run("a user with another identity of the provider", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u := mustCreate(t, m.p, NewUser{Email: "ada@example.com", EmailVerified: true})
		if err := m.p.LinkIdentity(t.Context(), u, google("g-old", "", false)); err != nil {
			t.Fatal(err)
		}
		m.fedRefused(t, google("g-new", "ada@example.com", true), true, true, ErrIdentityLinked)
		if got := identityNames(m.userByEmail(t, "ada@example.com")); !slices.Equal(got, []string{"google/g-old"}) {
			t.Errorf("identities %v", got)
		}
	})
}

// TestFederatedReplacesPreAccount: a stranger's unconfirmed sign-up of the
// victim's address is replaced by the victim's federated account, never
// linked to it: the stranger's password, attributes and id are gone.
func TestFederatedReplacesPreAccount(t *testing.T) {
	t.Parallel()
	const victim = "ada@example.com"
	for _, link := range []bool{false, true} {
		t.Run(fmt.Sprintf("link_by_email %v", link), func(t *testing.T) {
			t.Parallel()
			p, _, _ := accountPool(t, nil)
			m := &machine{p: p}
			if _, err := p.SignUp(t.Context(), attackerReq(victim)); err != nil {
				t.Fatal(err)
			}
			pre := m.userByEmail(t, victim)
			if pre.Status != store.StatusUnconfirmed {
				t.Fatalf("pre-account is %s", pre.Status)
			}
			// Without create_users nothing replaces it, and nothing links.
			m.fedRefused(t, google("g-ada", victim, true), false, link, ErrFederatedNotAllowed)
			if got := m.userByEmail(t, victim); got.ID != pre.ID || len(got.Identities) != 0 {
				t.Fatalf("pre-account after a refused sign-in: %+v %v", got, identityNames(got))
			}

			id := google("g-ada", victim, true)
			id.Attributes["custom:tenant"] = "acme"
			a := m.fedAuth(t, id, true, link)
			u := a.User
			if u.ID == pre.ID || u.Status != store.StatusExternalProvider || u.PasswordHash != "" ||
				u.Name != "Ada Lovelace" || u.Attributes["custom:tenant"] != "acme" {
				t.Errorf("the victim's account is %+v, want a new EXTERNAL_PROVIDER user with the provider's attributes", u)
			}
			if _, err := p.User(t.Context(), pre.ID); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("the pre-account is still there: %v", err)
			}
			if _, err := p.SignIn(t.Context(), victim, attackerPassword); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("the attacker's password: %v, want ErrInvalidCredentials", err)
			}
			// custom:tenant is immutable: set at creation, kept after.
			id.Attributes["custom:tenant"] = "evil"
			if got := m.fedAuth(t, id, true, link).User; got.ID != u.ID || got.Attributes["custom:tenant"] != "acme" {
				t.Errorf("a later sign-in: user %s, custom:tenant %q; want %s, acme", got.ID, got.Attributes["custom:tenant"], u.ID)
			}
		})
	}
}

func TestFederatedDisabledUser(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	u := m.fedAuth(t, google("g-ada", "ada@example.com", true), true, false).User
	if err := m.p.SetEnabled(t.Context(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	m.fedRefused(t, google("g-ada", "ada@example.com", true), true, true, ErrUserDisabled)
	es := trail(t, m.p)
	last := es[len(es)-1]
	if last.Type != AuditFederationFailed || last.UserID != u.ID || last.Detail["reason"] != "user_disabled" || last.Detail["provider"] != "google" {
		t.Errorf("last event %+v", last)
	}
}

func TestFederatedNotAllowed(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	m.fedRefused(t, google("g-ada", "ada@example.com", true), false, true, ErrFederatedNotAllowed)
	m.fedRefused(t, ExternalIdentity{Provider: "google"}, true, true, ErrInvalidIdentity)
	m.fedRefused(t, ExternalIdentity{Subject: "x"}, true, true, ErrInvalidIdentity)
	if users, _ := m.p.ListUsers(t.Context(), store.ListOptions{}); len(users) != 0 {
		t.Errorf("%d users created", len(users))
	}
	wantTrail(t, m.p, "federation_failed/not_allowed google")
}

// TestFederatedSecondFactor: a linked user with a factor is asked for it
// as after a password, and the amr names the provider, not a password.
func TestFederatedSecondFactor(t *testing.T) {
	t.Parallel()
	t.Run("TOTP", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u, secret := m.user(t, "ada@example.com", "totp")
		if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
			t.Fatal(err)
		}
		step, err := m.fed(t, google("g-ada", "ada@example.com", true), false, false)
		if err != nil || describe(step) != "challenge SOFTWARE_TOKEN_MFA flow=signin" {
			t.Fatalf("step %s, err %v; want the TOTP challenge", describe(step), err)
		}
		// A wrong code asks again, still for a federated sign-in.
		again, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: step.Challenge.Session, Client: machineClient, Code: "000000"})
		if !errors.Is(err, ErrWrongCode) || again == nil || again.Challenge == nil {
			t.Fatalf("wrong code: %s, %v", describe(again), err)
		}
		done, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: again.Challenge.Session, Client: machineClient,
			Code: codeAt(t, secret, m.clk.now()), RememberDevice: true})
		if err != nil || done.Auth == nil {
			t.Fatalf("right code: %s, %v", describe(done), err)
		}
		if !slices.Equal(done.Auth.AMR, []string{AMRFederated, AMROTP, AMRMFA}) {
			t.Errorf("amr %v, want fed otp mfa", done.Auth.AMR)
		}
		es := trail(t, m.p)
		if last := es[len(es)-1]; last.Type != AuditSignIn || last.Detail["amr"] != "fed otp mfa" {
			t.Errorf("last event %+v", last)
		}
	})
	t.Run("recovery code", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u, _ := m.user(t, "ada@example.com", "totp")
		codes, err := m.p.RegenerateRecoveryCodes(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
			t.Fatal(err)
		}
		step, err := m.fed(t, google("g-ada", "", false), false, false)
		if err != nil || step.Challenge == nil {
			t.Fatalf("step %s, err %v", describe(step), err)
		}
		done, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: step.Challenge.Session, Client: machineClient, Code: codes[0]})
		if err != nil || done.Auth == nil || !slices.Equal(done.Auth.AMR, []string{AMRFederated, AMRMFA}) {
			t.Fatalf("recovery code: %s, %v", describe(done), err)
		}
	})
	t.Run("email code", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u, _ := m.user(t, "ada@example.com", "email")
		if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
			t.Fatal(err)
		}
		step, err := m.fed(t, google("g-ada", "", false), false, false)
		if err != nil || describe(step) != "challenge EMAIL_OTP flow=signin" {
			t.Fatalf("step %s, err %v", describe(step), err)
		}
		code := m.fm.last(t, mail.KindMFACode, "ada@example.com").Code
		done, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: step.Challenge.Session, Client: machineClient, Code: code})
		if err != nil || done.Auth == nil || !slices.Equal(done.Auth.AMR, []string{AMRFederated, AMROTP, AMRMFA}) {
			t.Fatalf("email code: %s, %v", describe(done), err)
		}
	})
	t.Run("remembered device", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{RememberDevice: time.Hour})
		u, _ := m.user(t, "ada@example.com", "totp")
		if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
			t.Fatal(err)
		}
		fp, err := m.p.DeviceFingerprint(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		for device, want := range map[*RememberedDevice]string{
			{UserID: u.ID, Fingerprint: fp}:           "auth amr=fed,mfa",
			{UserID: u.ID, Fingerprint: "stale"}:      "challenge SOFTWARE_TOKEN_MFA flow=signin",
			{UserID: "someone-else", Fingerprint: fp}: "challenge SOFTWARE_TOKEN_MFA flow=signin",
		} {
			step, err := m.p.InitiateFederatedAuth(t.Context(), FederatedAuth{Identity: google("g-ada", "", false), Client: machineClient, Device: device})
			if err != nil || describe(step) != want {
				t.Errorf("device %+v: step %s, err %v; want %s", device, describe(step), err, want)
			}
		}
	})
	t.Run("mfa required asks no set-up of a federated user", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{Mode: MFARequired})
		a := m.fedAuth(t, google("g-ada", "ada@example.com", true), true, false)
		if !slices.Equal(a.AMR, []string{AMRFederated}) {
			t.Errorf("amr %v", a.AMR)
		}
	})
	t.Run("a password sign-in keeps its amr", func(t *testing.T) {
		t.Parallel()
		m := newMachine(t, "", MFAConfig{})
		u, secret := m.user(t, "ada@example.com", "totp")
		if err := m.p.LinkIdentity(t.Context(), u, google("g-ada", "", false)); err != nil {
			t.Fatal(err)
		}
		c := m.challenge(t, "ada@example.com", ChallengeSoftwareTokenMFA)
		done, err := m.p.RespondToAuthChallenge(t.Context(), Answer{Session: c.Session, Client: machineClient, Code: codeAt(t, secret, m.clk.now())})
		if err != nil || !slices.Equal(done.Auth.AMR, []string{AMRPassword, AMROTP, AMRMFA}) {
			t.Fatalf("password and TOTP: %s, %v", describe(done), err)
		}
	})
}

// TestFederatedUserHasNoPassword: a user without a password fails a
// password sign-in exactly as a wrong password does, after the same
// hashing, and a reset mails nothing.
func TestFederatedUserHasNoPassword(t *testing.T) {
	t.Parallel()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{}
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), Config{HashConcurrency: 1,
		Accounts: AccountConfig{Mail: &Messenger{Mailer: fm, Templates: tmpl}}})
	m := &machine{p: p, fm: fm}
	m.fedAuth(t, google("g-ada", "ada@example.com", true), true, false)
	mustCreate(t, p, NewUser{Email: "bob@example.com"})
	ctx := t.Context()

	for _, login := range []string{"ada@example.com", "bob@example.com", "nobody@example.com"} {
		for _, pw := range []string{"", "a guess at a password"} {
			if _, err := p.SignIn(ctx, login, pw); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("SignIn(%s, %q): %v, want ErrInvalidCredentials", login, pw, err)
			}
		}
		// The check waits for a hashing slot: with the only one taken it
		// cannot answer before its context ends.
		if err := p.hasher.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		// start is read before the deadline is set: read after, a busy
		// machine could pause the test between the two and make a wait
		// that lasted the whole deadline look shorter.
		start := time.Now()
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := p.SignIn(short, login, "a guess at a password")
		waited := time.Since(start)
		cancel()
		p.hasher.release()
		if !errors.Is(err, context.DeadlineExceeded) || waited < 50*time.Millisecond {
			t.Errorf("SignIn(%s) answered in %v with %v: it did not wait for a hashing slot", login, waited, err)
		}
	}

	if err := p.ForgotPassword(ctx, "ada@example.com"); err != nil {
		t.Errorf("ForgotPassword of a federated user: %v, want nil (nothing said)", err)
	}
	if err := p.ForgotPassword(ctx, "nobody@example.com"); err != nil {
		t.Errorf("ForgotPassword of nobody: %v", err)
	}
	if n := fm.count(); n != 0 {
		t.Errorf("%d messages sent, want none", n)
	}
	if _, err := p.ResetPassword(ctx, "ada@example.com", "123456", goodPassword); !errors.Is(err, ErrCodeExpired) && !errors.Is(err, ErrWrongCode) {
		t.Errorf("ResetPassword without a code: %v", err)
	}
	if u := m.userByEmail(t, "ada@example.com"); u.PasswordHash != "" {
		t.Error("a reset gave the federated user a password")
	}
}

func TestLinkAndUnlinkIdentity(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "", MFAConfig{})
	ctx := t.Context()
	fedUser := m.fedAuth(t, google("g-ada", "ada@example.com", true), true, false).User
	native, _ := m.user(t, "bob@example.com")
	github := ExternalIdentity{Provider: "github", ProviderType: "OIDC", Subject: "4242"}

	// The last way in of a user without a password stays.
	if err := m.p.UnlinkIdentity(ctx, fedUser, "google"); !errors.Is(err, ErrLastSignInMethod) {
		t.Errorf("unlink of the only identity: %v, want ErrLastSignInMethod", err)
	}
	if err := m.p.UnlinkIdentity(ctx, fedUser, "github"); !errors.Is(err, ErrIdentityNotLinked) {
		t.Errorf("unlink of an identity the user lacks: %v", err)
	}
	// Conflicts: another user's identity, a second of one provider.
	if err := m.p.LinkIdentity(ctx, native, google("g-ada", "", false)); !errors.Is(err, ErrIdentityLinked) {
		t.Errorf("linking another user's identity: %v, want ErrIdentityLinked", err)
	}
	if err := m.p.LinkIdentity(ctx, fedUser, google("g-other", "", false)); !errors.Is(err, ErrIdentityLinked) {
		t.Errorf("a second google identity: %v, want ErrIdentityLinked", err)
	}
	if err := m.p.LinkIdentity(ctx, fedUser, ExternalIdentity{Provider: "github"}); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("an identity without a subject: %v", err)
	}
	if err := m.p.LinkIdentity(ctx, &store.User{ID: "nobody"}, github); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("linking to nobody: %v, want ErrUserNotFound", err)
	}
	// With a second identity, either may go, but not both.
	if err := m.p.LinkIdentity(ctx, fedUser, github); err != nil {
		t.Fatal(err)
	}
	ids, err := m.p.Identities(ctx, fedUser.ID)
	if err != nil || len(ids) != 2 || ids[0].Provider != "google" || !ids[0].Primary || ids[1].Provider != "github" || ids[1].Primary {
		t.Fatalf("identities %+v, %v", ids, err)
	}
	if err := m.p.UnlinkIdentity(ctx, fedUser, "google"); err != nil {
		t.Fatalf("unlink with another identity left: %v", err)
	}
	if err := m.p.UnlinkIdentity(ctx, fedUser, "github"); !errors.Is(err, ErrLastSignInMethod) {
		t.Errorf("unlink of the last identity: %v, want ErrLastSignInMethod", err)
	}
	// Unlinked, the google account signs in no more as this user.
	m.fedRefused(t, google("g-ada", "ada@example.com", true), false, false, ErrFederatedNotAllowed)
	// github still does.
	if a := m.fedAuth(t, github, false, false); a.User.ID != fedUser.ID {
		t.Errorf("github signs in as %s", a.User.ID)
	}

	// A user with a password may unlink their only identity.
	if err := m.p.LinkIdentity(ctx, native, google("g-bob", "", false)); err != nil {
		t.Fatal(err)
	}
	if err := m.p.UnlinkIdentity(ctx, native, "google"); err != nil {
		t.Errorf("unlink of a native user's identity: %v", err)
	}
	got := strings.Join(fedTrail(t, m.p), "\n")
	for _, want := range []string{"identity_linked github", "identity_unlinked google", "identity_linked google", "federation_failed/identity_linked google"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, got)
		}
	}
}

// TestConcurrentFirstSignIns: one identity's first sign-in, on several
// instances at once, makes one user, and every sign-in is that user's.
func TestConcurrentFirstSignIns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	pools := []*Pool{newMachine(t, path, MFAConfig{}).p, newMachine(t, path, MFAConfig{}).p, newMachine(t, path, MFAConfig{}).p}
	const n = 6
	ids := make(chan string, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			step, err := pools[i%len(pools)].InitiateFederatedAuth(context.Background(),
				FederatedAuth{Identity: google("g-ada", "ada@example.com", true), CreateUsers: true, Client: machineClient})
			if err != nil || step.Auth == nil {
				errs <- fmt.Errorf("step %s, err %v", describe(step), err)
				return
			}
			ids <- step.Auth.User.ID
		}()
	}
	close(start)
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-ids:
			seen[id] = true
		case err := <-errs:
			t.Error(err)
		}
	}
	if len(seen) != 1 {
		t.Errorf("sign-ins became %d users, want 1", len(seen))
	}
	users, _ := pools[0].ListUsers(t.Context(), store.ListOptions{})
	if len(users) != 1 {
		t.Errorf("%d users stored, want 1", len(users))
	}
}
