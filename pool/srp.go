package pool

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Cognito's USER_SRP_AUTH: the client proves the password without sending
// it (package cognito/srp has the arithmetic). For that the pool keeps,
// per user, a verifier v = g^x made from the password, sealed as TOTP
// secrets are; only pools that turn SRP on (SRPConfig) make them.
//
//   - Verifiers are made wherever the pool holds the password in the
//     clear: a user created with one, a sign-up, an administrator's new or
//     temporary password, a change, a reset, a new password after a
//     temporary one, and a password sign-in of a user who has none (so
//     that users from before SRP was turned on get one at their next
//     password sign-in, on the hosted pages or with USER_PASSWORD_AUTH).
//   - A verifier names the password it was made from (its fingerprint,
//     inside the seal), and the store drops it when the password changes:
//     a verifier of an old password never answers.
//   - USER_ID_FOR_SRP, the name hashed into x, is the user's id (their
//     `sub`), as Cognito uses the user's username: it never changes, so
//     neither does a verifier when the address does.
//   - An unknown login, and a user with no verifier yet, get a challenge
//     made like a real one from a decoy: a salt, verifier and id derived
//     from the login with an HMAC under a key of the pool's, so that asking
//     twice gives the same salt and id. Its answer fails as a wrong
//     password does, counted in the login's lockout.
//
// The challenge's state (the key a right password gives, the user, the
// login) is sealed into its Session, which is also its SECRET_BLOCK:
// clients that send no Session back (most SRP libraries besides
// amazon-cognito-identity-js) answer with the block alone.

// SRPConfig turns on USER_SRP_AUTH for a pool.
type SRPConfig struct {
	// PoolName is the name x is made with: the part of the pool's Cognito
	// pool id after the "_" (srp.PoolName). Empty turns SRP off: no
	// verifiers are made, and InitiateSRPAuth is refused. Changing it
	// makes every verifier useless until its user's next password
	// sign-in.
	PoolName string
}

// ErrSRPUnavailable refuses USER_SRP_AUTH in a pool without SRP.
var ErrSRPUnavailable = errors.New("USER_SRP_AUTH is not enabled for this pool")

// ErrInvalidSRPA refuses a client's SRP_A that no honest client sends.
var ErrInvalidSRPA = srp.ErrInvalidA

// ErrClockSkew refuses a PASSWORD_VERIFIER answer whose TIMESTAMP is not
// in Cognito's format or is more than srpClockSkew from the pool's clock.
var ErrClockSkew = errors.New("the device's clock is too far from the server's; set it right and sign in again")

const (
	// srpTTL is how long a PASSWORD_VERIFIER challenge may be answered:
	// clients answer at once.
	srpTTL = 5 * time.Minute
	// srpClockSkew bounds how far a TIMESTAMP may be from now. The
	// single-use, expiring session is what stops a replay; the timestamp
	// is checked as Cognito does, loosely enough for a phone's clock.
	srpClockSkew = 15 * time.Minute
	// decoyKeyKind is the store.Key kind of the key decoy challenges are
	// derived with.
	decoyKeyKind = "srp-decoy"
)

// SRPAuth starts a USER_SRP_AUTH sign-in.
type SRPAuth struct {
	// Username is the login (the user's address).
	Username string
	// SRPA is the client's SRP_A, in hex.
	SRPA string
	// Client binds the challenge session, as PasswordAuth.Client.
	Client string
	// PoolName, when set, must be the pool's SRPConfig.PoolName: a caller
	// configured with another Cognito pool id would fail every sign-in.
	PoolName string
}

// SRPOn reports whether the pool serves USER_SRP_AUTH.
func (p *Pool) SRPOn() bool { return p.srp.PoolName != "" }

// srpRecord is a verifier's sealed content.
type srpRecord struct {
	// Fingerprint is PasswordFingerprint of the user the verifier was made
	// for: another password's verifier does not answer.
	Fingerprint string `json:"f"`
	Salt        []byte `json:"s"`
	Verifier    []byte `json:"v"`
}

