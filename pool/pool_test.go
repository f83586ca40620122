package pool

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// openSQLite opens (creating if needed, from sqlitetest's migrated copy) the
// SQLite store at path, closed when the test ends. Two calls with one path
// are two processes' views of one database.
func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	return sqlitetest.Open(t, path)
}

// newPoolOn makes a pool on s with cheap hashing unless cfg says otherwise.
func newPoolOn(t testing.TB, s store.Store, cfg Config) *Pool {
	t.Helper()
	if cfg.Hash == (HashParams{}) {
		cfg.Hash = fastParams
	}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	p, err := New(t.Context(), s, cfg)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	return p
}

// newTestPool makes a pool on a fresh store.
func newTestPool(t testing.TB) *Pool {
	t.Helper()
	return newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), Config{})
}

const goodPassword = "correct horse battery staple"

func mustCreate(t testing.TB, p *Pool, nu NewUser) *store.User {
	t.Helper()
	if nu.Password == "" {
		nu.Password = goodPassword
	}
	u, err := p.CreateUser(t.Context(), nu)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", nu.Email, err)
	}
	return u
}

func TestCreateUserNormalizesEmail(t *testing.T) {
	p := newTestPool(t)
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) + ".io"
	if len(long) != 254 {
		t.Fatalf("test address has %d bytes, want 254", len(long))
	}
	tests := []struct{ in, want string }{
		{"ada@example.com", "ada@example.com"},
		{"Bob@Example.COM", "bob@example.com"},
		{"  grace@example.org  ", "grace@example.org"},
		{"\tLINUS@KERNEL.ORG\r\n", "linus@kernel.org"},
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"},
		{"root@localhost", "root@localhost"},
		{strings.ToUpper(long), long},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := p.CreateUser(t.Context(), NewUser{Email: tt.in, Password: goodPassword, Name: "Someone"})
			if err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if u.Email != tt.want {
				t.Errorf("Email = %q, want %q", u.Email, tt.want)
			}
			if u.ID == "" || !u.Enabled || u.Status != store.StatusConfirmed || u.Name != "Someone" {
				t.Errorf("created user %+v: want an id, enabled, CONFIRMED, the given name", u)
			}
			if u.Attributes == nil {
				t.Error("Attributes is nil; want an empty map")
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("stored hash %q is not argon2id with the pool's params", u.PasswordHash)
			}
			got, err := p.UserByEmail(t.Context(), strings.ToUpper(tt.want))
			if err != nil || got.ID != u.ID {
				t.Errorf("UserByEmail(upper case) = %v, %v; want the created user", got, err)
			}
		})
	}
}

func TestCreateUserRejectsInvalidEmail(t *testing.T) {
	p := newTestPool(t)
	tests := []struct{ name, email string }{
		{"empty", ""},
		{"blank", "   "},
		{"display name", "Ada <a@b.c>"},
		{"quoted display name", `"Ada Lovelace" <ada@example.com>`},
		{"angle brackets only", "<ada@example.com>"},
		{"comment", "ada@example.com (Ada)"},
		{"quoted local part", `"ada"@example.com`},
		{"two addresses", "ada@example.com, bob@example.com"},
		{"no at", "ada.example.com"},
		{"no local part", "@example.com"},
		{"no domain", "ada@"},
		{"domain without dot", "ada@example"},
		{"space inside", "ada lovelace@example.com"},
		{"two ats", "ada@b@example.com"},
		{"over 254 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 59) + ".io"},
		{"newline inside", "ada@exam\nple.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := p.CreateUser(t.Context(), NewUser{Email: tt.email, Password: goodPassword})
			if !errors.Is(err, ErrInvalidEmail) {
				t.Errorf("CreateUser(%q) = %+v, %v; want ErrInvalidEmail", tt.email, u, err)
			}
		})
	}
	if users, err := p.ListUsers(t.Context(), store.ListOptions{}); err != nil || len(users) != 0 {
		t.Errorf("after only invalid emails the pool holds %d users (err %v), want 0", len(users), err)
	}
}

