package pool

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/store"
)

// MFA modes (MFAConfig.Mode), as Cognito names them.
const (
	// MFAOff offers no second factor: the pages never mention one.
	MFAOff = "off"
	// MFAOptional lets users enrol a factor on the account page; those
	// who have one are asked for it at every sign-in.
	MFAOptional = "optional"
	// MFARequired takes a user without a factor through enrolment right
	// after the password, before any session starts.
	MFARequired = "required"
)

// Authentication method references (RFC 8176) a sign-in records in the
// session's amr.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
)

// TOTP parameters: what every authenticator app understands (RFC 6238's
// defaults), so the QR code works everywhere.
const (
	totpPeriod     = 30
	totpDigits     = 6
	totpSecretSize = 20
	// totpSkew is how many steps either side of now a code may be from:
	// one step of clock drift each way.
	totpSkew = 1
	// maxFactors bounds a user's confirmed factors.
	maxFactors = 5
	// RecoveryCodeCount codes are made at a time.
	RecoveryCodeCount = 10
)

// Errors of the second-factor step.
var (
	// ErrMFAUnavailable means the pool's MFA mode is off.
	ErrMFAUnavailable = errors.New("two-factor authentication is not offered here")
	// ErrNoSuchFactor means the user has no such factor, or no confirmed one.
	ErrNoSuchFactor = errors.New("no such authenticator")
	// ErrTooManyFactors means the user has as many factors as allowed.
	ErrTooManyFactors = errors.New("you already have as many authenticators as allowed; remove one first")
)

// LockedOutError refuses a sign-in for a login with too many recent
// failures. It reads the same for a login that has no account.
type LockedOutError struct {
	// RetryAfter is how long until the login may try again.
	RetryAfter time.Duration
}

func (e *LockedOutError) Error() string {
	return "too many failed sign-ins; try again later"
}

// Defaults of LockoutConfig.
const (
	DefaultLockoutThreshold = 5
	DefaultLockoutWindow    = 15 * time.Minute
	DefaultLockoutBase      = time.Minute
	DefaultLockoutMax       = 15 * time.Minute
)

// LockoutConfig is the per-login brute-force defence: after Threshold
// failures within Window the login is refused for Base, doubling with each
// further failure up to Max. Lockouts are always temporary, and a
// successful sign-in or password reset clears them.
type LockoutConfig struct {
	Threshold int
	Window    time.Duration
	Base      time.Duration
	Max       time.Duration
	// Off turns the per-login lockout off (per-IP throttling still holds).
	Off bool
}

func (l *LockoutConfig) setDefaults() {
	if l.Threshold <= 0 {
		l.Threshold = DefaultLockoutThreshold
	}
	if l.Window <= 0 {
		l.Window = DefaultLockoutWindow
	}
	if l.Base <= 0 {
		l.Base = DefaultLockoutBase
	}
	if l.Max <= 0 {
		l.Max = DefaultLockoutMax
	}
	if l.Max < l.Base {
		l.Max = l.Base
	}
}