func srpAAD(userID string) []byte { return []byte("srp\x00" + userID) }

// sealSRPVerifier makes and seals a verifier of password for u (whose
// PasswordHash is that password's).
func (p *Pool) sealSRPVerifier(u *store.User, password string) []byte {
	salt, v := srp.NewVerifier(p.srp.PoolName, u.ID, password)
	plain, _ := json.Marshal(srpRecord{Fingerprint: PasswordFingerprint(u), Salt: salt, Verifier: v})
	return p.secrets.sealWith(srpAAD(u.ID), plain)
}

// keepSRPVerifier makes u's verifier of password, u.PasswordHash being its
// hash, replacing any. It is best effort: a verifier that could not be
// kept is made again at the next password sign-in, and until then SRP
// fails for the user as a wrong password does.
func (p *Pool) keepSRPVerifier(ctx context.Context, u *store.User, password string) {
	if !p.SRPOn() || u == nil || u.PasswordHash == "" {
		return
	}
	p.saveSRPVerifier(ctx, u, p.sealSRPVerifier(u, password))
}

// saveSRPVerifier stores a sealed verifier for u's current password. A
// conflict means the password changed meanwhile, whose setter keeps the
// new one's.
func (p *Pool) saveSRPVerifier(ctx context.Context, u *store.User, sealed []byte) {
	_ = p.store.SaveSRPVerifier(context.WithoutCancel(ctx), store.SRPVerifier{UserID: u.ID, Sealed: sealed, PasswordHash: u.PasswordHash})
}

// ensureSRPVerifier makes u's verifier after a right password, unless u
// has one of it already.
func (p *Pool) ensureSRPVerifier(ctx context.Context, u *store.User, password string) {
	if !p.SRPOn() {
		return
	}
	if _, ok, err := p.srpVerifier(ctx, u); err == nil && !ok {
		p.keepSRPVerifier(ctx, u, password)
	}
}

// srpVerifier returns u's verifier of the password u has now; ok is false
// when there is none (none kept, one of another password, or one the
// pool's keys no longer open). Errors are the store's.
func (p *Pool) srpVerifier(ctx context.Context, u *store.User) (rec srpRecord, ok bool, err error) {
	sv, err := p.store.SRPVerifier(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	plain, err := p.secrets.openWith(ctx, srpAAD(u.ID), sv.Sealed)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return rec, false, err
		}
		return rec, false, nil
	}
	if json.Unmarshal(plain, &rec) != nil || len(rec.Salt) == 0 || len(rec.Verifier) == 0 ||
		subtle.ConstantTimeCompare([]byte(rec.Fingerprint), []byte(PasswordFingerprint(u))) != 1 {
		return srpRecord{}, false, nil
	}
	return rec, true, nil
}

// decoyKey is the pool's key for decoy challenges, loaded from the store on
// first use (and made there if the store has none).
type decoyKey struct {
	mu  sync.Mutex
	key []byte
}

func (p *Pool) decoyKey(ctx context.Context) ([]byte, error) {
	k := &p.decoy
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	keys, err := EnsureKeys(ctx, p.store, decoyKeyKind, func() (store.Key, error) {
		m := make([]byte, 32)
		_, err := rand.Read(m)
		return store.Key{ID: "1", Material: m}, err
	})
	if err != nil {
		return nil, fmt.Errorf("SRP decoy key: %w", err)
	}
	// The oldest: concurrent first starts must all pick the same.
	k.key = keys[len(keys)-1].Material
	return k.key, nil
}

// decoy derives, for a login, what a user's challenge would carry: an id
// shaped as a user's, a salt and a verifier (no password gives it: it is
// not g^x of anything known). The same login gives the same.
func decoy(key []byte, login string) (id string, rec srpRecord) {
	mac := func(label string, n byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte{n})
		m.Write([]byte(label + "\x00" + login))
		return m.Sum(nil)
	}
	u, _ := uuid.FromBytes(mac("id", 0)[:16])
	u[6] = u[6]&0x0f | 0x40 // version 4, as real ids are
	u[8] = u[8]&0x3f | 0x80
	rec.Salt = mac("salt", 0)[:srp.SaltLen]
	for n := byte(0); len(rec.Verifier) < 384; n++ {
		rec.Verifier = append(rec.Verifier, mac("verifier", n)...)
	}
	rec.Verifier = rec.Verifier[:384]
	return u.String(), rec
}