func TestNormalizeEmailRejectsInvalidUTF8(t *testing.T) {
	p := newTestPool(t)
	for _, email := range []string{"ad\xffa@example.com", "ada@exa\xc3mple.com"} {
		if got, err := NormalizeEmail(email); !errors.Is(err, ErrInvalidEmail) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", email, got, err)
		}
		if u, err := p.CreateUser(t.Context(), NewUser{Email: email, Password: goodPassword}); !errors.Is(err, ErrInvalidEmail) {
			t.Errorf("CreateUser(%q) = %+v, %v; want ErrInvalidEmail", email, u, err)
		}
	}
}

func TestCreateUserDuplicate(t *testing.T) {
	p := newTestPool(t)
	first := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	for _, email := range []string{"ada@example.com", "ADA@example.com", " Ada@Example.Com "} {
		if _, err := p.CreateUser(t.Context(), NewUser{Email: email, Password: "another good password"}); !errors.Is(err, ErrUserExists) {
			t.Errorf("CreateUser(%q) error = %v, want ErrUserExists", email, err)
		}
	}
	// The first user is untouched: the old password still signs in.
	u, err := p.SignIn(t.Context(), "ada@example.com", goodPassword)
	if err != nil || u.ID != first.ID {
		t.Errorf("SignIn of the first user = %v, %v", u, err)
	}
}

func TestCreateUserPasswordPolicy(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	p := newPoolOn(t, st, Config{})
	strict := newPoolOn(t, st, Config{Password: PasswordPolicy{MinLength: 20, MaxLength: 24}})
	tests := []struct {
		name     string
		pool     *Pool
		password string
		rule     string // "" when accepted
	}{
		{"11 characters", p, strings.Repeat("x", 11), "must be at least 12 characters"},
		{"12 characters", p, strings.Repeat("x", 12), ""},
		{"empty", p, "", "must be at least 12 characters"},
		{"11 two-byte runes", p, strings.Repeat("é", 11), "must be at least 12 characters"},
		{"12 two-byte runes", p, strings.Repeat("é", 12), ""},
		{"128 characters", p, strings.Repeat("x", 128), ""},
		{"129 characters", p, strings.Repeat("x", 129), "must be at most 128 characters"},
		{"invalid UTF-8", p, "long enough \xff password", "must be valid text"},
		{"custom min", strict, strings.Repeat("x", 19), "must be at least 20 characters"},
		{"custom min met", strict, strings.Repeat("x", 20), ""},
		{"custom max", strict, strings.Repeat("x", 25), "must be at most 24 characters"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := "user" + string(rune('a'+i)) + "@example.com"
			_, err := tt.pool.CreateUser(t.Context(), NewUser{Email: email, Password: tt.password})
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("CreateUser: %v", err)
				}
				return
			}
			var pe *PasswordPolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("CreateUser error = %v, want a *PasswordPolicyError", err)
			}
			if pe.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q", pe.Rule, tt.rule)
			}
			if pe.Error() != "password "+tt.rule {
				t.Errorf("Error() = %q", pe.Error())
			}
			if _, err := p.UserByEmail(t.Context(), email); !errors.Is(err, ErrUserNotFound) {
				t.Errorf("a user refused by the policy was stored (lookup error %v)", err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"min over max", Config{Hash: fastParams, Password: PasswordPolicy{MinLength: 30, MaxLength: 20}}},
		{"min over default max", Config{Hash: fastParams, Password: PasswordPolicy{MinLength: 200}}},
		{"max over 1024", Config{Hash: fastParams, Password: PasswordPolicy{MaxLength: 1025}}},
		{"negative min", Config{Hash: fastParams, Password: PasswordPolicy{MinLength: -1}}},
		{"hash memory too small", Config{Hash: HashParams{MemoryKiB: 4, Iterations: 1, Parallelism: 1}}},
		{"hash iterations too many", Config{Hash: HashParams{MemoryKiB: 64, Iterations: 1000, Parallelism: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := New(t.Context(), st, tt.cfg); err == nil {
				t.Errorf("New(%+v) = %v, want an error", tt.cfg, p)
			}
		})
	}
	p := newPoolOn(t, st, Config{Name: "main"})
	if p.Name() != "main" || p.Store() != store.Store(st) || p.Hasher().Params() != fastParams {
		t.Errorf("accessors: name %q, store %v, params %+v", p.Name(), p.Store(), p.Hasher().Params())
	}
	if p.UserRevocationTTL() != 366*24*time.Hour {
		t.Errorf("default UserRevocationTTL = %s, want 366 days", p.UserRevocationTTL())
	}
	if _, _, _, err := decodePHC(p.dummyHash); err != nil {
		t.Errorf("the dummy hash %q is not a valid hash: %v", p.dummyHash, err)
	}
}