// lockFor is how long the count-th failure locks for: Base at Threshold,
// doubling after, at most Max.
func (l LockoutConfig) lockFor(count int) time.Duration {
	d := l.Base
	for i := l.Threshold; i < count && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// MFAConfig is how a pool asks for a second factor.
type MFAConfig struct {
	// Mode is MFAOff, MFAOptional (the default) or MFARequired.
	Mode string
	// Issuer names the pool in authenticator apps; default the pool's
	// display name, else its name.
	Issuer string
	// Lockout is the per-login brute-force defence of sign-in and of
	// the second-factor step.
	Lockout LockoutConfig
	// RememberDevice, when set, lets a user skip the second factor on a
	// browser where they gave one within this long; 0 never does.
	RememberDevice time.Duration
	// SecretKey, when set (SecretKeyLen bytes, kept outside the
	// database), seals TOTP secrets; without it a key the pool keeps in
	// its store does (secretbox.go).
	SecretKey []byte
	// PreviousSecretKeys open secrets sealed before SecretKey replaced
	// them; each is sealed again with SecretKey at its next use.
	PreviousSecretKeys [][]byte
}

// Validate reports a configuration error.
func (c MFAConfig) Validate() error {
	switch c.Mode {
	case "", MFAOff, MFAOptional, MFARequired:
		return nil
	}
	return fmt.Errorf("mfa %q: want off, optional or required", c.Mode)
}

func (c *MFAConfig) setDefaults(name string) {
	if c.Mode == "" {
		c.Mode = MFAOptional
	}
	if c.Issuer == "" {
		c.Issuer = name
	}
	c.Lockout.setDefaults()
}

// MFA returns the pool's MFA settings.
func (p *Pool) MFA() MFAConfig { return p.mfa }

// Factors returns the user's confirmed factors, oldest first.
func (p *Pool) Factors(ctx context.Context, userID string) ([]store.MFAFactor, error) {
	all, err := p.store.MFAFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, f := range all {
		if f.Confirmed {
			f.Secret = nil // nobody above the pool needs it
			out = append(out, f)
		}
	}
	return out, nil
}

// NeedsMFA reports what the sign-in of u asks after the password: a code
// of a factor they have (hasFactor), or enrolment of one (enrol, in a pool
// where MFA is required). Neither means the password is enough.
func (p *Pool) NeedsMFA(ctx context.Context, u *store.User) (hasFactor, enrol bool, err error) {
	if p.mfa.Mode == MFAOff {
		return false, false, nil
	}
	fs, err := p.Factors(ctx, u.ID)
	if err != nil {
		return false, false, err
	}
	if len(fs) > 0 {
		return true, false, nil
	}
	return false, p.mfa.Mode == MFARequired, nil
}

// TOTPEnrolment is a factor being set up: what the page shows so that the
// user can add it to an authenticator app.
type TOTPEnrolment struct {
	FactorID string
	// Secret is the shared secret in base32, for typing by hand.
	Secret string
	// URI is the otpauth:// URI the QR code holds.
	URI string
	// QRCodePNG is the QR code of URI.
	QRCodePNG []byte
}

// StartTOTP begins enrolling an authenticator app, named name (empty for
// "Authenticator app"), for the user: a new, unconfirmed factor whose code
// ConfirmTOTP then checks. Earlier enrolments the user never finished are
// dropped.
func (p *Pool) StartTOTP(ctx context.Context, u *store.User, name string) (*TOTPEnrolment, error) {
	if p.mfa.Mode == MFAOff {
		return nil, ErrMFAUnavailable
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Authenticator app"
	}
	if len(name) > 64 || !utf8.ValidString(name) || !isPrintable(name) {
		return nil, FieldErrors{"name": "Use at most 64 characters."}
	}
	all, err := p.store.MFAFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	confirmed := 0
	for _, f := range all {
		if f.Confirmed {
			confirmed++
		} else if err := p.store.DeleteMFAFactor(ctx, u.ID, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if confirmed >= maxFactors {
		return nil, ErrTooManyFactors
	}
	secret := make([]byte, totpSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	id := rand.Text()
	if err := p.store.AddMFAFactor(ctx, store.MFAFactor{
		ID: id, UserID: u.ID, Kind: store.FactorTOTP, Name: name, Secret: p.secrets.sealSecret(u.ID, id, secret),
	}); err != nil {
		return nil, mapNotFoundErr(err)
	}
	return p.enrolment(u, id, secret)
}

// PendingTOTP shows an enrolment of the user's that is not confirmed yet
// again (after a wrong code); ErrChallengeExpired if there is none.
func (p *Pool) PendingTOTP(ctx context.Context, u *store.User, factorID string) (*TOTPEnrolment, error) {
	all, err := p.store.MFAFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range all {
		if f.ID == factorID && !f.Confirmed && f.Kind == store.FactorTOTP {
			secret, err := p.secrets.openSecret(ctx, u.ID, f.ID, f.Secret)
			if err != nil {
				return nil, err
			}
			return p.enrolment(u, f.ID, secret)
		}
	}
	return nil, ErrChallengeExpired
}

// enrolment renders what an authenticator app needs of a secret: the
// otpauth:// URI and its QR code, made here so nothing leaves the server.
func (p *Pool) enrolment(u *store.User, factorID string, secret []byte) (*TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: p.mfa.Issuer, AccountName: u.Email, Period: totpPeriod, Secret: secret,
		SecretSize: totpSecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &TOTPEnrolment{FactorID: factorID, Secret: key.Secret(), URI: key.URL(), QRCodePNG: buf.Bytes()}, nil
}

// ConfirmTOTP finishes an enrolment with a code from the app. The code's step is spent, so it cannot sign in too. The user's
// first factor comes with a fresh set of recovery codes, returned here
// once and kept only as hashes; a later factor returns none.
func (p *Pool) ConfirmTOTP(ctx context.Context, userID, factorID, code string) ([]string, error) {
	all, err := p.store.MFAFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	var f *store.MFAFactor
	hadFactor := false
	for i := range all {
		if all[i].ID == factorID && !all[i].Confirmed {
			f = &all[i]
		}
		hadFactor = hadFactor || all[i].Confirmed
	}
	if f == nil {
		return nil, ErrChallengeExpired
	}
	secret, err := p.secrets.openSecret(ctx, userID, f.ID, f.Secret)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(secret, code, p.now())
	if !ok {
		return nil, ErrWrongCode
	}
	if err := p.store.ConfirmMFAFactor(ctx, userID, factorID, step); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrChallengeExpired
		}
		return nil, err
	}
	p.auditUser(ctx, AuditMFAEnrolled, userID, "kind", f.Kind, "name", f.Name)
	if hadFactor {
		return nil, nil
	}
	return p.RegenerateRecoveryCodes(ctx, userID)
}

// VerifyMFA checks a second-factor code at sign-in: a code of one of the
// user's authenticator apps, or one of their recovery codes. It returns
// the amr the sign-in earned. A code is good once: the same TOTP code (or
// an older one) is refused afterwards, and a recovery code is spent.
// Wrong codes count as failed sign-ins of the user's login.
func (p *Pool) VerifyMFA(ctx context.Context, u *store.User, code string) ([]string, error) {
	failures, err := p.checkLock(ctx, u.Email)
	if err != nil {
		p.auditSignIn(ctx, u, u.Email, err)
		return nil, err
	}
	amr, err := p.verifyFactor(ctx, u, code)
	switch {
	case errors.Is(err, ErrWrongCode):
		p.auditSignIn(ctx, u, u.Email, err)
		if lerr := p.recordFailure(ctx, u.Email); lerr != nil {
			return nil, lerr
		}
	case err == nil && failures > 0:
		if cerr := p.clearFailures(ctx, u.Email); cerr != nil {
			return nil, cerr
		}
	}
	return amr, err
}

func (p *Pool) verifyFactor(ctx context.Context, u *store.User, code string) ([]string, error) {
	userID := u.ID
	if rc, ok := normalizeRecoveryCode(code); ok {
		_, err := p.store.UseRecoveryCode(ctx, userID, recoveryHash(userID, rc))
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrWrongCode
		}
		if err != nil {
			return nil, err
		}
		p.auditUser(ctx, AuditRecoveryCodeUsed, userID)
		return []string{AMRPassword, AMRMFA}, nil
	}
	all, err := p.store.MFAFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := p.now()
	email, text := false, false
	for _, f := range all {
		email = email || (f.Confirmed && f.Kind == store.FactorEmail)
		text = text || (f.Confirmed && f.Kind == store.FactorSMS)
		if !f.Confirmed || f.Kind != store.FactorTOTP {
			continue
		}
		secret, err := p.secrets.openSecret(ctx, userID, f.ID, f.Secret)
		if err != nil {
			return nil, err
		}
		step, ok := matchTOTP(secret, code, now)
		if !ok {
			continue
		}
		err = p.store.UseTOTPStep(ctx, userID, f.ID, step, now)
		if errors.Is(err, store.ErrStepUsed) || errors.Is(err, store.ErrNotFound) {
			return nil, ErrWrongCode // replayed, or removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !p.secrets.current(f.Secret) {
			// Stored bare (before sealing existed) or under an earlier
			// key: seal it with the current one. A failure costs nothing
			// but another try at the next sign-in.
			_ = p.store.SetMFASecret(ctx, userID, f.ID, p.secrets.sealSecret(userID, f.ID, secret))
		}
		return []string{AMRPassword, AMROTP, AMRMFA}, nil
	}
	err = ErrWrongCode
	if email {
		err = p.verifyEmailCode(ctx, userID, code)
	}
	if text && errors.Is(err, ErrWrongCode) && p.CanTextCodes() {
		err = p.verifySMSCode(ctx, u, code)
	}
	if err != nil {
		return nil, err
	}
	return []string{AMRPassword, AMROTP, AMRMFA}, nil
}

// RemoveFactor deletes one of the user's factors. Removing the last one
// also drops the recovery codes, which only stand in for a factor.
func (p *Pool) RemoveFactor(ctx context.Context, userID, factorID string) error {
	err := p.store.DeleteMFAFactor(ctx, userID, factorID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchFactor
	}
	if err != nil {
		return err
	}
	p.auditUser(ctx, AuditMFARemoved, userID, "factor", factorID)
	left, err := p.Factors(ctx, userID)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		return p.store.DeleteMFA(ctx, userID)
	}
	return nil
}