// InitiateSRPAuth starts a USER_SRP_AUTH sign-in: the PASSWORD_VERIFIER
// challenge, with Cognito's ChallengeParameters SALT, SRP_B, SECRET_BLOCK,
// USER_ID_FOR_SRP and USERNAME, answered through RespondToAuthChallenge
// with PasswordClaimSignature, PasswordClaimSecretBlock and Timestamp.
//
// Every login gets a challenge, real or decoy, alike; the step's User is
// nil either way. Errors: ErrSRPUnavailable, ErrInvalidSRPA, a
// *LockedOutError (the login is locked), the store's.
func (p *Pool) InitiateSRPAuth(ctx context.Context, a SRPAuth) (*AuthStep, error) {
	if !p.SRPOn() || a.PoolName != "" && a.PoolName != p.srp.PoolName {
		return nil, ErrSRPUnavailable
	}
	A, err := srp.ParseA(a.SRPA)
	if err != nil {
		return nil, ErrInvalidSRPA
	}
	email, _ := p.LoginKey(a.Username)
	if _, err := p.checkLock(ctx, email); err != nil {
		p.auditSignIn(ctx, nil, email, err)
		return nil, err
	}
	return p.srpStep(ctx, a.Client, a.Username, A, nil)
}

// srpStep makes the PASSWORD_VERIFIER challenge of username for the
// client's A (a user's, or a decoy's), carrying custom, the history of a
// CUSTOM_AUTH run it belongs to (nil for USER_SRP_AUTH).
func (p *Pool) srpStep(ctx context.Context, client, username string, A *big.Int, custom []ChallengeResult) (*AuthStep, error) {
	email, _ := p.LoginKey(username)
	key, err := p.decoyKey(ctx)
	if err != nil {
		return nil, err
	}
	login := email
	if email == "" {
		login = username // no login's shape: no user has it
	}
	s := session{Name: ChallengePasswordVerifier, Flow: FlowSignIn, Login: email, Decoy: true, Custom: custom}
	var rec srpRecord
	s.SRPUser, rec = decoy(key, login)
	// Any of the pool's sign-in kinds (aliases.go): the verifier is the
	// user's, made with their id, whichever login found them.
	_, u, err := p.lookupLogin(ctx, username)
	if err != nil {
		return nil, err
	}
	// As SignIn: the hook before any proof of the password, for every
	// login (userNotFound for an unknown one).
	if err := p.preAuthentication(ctx, u, email); err != nil {
		p.auditSignIn(ctx, u, email, err)
		return nil, err
	}
	if imported(u) {
		// As SignIn answers them: no verifier can exist without a
		// password, and Cognito says a reset is needed.
		p.auditSignIn(ctx, u, email, ErrPasswordResetRequired)
		return nil, ErrPasswordResetRequired
	}
	if u != nil && u.PasswordHash != "" {
		real, ok, err := p.srpVerifier(ctx, u)
		if err != nil {
			return nil, err
		}
		s.UserID, s.SRPUser, s.Fingerprint = u.ID, u.ID, PasswordFingerprint(u)
		if ok {
			s.Decoy, rec = false, real
		}
	} else {
		// The read a user's verifier costs, so that an unknown login
		// answers in the same time.
		if _, err := p.store.SRPVerifier(ctx, s.SRPUser); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	ex, err := srp.Serve(A, rec.Verifier, rand.Reader)
	if err != nil {
		return nil, err
	}
	s.Key, s.Expires = ex.Key, p.now().Add(srpTTL).Unix()
	tok, err := p.sealSession(ctx, client, s)
	if err != nil {
		return nil, err
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	// The login as typed (normalized), never the account's address: a
	// username's challenge must not tell whose it is.
	shown := email
	if email == "" {
		shown = username
	}
	return &AuthStep{Challenge: &Challenge{Name: ChallengePasswordVerifier, Session: tok, Flow: FlowSignIn,
		Parameters: map[string]string{
			"SALT":            srp.SaltHex(rec.Salt),
			"SRP_B":           ex.B,
			"SECRET_BLOCK":    base64.StdEncoding.EncodeToString(raw),
			"USER_ID_FOR_SRP": s.SRPUser,
			"USERNAME":        shown,
		}}}, nil
}

// isSRPAnswer reports whether a carries an answer to USER_SRP_AUTH's
// PASSWORD_VERIFIER.
func isSRPAnswer(a Answer) bool {
	return a.PasswordClaimSignature != "" || a.PasswordClaimSecretBlock != "" || a.Timestamp != ""
}

// answerSRP checks a PASSWORD_VERIFIER answer of InitiateSRPAuth. The
// session is spent before the signature is checked: each challenge takes
// one guess, right or wrong. A wrong one is a wrong password (counted,
// audited, ErrInvalidCredentials, or the *LockedOutError it starts).
func (p *Pool) answerSRP(ctx context.Context, a Answer) (*AuthStep, error) {
	if a.Name != "" && a.Name != ChallengePasswordVerifier {
		return nil, ErrChallengeExpired
	}
	block, err := base64.StdEncoding.DecodeString(a.PasswordClaimSecretBlock)
	if err != nil || len(block) == 0 {
		return nil, ErrChallengeExpired
	}
	tok := base64.RawURLEncoding.EncodeToString(block)
	if a.Session != "" && subtle.ConstantTimeCompare([]byte(a.Session), []byte(tok)) != 1 {
		return nil, ErrChallengeExpired
	}
	s, ok, err := p.unsealSession(ctx, a.Client, tok)
	if err != nil {
		return nil, err
	}
	if !ok || len(s.Key) == 0 || s.Name != ChallengePasswordVerifier || p.now().Unix() > s.Expires {
		return nil, ErrChallengeExpired
	}
	at, err := srp.ParseTimestamp(a.Timestamp)
	if err != nil || at.Sub(p.now()).Abs() > srpClockSkew {
		return nil, ErrClockSkew
	}
	failures, err := p.checkLock(ctx, s.Login)
	if err != nil {
		p.auditSignIn(ctx, nil, s.Login, err)
		return nil, err
	}
	if err := p.spend(ctx, s); err != nil {
		return nil, err
	}
	right := srp.CheckSignature(s.Key, p.srp.PoolName, s.SRPUser, block, a.Timestamp, a.PasswordClaimSignature)
	var u *store.User
	if s.UserID != "" {
		u, err = p.store.UserByID(ctx, s.UserID)
		if errors.Is(err, store.ErrNotFound) {
			u, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if u == nil || s.Decoy || !right {
		return nil, p.failed(ctx, u, s.Login)
	}
	if PasswordFingerprint(u) != s.Fingerprint {
		// The password changed since the challenge: the proof is of the
		// old one.
		return nil, ErrChallengeExpired
	}
	if len(s.Custom) > 0 {
		// A CUSTOM_AUTH run's password: the define hook says what
		// follows; the user's own state is checked when it gives tokens.
		return p.customNext(ctx, &customRun{client: a.Client, login: s.Login, user: u, failures: failures,
			history: append(s.Custom, ChallengeResult{ChallengeName: ChallengePasswordVerifier, ChallengeResult: true})})
	}
	u, err = p.passwordRight(ctx, u, s.Login, failures)
	if npr, ok := errors.AsType[*NewPasswordRequiredError](err); ok {
		return p.challenge(ctx, a.Client, session{Name: ChallengeNewPasswordRequired, Flow: FlowSignIn}, npr.User, newPasswordTTL, &Challenge{})
	}
	if err != nil {
		return nil, err
	}
	return p.afterPassword(ctx, a.Client, u, nil)
}