func TestSignIn(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	active := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	disabled := mustCreate(t, p, NewUser{Email: "off@example.com"})
	if err := p.SetEnabled(ctx, disabled.ID, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, NewUser{Email: "new@example.com", Status: store.StatusUnconfirmed})
	both := mustCreate(t, p, NewUser{Email: "both@example.com", Status: store.StatusUnconfirmed})
	if err := p.SetEnabled(ctx, both.ID, false); err != nil {
		t.Fatal(err)
	}
	forced := mustCreate(t, p, NewUser{Email: "forced@example.com", Status: store.StatusForceChangePassword})
	mustCreate(t, p, NewUser{Email: "reset@example.com", Status: store.StatusResetRequired})

	tests := []struct {
		name            string
		login, password string
		wantID          string
		wantErr         error
	}{
		{"right password", "ada@example.com", goodPassword, active.ID, nil},
		{"login in another case, with spaces", "  ADA@Example.com ", goodPassword, active.ID, nil},
		{"wrong password", "ada@example.com", "wrong password here", "", ErrInvalidCredentials},
		{"password case matters", "ada@example.com", strings.ToUpper(goodPassword), "", ErrInvalidCredentials},
		{"empty password", "ada@example.com", "", "", ErrInvalidCredentials},
		{"unknown user", "nobody@example.com", goodPassword, "", ErrInvalidCredentials},
		{"not an email", "ada", goodPassword, "", ErrInvalidCredentials},
		{"empty login", "", goodPassword, "", ErrInvalidCredentials},
		{"disabled, right password", "off@example.com", goodPassword, "", ErrUserDisabled},
		{"disabled, wrong password", "off@example.com", "wrong password here", "", ErrInvalidCredentials},
		{"unconfirmed, right password", "new@example.com", goodPassword, "", ErrUserNotConfirmed},
		{"unconfirmed, wrong password", "new@example.com", "wrong password here", "", ErrInvalidCredentials},
		{"disabled and unconfirmed, right password", "both@example.com", goodPassword, "", ErrUserDisabled},
		{"disabled and unconfirmed, wrong password", "both@example.com", "wrong password here", "", ErrInvalidCredentials},
		{"must change password, right password", "forced@example.com", goodPassword, "", ErrNewPasswordRequired},
		{"must change password, wrong password", "forced@example.com", "wrong password here", "", ErrInvalidCredentials},
		{"reset required, right password", "reset@example.com", goodPassword, "", ErrPasswordResetRequired},
		{"reset required, wrong password", "reset@example.com", "wrong password here", "", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := p.SignIn(t.Context(), tt.login, tt.password)
			if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok && npr.User.ID != forced.ID {
				t.Errorf("new password required for %s, want %s", npr.User.ID, forced.ID)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || u != nil {
					t.Fatalf("SignIn = %+v, %v; want nil, %v", u, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SignIn: %v", err)
			}
			if u.ID != tt.wantID {
				t.Errorf("signed in as %s, want %s", u.ID, tt.wantID)
			}
		})
	}
}

func TestSignInMalformedStoredHash(t *testing.T) {
	p := newTestPool(t)
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	if err := p.Store().UpdatePassword(t.Context(), u.ID, "$argon2id$v=19$m=99999999,t=1,p=1$xx$yy", u.Status); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignIn(t.Context(), "ada@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("SignIn with a corrupt stored hash: %v, want ErrInvalidCredentials", err)
	}
}

func TestSignInUpgradesStaleHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	weak := newPoolOn(t, openSQLite(t, path), Config{Hash: fastParams})
	strongParams := HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}
	strong := newPoolOn(t, openSQLite(t, path), Config{Hash: strongParams})
	ctx := t.Context()

	created := mustCreate(t, weak, NewUser{Email: "ada@example.com"})
	if params, _, _, err := decodePHC(created.PasswordHash); err != nil || params != fastParams {
		t.Fatalf("created hash params %+v (err %v), want %+v", params, err, fastParams)
	}

	// A wrong password changes nothing.
	if _, err := strong.SignIn(ctx, "ada@example.com", "wrong password here"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if u, _ := strong.User(ctx, created.ID); u.PasswordHash != created.PasswordHash {
		t.Fatal("a failed sign-in rewrote the hash")
	}

	u, err := strong.SignIn(ctx, "ada@example.com", goodPassword)
	if err != nil {
		t.Fatalf("SignIn through the stronger pool: %v", err)
	}
	stored, err := strong.User(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	params, _, _, err := decodePHC(stored.PasswordHash)
	if err != nil || params != strongParams {
		t.Fatalf("stored hash params after sign-in %+v (err %v), want %+v", params, err, strongParams)
	}
	if u.PasswordHash != stored.PasswordHash {
		t.Errorf("SignIn returned hash %q, the store holds %q", u.PasswordHash, stored.PasswordHash)
	}
	if stored.Status != store.StatusConfirmed {
		t.Errorf("status changed to %q by the upgrade", stored.Status)
	}
	if ok, stale, err := strong.Hasher().Verify(ctx, goodPassword, stored.PasswordHash); !ok || stale || err != nil {
		t.Errorf("upgraded hash: ok %v, stale %v, err %v; want true, false, nil", ok, stale, err)
	}

	// A sign-in with a current hash leaves it as it is.
	if _, err := strong.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	if after, _ := strong.User(ctx, created.ID); after.PasswordHash != stored.PasswordHash {
		t.Errorf("a sign-in with a current hash rewrote it: %q -> %q", stored.PasswordHash, after.PasswordHash)
	}
	// The weaker pool still accepts the upgraded hash.
	if _, err := weak.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Errorf("the weaker pool cannot verify the upgraded hash: %v", err)
	}
}

func TestSignInDoesNotDowngradeHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	weak := newPoolOn(t, openSQLite(t, path), Config{Hash: fastParams})
	strongParams := HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}
	strong := newPoolOn(t, openSQLite(t, path), Config{Hash: strongParams})
	u := mustCreate(t, strong, NewUser{Email: "ada@example.com"})
	if _, err := weak.SignIn(t.Context(), "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	after, err := weak.User(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if params, _, _, _ := decodePHC(after.PasswordHash); params != strongParams {
		t.Errorf("a sign-in through the weaker pool rewrote the hash with %+v, was %+v", params, strongParams)
	}
}

func TestSetPassword(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com", Status: store.StatusForceChangePassword})

	issuedBefore := time.Now()
	const newPassword = "an entirely new passphrase"
	if err := p.SetPassword(ctx, u.ID, newPassword); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	issuedAfter := time.Now().Add(time.Nanosecond)

	if !p.DenyList().Revoked("s1", u.ID, issuedBefore) {
		t.Error("a session issued before the password change is not revoked")
	}
	if p.DenyList().Revoked("s2", u.ID, issuedAfter) {
		t.Error("a session issued after the password change is revoked")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old password: %v, want ErrInvalidCredentials", err)
	}
	got, err := p.SignIn(ctx, "ada@example.com", newPassword)
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	if got.Status != store.StatusConfirmed {
		t.Errorf("status after SetPassword = %q, want CONFIRMED", got.Status)
	}

	// The revocation is in the store too, for other processes.
	other := newPoolOn(t, p.Store(), Config{})
	if !other.DenyList().Revoked("s1", u.ID, issuedBefore) {
		t.Error("another pool on the store does not see the revocation")
	}

	// A policy failure changes nothing and revokes nothing.
	before := p.DenyList().Len()
	var pe *PasswordPolicyError
	if err := p.SetPassword(ctx, u.ID, "short"); !errors.As(err, &pe) {
		t.Errorf("SetPassword(short) = %v, want *PasswordPolicyError", err)
	}
	if p.DenyList().Len() != before || p.DenyList().Revoked("s3", u.ID, issuedAfter) {
		t.Error("a refused SetPassword revoked sessions")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", newPassword); err != nil {
		t.Errorf("a refused SetPassword changed the password: %v", err)
	}

	if err := p.SetPassword(ctx, "no-such-id", newPassword); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("SetPassword(unknown user) = %v, want ErrUserNotFound", err)
	}
	// The gateway reads users through an interface and knows store's
	// errors, not pool's: the same refusal must be both.
	_, err = p.User(ctx, "no-such-id")
	if !errors.Is(err, ErrUserNotFound) || !errors.Is(err, store.ErrNotFound) || err.Error() != ErrUserNotFound.Error() {
		t.Errorf("User(unknown) = %v, want an error that is ErrUserNotFound and store.ErrNotFound", err)
	}
}