// ResetMFA removes every factor and recovery code of the user: an
// administrator's answer to a lost phone.
func (p *Pool) ResetMFA(ctx context.Context, userID string) error {
	if _, err := p.User(ctx, userID); err != nil {
		return err
	}
	return p.auditIf(ctx, p.store.DeleteMFA(ctx, userID), AuditMFAReset, userID, "by", "admin")
}

// RegenerateRecoveryCodes replaces the user's recovery codes with
// RecoveryCodeCount new ones, returned once; the old ones stop working.
func (p *Pool) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		c, _ := normalizeRecoveryCode(codes[i])
		hashes[i] = recoveryHash(userID, c)
	}
	if err := p.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, mapNotFoundErr(err)
	}
	p.auditUser(ctx, AuditRecoveryCodesReplaced, userID)
	return codes, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (p *Pool) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	return p.store.RecoveryCodesLeft(ctx, userID)
}

// checkLock refuses a login that is locked out, before any password work.
// It returns the login's recent failures, so that a success can clear them.
func (p *Pool) checkLock(ctx context.Context, login string) (int, error) {
	if p.mfa.Lockout.Off || login == "" {
		return 0, nil
	}
	rec, err := p.store.SignInFailures(ctx, login)
	if err != nil {
		return 0, err
	}
	if wait := rec.LockedUntil.Sub(p.now()); wait > 0 {
		return rec.Count, &LockedOutError{RetryAfter: wait}
	}
	return rec.Count, nil
}

