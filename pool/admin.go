package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Invitation is an administrator creating a user who must choose their own
// password at first sign-in (Cognito's AdminCreateUser).
type Invitation struct {
	Email         string
	Name          string
	EmailVerified bool
	Attributes    map[string]string
	// TemporaryPassword is the password to sign in with once; empty
	// generates one that meets the policy.
	TemporaryPassword string
	// Send mails the temporary password to the user; SendSMS texts it to
	// the phone_number in Attributes (Cognito's DesiredDeliveryMediums).
	Send    bool
	SendSMS bool
}

// InviteUser creates a FORCE_CHANGE_PASSWORD user whose temporary password
// works for the pool's TemporaryPasswordTTL, and mails it when inv.Send.
// It returns the user and the temporary password. When only the mail
// failed the user exists and the error is ErrMailNotSent; the caller
// decides whether to keep them.
func (p *Pool) InviteUser(ctx context.Context, inv Invitation) (*store.User, string, error) {
	if inv.Send && p.acct.Mail == nil {
		return nil, "", ErrMailUnavailable
	}
	if inv.SendSMS {
		if !p.CanText() {
			return nil, "", ErrSMSUnavailable
		}
		if inv.Attributes[AttrPhone] == "" {
			return nil, "", ErrNoPhone
		}
	}
	pw := inv.TemporaryPassword
	if pw == "" {
		pw = p.GeneratePassword()
	}
	u, err := p.CreateUser(ctx, NewUser{
		Email:         inv.Email,
		Password:      pw,
		Name:          inv.Name,
		EmailVerified: inv.EmailVerified,
		Status:        store.StatusForceChangePassword,
		Attributes:    inv.Attributes,
	})
	if err != nil {
		return nil, "", err
	}
	now := p.now()
	ttl := p.acct.TemporaryPasswordTTL
	if err := p.store.SaveVerificationCode(ctx, store.VerificationCode{
		UserID: u.ID, Purpose: PurposeTemporaryPassword, SentAt: now, Expires: now.Add(ttl),
	}); err != nil {
		// Without its deadline the password would never expire.
		return nil, "", errors.Join(err, p.store.DeleteUser(context.WithoutCancel(ctx), u.ID))
	}
	var errs []error
	if inv.Send {
		errs = append(errs, p.send(ctx, mail.KindInvitation, mail.Data{Email: u.Email, TemporaryPassword: pw, Expires: roundUp(ttl), TTL: ttl, Locale: u.Attributes["locale"]}))
	}
	if inv.SendSMS {
		number, _ := Phone(u)
		errs = append(errs, p.text(ctx, u, sms.KindInvitation, number, pw, ttl))
	}
	return u, pw, errors.Join(errs...)
}

// Alphabets of generated passwords: no look-alikes (0/O, 1/l/I).
const (
	genLower  = "abcdefghijkmnopqrstuvwxyz"
	genUpper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	genDigits = "23456789"
	genSymbol = "-_.!#%+="
)

// GeneratePassword returns a random password that meets the pool's policy:
// at least 20 characters (more if the policy's minimum is higher), with a
// character of every class, never a common one.
func (p *Pool) GeneratePassword() string {
	n := max(20, p.policy.minLength())
	n = min(n, p.policy.maxLength())
	all := genLower + genUpper + genDigits + genSymbol
	pick := func(set string) byte {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		return set[i.Int64()]
	}
	for {
		b := []byte{pick(genLower), pick(genUpper), pick(genDigits), pick(genSymbol)}
		for len(b) < n {
			b = append(b, pick(all))
		}
		// Shuffle, so the classes are not always in the first four places.
		for i := len(b) - 1; i > 0; i-- {
			j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			b[i], b[j.Int64()] = b[j.Int64()], b[i]
		}
		if pw := string(b); p.policy.CheckFor(pw, "") == nil {
			return pw
		}
	}
}