func TestSetEnabled(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})

	issuedBefore := time.Now()
	if err := p.SetEnabled(ctx, u.ID, false); err != nil {
		t.Fatalf("SetEnabled(false): %v", err)
	}
	if !p.DenyList().Revoked("s1", u.ID, issuedBefore) {
		t.Error("disabling did not revoke an earlier session")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("SignIn while disabled: %v, want ErrUserDisabled", err)
	}

	entries := p.DenyList().Len()
	if err := p.SetEnabled(ctx, u.ID, true); err != nil {
		t.Fatalf("SetEnabled(true): %v", err)
	}
	if p.DenyList().Len() != entries {
		t.Error("enabling added a revocation")
	}
	if !p.DenyList().Revoked("s1", u.ID, issuedBefore) {
		t.Error("re-enabling brought back a session revoked by disabling")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); err != nil {
		t.Errorf("SignIn after re-enabling: %v", err)
	}
	if p.DenyList().Revoked("s2", u.ID, time.Now().Add(time.Nanosecond)) {
		t.Error("a session begun after re-enabling is revoked")
	}

	for _, enabled := range []bool{true, false} {
		if err := p.SetEnabled(ctx, "no-such-id", enabled); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("SetEnabled(unknown, %v) = %v, want ErrUserNotFound", enabled, err)
		}
	}
}

func TestDeleteUser(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	issuedBefore := time.Now()
	if err := p.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if !p.DenyList().Revoked("s1", u.ID, issuedBefore) {
		t.Error("deleting did not revoke an earlier session")
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("SignIn of a deleted user: %v, want ErrInvalidCredentials", err)
	}
	if _, err := p.User(ctx, u.ID); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("User(deleted) = %v, want ErrUserNotFound", err)
	}
	if err := p.DeleteUser(ctx, u.ID); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("DeleteUser twice = %v, want ErrUserNotFound", err)
	}
	// The email is free again.
	mustCreate(t, p, NewUser{Email: "ada@example.com"})
}

