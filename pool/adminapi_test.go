package pool

import (
	"errors"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TestAdminAPIPasswords: a temporary password set by an administrator
// asks for a new one at sign-in; a required reset refuses sign-in until
// the reset; a resend is only for invited users.
func TestAdminAPIPasswords(t *testing.T) {
	t.Parallel()
	p := newTestPool(t)
	ctx := t.Context()
	u := mustCreate(t, p, NewUser{Email: "ada@example.com"})
	if err := p.SetTemporaryPassword(ctx, u.ID, "short"); err == nil {
		t.Error("a temporary password against the policy was set")
	}
	if err := p.SetTemporaryPassword(ctx, u.ID, "temporary horse battery 9"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("old password after a temporary one: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", "temporary horse battery 9"); !errors.Is(err, ErrNewPasswordRequired) {
		t.Errorf("temporary password: %v, want a new password required", err)
	}
	if err := p.ResendInvitation(ctx, u.ID, "", false); err != nil {
		t.Errorf("resend to a FORCE_CHANGE_PASSWORD user: %v", err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", "temporary horse battery 9"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("the first temporary password after a resend: %v", err)
	}
	if err := p.SetPassword(ctx, u.ID, goodPassword); err != nil {
		t.Fatal(err)
	}
	if err := p.ResendInvitation(ctx, u.ID, "", false); !errors.Is(err, ErrNotInvited) {
		t.Errorf("resend to a CONFIRMED user: %v", err)
	}
	if err := p.RequirePasswordReset(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SignIn(ctx, "ada@example.com", goodPassword); !errors.Is(err, ErrPasswordResetRequired) {
		t.Errorf("sign-in with a reset required: %v", err)
	}
	if err := p.RequirePasswordReset(ctx, "no-such-user"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("reset of nobody: %v", err)
	}
}

// TestAdminAPIAccounts: confirming a sign-up without its code, and an
// administrator's change of address (unverified unless said, never onto
// another user's address).
func TestAdminAPIAccounts(t *testing.T) {
	t.Parallel()
	p := newTestPool(t)
	ctx := t.Context()
	pending := mustCreate(t, p, NewUser{Email: "pending@example.com", Status: store.StatusUnconfirmed})
	if err := p.ConfirmByAdmin(ctx, pending.ID); err != nil {
		t.Fatal(err)
	}
	if u, _ := p.User(ctx, pending.ID); u.Status != store.StatusConfirmed || u.EmailVerified {
		t.Errorf("confirmed: %s verified %v", u.Status, u.EmailVerified)
	}
	if err := p.ConfirmByAdmin(ctx, pending.ID); !errors.Is(err, ErrNotUnconfirmed) {
		t.Errorf("confirm twice: %v", err)
	}
	other := mustCreate(t, p, NewUser{Email: "other@example.com", EmailVerified: true})
	taken := "Pending@Example.com"
	if _, err := p.UpdateAttributesByAdmin(ctx, other.ID, AdminAttributes{Email: &taken}); !errors.Is(err, ErrUserExists) {
		t.Errorf("moving onto a taken address: %v", err)
	}
	moved := "moved@example.com"
	u, err := p.UpdateAttributesByAdmin(ctx, other.ID, AdminAttributes{Email: &moved})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != moved || u.EmailVerified {
		t.Errorf("moved: %s verified %v", u.Email, u.EmailVerified)
	}
	yes := true
	if u, err = p.UpdateAttributesByAdmin(ctx, other.ID, AdminAttributes{EmailVerified: &yes}); err != nil || !u.EmailVerified {
		t.Errorf("verified by the administrator: %v %v", u, err)
	}
	if _, err := p.UpdateAttributesByAdmin(ctx, other.ID, AdminAttributes{Values: map[string]string{"custom:nope": "x"}}); err == nil {
		t.Error("an attribute the pool does not have was set")
	}
}