// recordFailure counts a failed sign-in of login and locks it once the
// threshold is reached.
func (p *Pool) recordFailure(ctx context.Context, login string) error {
	l := p.mfa.Lockout
	if l.Off || login == "" {
		return nil
	}
	now := p.now()
	rec, err := p.store.RecordSignInFailure(ctx, login, now, l.Window)
	if err != nil {
		return err
	}
	if rec.Count >= l.Threshold {
		p.auditLockout(ctx, login, rec.Count, now.Add(l.lockFor(rec.Count)))
		return p.store.LockSignIn(ctx, login, now.Add(l.lockFor(rec.Count)))
	}
	return nil
}

// clearFailures forgets a login's failures after it proved itself.
func (p *Pool) clearFailures(ctx context.Context, login string) error {
	if p.mfa.Lockout.Off || login == "" {
		return nil
	}
	return p.store.ClearSignInFailures(ctx, login)
}

// matchTOTP finds the step, within the skew of now, whose code is code.
// Every candidate is computed and compared in constant time.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	code = normalizeCode(code)
	if len(code) != totpDigits || strings.Trim(code, "0123456789") != "" || len(secret) == 0 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	ok := 0
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		eq := subtle.ConstantTimeCompare([]byte(hotp(secret, s)), []byte(code))
		if eq == 1 && ok == 0 {
			found = s
		}
		ok |= eq
	}
	return found, ok == 1
}

// hotp is RFC 4226's HOTP with SHA-1 and six digits, at counter c.
func hotp(secret []byte, c int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(c))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

// Recovery codes are ten base32 characters shown as two groups of five
// ("k7q2m-x9d4p"), 50 bits each; only a hash is kept.
var recoveryAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func newRecoveryCode() string {
	var b [7]byte
	_, _ = rand.Read(b[:])
	s := recoveryAlphabet.EncodeToString(b[:])[:10]
	return s[:5] + "-" + s[5:]
}

// normalizeRecoveryCode accepts what a user may type for a recovery code:
// any case, with or without the dash or spaces.
func normalizeRecoveryCode(s string) (string, bool) {
	s = strings.ToLower(strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(s)))
	if len(s) != 10 {
		return "", false
	}
	for _, r := range s {
		if !strings.ContainsRune("abcdefghijkmnpqrstuvwxyz23456789", r) {
			return "", false
		}
	}
	return s, true
}

func recoveryHash(userID, code string) string {
	sum := sha256.Sum256([]byte("gatehouse recovery code\x00" + userID + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// DeviceFingerprint names the user's second factors and password as they
// are now, for a "remember this device" token: adding or removing a
// factor, or changing the password, makes every remembered device ask
// for a second factor again.
func (p *Pool) DeviceFingerprint(ctx context.Context, u *store.User) (string, error) {
	fs, err := p.Factors(ctx, u.ID)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("gatehouse device\x00" + PasswordFingerprint(u)))
	for _, f := range fs {
		h.Write([]byte("\x00" + f.ID))
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// ForgetOldFailures deletes the failed-sign-in records that can no longer
// count or lock (older than the lockout window and its longest lock), so
// that guesses at many addresses do not pile up in the store.
func (p *Pool) ForgetOldFailures(ctx context.Context) error {
	l := p.mfa.Lockout
	return p.store.PurgeSignInFailures(ctx, p.now().Add(-max(l.Window, l.Max)))
}