func TestGroups(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})

	valid := []string{"admins", "a", "Team.Dev_ops-2", strings.Repeat("g", 128)}
	for _, g := range valid {
		if err := p.AddToGroup(ctx, u.ID, g); err != nil {
			t.Errorf("AddToGroup(%q): %v", g, err)
		}
	}
	if err := p.AddToGroup(ctx, u.ID, "admins"); err != nil {
		t.Errorf("adding twice: %v", err)
	}
	got, err := p.User(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(valid)
	slices.Sort(want)
	if !slices.Equal(got.Groups, want) {
		t.Errorf("groups %q, want %q", got.Groups, want)
	}
	if err := p.RemoveFromGroup(ctx, u.ID, "admins"); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveFromGroup(ctx, u.ID, "never-a-member"); err != nil {
		t.Errorf("removing a non-member: %v", err)
	}
	got, _ = p.User(ctx, u.ID)
	if slices.Contains(got.Groups, "admins") || len(got.Groups) != len(valid)-1 {
		t.Errorf("groups after removing admins: %q", got.Groups)
	}

	invalid := []struct{ name, group string }{
		{"empty", ""},
		{"space", "my group"},
		{"slash", "a/b"},
		{"comma", "a,b"},
		{"colon", "role:admin"},
		{"129 bytes", strings.Repeat("g", 129)},
		{"non-ASCII letter", "équipe"},
		{"NUL", "a\x00"},
		{"newline at end", "admins\n"},
		{"invalid UTF-8", "a\xff"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.AddToGroup(ctx, u.ID, tt.group); !errors.Is(err, ErrInvalidGroup) {
				t.Errorf("AddToGroup(%q) = %v, want ErrInvalidGroup", tt.group, err)
			}
			if err := p.RemoveFromGroup(ctx, u.ID, tt.group); !errors.Is(err, ErrInvalidGroup) {
				t.Errorf("RemoveFromGroup(%q) = %v, want ErrInvalidGroup", tt.group, err)
			}
		})
	}
	after, _ := p.User(ctx, u.ID)
	if !slices.Equal(after.Groups, got.Groups) {
		t.Errorf("invalid group names changed the groups to %q", after.Groups)
	}

	if err := p.AddToGroup(ctx, "no-such-id", "admins"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("AddToGroup(unknown user) = %v, want ErrUserNotFound", err)
	}
	if err := p.RemoveFromGroup(ctx, "no-such-id", "admins"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("RemoveFromGroup(unknown user) = %v, want ErrUserNotFound", err)
	}
}

func TestUserLookups(t *testing.T) {
	p := newTestPool(t)
	ctx := t.Context()
	a := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	mustCreate(t, p, NewUser{Email: "bob@example.com"})
	if _, err := p.User(ctx, "no-such-id"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("User(unknown) = %v, want ErrUserNotFound", err)
	}
	if _, err := p.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want ErrUserNotFound", err)
	}
	if _, err := p.UserByEmail(ctx, "Ada <ada@example.com>"); !errors.Is(err, ErrInvalidEmail) {
		t.Errorf("UserByEmail(display form) = %v, want ErrInvalidEmail", err)
	}
	users, err := p.ListUsers(ctx, store.ListOptions{Limit: 1})
	if err != nil || len(users) != 1 || users[0].ID != a.ID {
		t.Errorf("ListUsers(limit 1) = %v, %v; want ada only", users, err)
	}
}

func TestCreateUserRejectsBadName(t *testing.T) {
	p := newTestPool(t)
	for _, name := range []string{strings.Repeat("n", 257), "Ada \xff"} {
		if _, err := p.CreateUser(t.Context(), NewUser{Email: "ada@example.com", Password: goodPassword, Name: name}); err == nil {
			t.Errorf("CreateUser(name %q) succeeded", name)
		}
	}
	if _, err := p.CreateUser(t.Context(), NewUser{Email: "ada@example.com", Password: goodPassword, Name: strings.Repeat("n", 256)}); err != nil {
		t.Errorf("a 256-byte name: %v", err)
	}
}

// keysHiddenOnce answers the first Keys call with none, as a store does
// for a process that looked just before another one added the first key.
type keysHiddenOnce struct {
	store.Store
	hidden bool
}

func (s *keysHiddenOnce) Keys(ctx context.Context, kind string) ([]store.Key, error) {
	if !s.hidden {
		s.hidden = true
		return nil, nil
	}
	return s.Store.Keys(ctx, kind)
}

func TestEnsureKeys(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx := t.Context()
	calls := 0
	gen := func(id string) func() (store.Key, error) {
		return func() (store.Key, error) {
			calls++
			return store.Key{Kind: "ignored", ID: id, Material: []byte("secret-" + id)}, nil
		}
	}

	keys, err := EnsureKeys(ctx, st, "cookie", gen("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(keys) != 1 || keys[0].ID != "k1" || keys[0].Kind != "cookie" || string(keys[0].Material) != "secret-k1" {
		t.Fatalf("first EnsureKeys: %d generate calls, keys %+v", calls, keys)
	}
	keys, err = EnsureKeys(ctx, st, "cookie", gen("k2"))
	if err != nil || calls != 1 || len(keys) != 1 || keys[0].ID != "k1" {
		t.Fatalf("second EnsureKeys: %d generate calls, keys %+v, err %v; want the existing key only", calls, keys, err)
	}
	// Kinds are separate.
	if keys, err = EnsureKeys(ctx, st, "es256", gen("e1")); err != nil || len(keys) != 1 || keys[0].ID != "e1" {
		t.Fatalf("other kind: keys %+v, err %v", keys, err)
	}

	// Losing the race to create the first key: the winner's key is read back.
	if keys, err = EnsureKeys(ctx, &keysHiddenOnce{Store: st}, "cookie", gen("k1")); err != nil || len(keys) != 1 || keys[0].ID != "k1" {
		t.Errorf("after a conflicting first key: keys %+v, err %v", keys, err)
	}
	// Both racers' keys are kept when their ids differ.
	if keys, err = EnsureKeys(ctx, &keysHiddenOnce{Store: st}, "cookie", gen("k3")); err != nil || len(keys) != 2 {
		t.Errorf("a second first key: keys %+v, err %v; want both", keys, err)
	}

	boom := errors.New("no entropy")
	_, err = EnsureKeys(ctx, st, "fresh", func() (store.Key, error) { return store.Key{}, boom })
	if !errors.Is(err, boom) {
		t.Errorf("generate failure: %v, want %v", err, boom)
	}
}

// An unknown login must cost an argon2id verification like a known one, or
// response times tell which emails have accounts. Holding the only hashing
// slot shows whether a sign-in needs one.
func TestSignInUnknownUserDoesTheHashWork(t *testing.T) {
	p := newPoolOn(t, openSQLite(t, filepath.Join(t.TempDir(), "gatehouse.db")), Config{HashConcurrency: 1})
	mustCreate(t, p, NewUser{Email: "ada@example.com"})
	for _, login := range []string{"nobody@example.com", "not an email", "ada@example.com"} {
		t.Run(login, func(t *testing.T) {
			if err := p.hasher.acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := p.SignIn(context.Background(), login, "wrong password here")
				done <- err
			}()
			select {
			case err := <-done:
				p.hasher.release()
				t.Fatalf("SignIn(%q) returned (%v) without waiting for a hashing slot", login, err)
			case <-time.After(50 * time.Millisecond):
			}
			p.hasher.release()
			select {
			case err := <-done:
				if !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("SignIn(%q) = %v, want ErrInvalidCredentials", login, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("SignIn did not finish after the slot was freed")
			}
		})
	}
}
