package pool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Passkeys (WebAuthn) are kept as MFA factors of kind store.FactorWebAuthn:
// the factor's ID is the base64url credential ID, its Secret a JSON
// passkeyRecord, its LastStep the replay and clone guard (passkeyStep).
// They serve as the second factor after a password and, when the
// authenticator verified the user (PIN, biometrics), as a sign-in on their
// own.

// AMRHardwareKey is the amr (RFC 8176) of a passkey or security key.
const AMRHardwareKey = "hwk"

// Ceremony purposes: what a WebAuthnCeremony was begun for, so that one
// begun for one thing cannot finish another.
const (
	CeremonyRegister     = "register"
	CeremonySecondFactor = "mfa"
	CeremonyPasskey      = "passkey"
	CeremonyConfirm      = "confirm"
)

const (
	// CeremonyTTL is how long a ceremony may take from begin to finish.
	CeremonyTTL = 5 * time.Minute
	// maxRelyingParties bounds the per-origin WebAuthn configurations a
	// pool keeps: one per host the gateway guards, so a few in practice.
	maxRelyingParties = 64
	// maxCredentialIDLen is the longest credential ID WebAuthn allows.
	maxCredentialIDLen = 1023
	// maxUserHandleLen is the longest user handle WebAuthn allows.
	maxUserHandleLen = 64
)

// passkeyEpoch starts the clock of passkeyStep: seconds from it fit the 31
// bits passkeyStep gives them until 2092.
var passkeyEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors of the passkey ceremonies.
var (
	// ErrPasskeyRefused means an assertion or attestation did not verify:
	// wrong signature, origin or RP ID, a stale challenge, a signature
	// counter that did not increase, malformed data. At sign-in it counts
	// as a failed sign-in of the user's login.
	ErrPasskeyRefused = errors.New("the passkey was not accepted")
	// ErrPasskeyUnknown means the credential is not one of this pool's for
	// this site (removed, or made for another site).
	ErrPasskeyUnknown = errors.New("this passkey is not registered here")
	// ErrPasskeyNotVerified refuses a passwordless sign-in whose
	// authenticator only saw the user present, without verifying them (no
	// PIN or biometrics): presence alone is one factor, not a sign-in.
	ErrPasskeyNotVerified = errors.New("this passkey did not verify you with a PIN or biometrics; sign in with your password")
	// ErrPasskeyExists means the authenticator already holds a passkey
	// registered here.
	ErrPasskeyExists = errors.New("this passkey is registered already")
	// ErrInsecureOrigin means passkeys were asked for on a site that
	// browsers do not offer them on: plain http other than localhost, or
	// an IP address.
	ErrInsecureOrigin = errors.New("passkeys need an HTTPS site with a domain name")
)

// RelyingParty is the site a ceremony runs on: its origin, as a browser
// writes it, and the WebAuthn RP ID, the origin's host.
type RelyingParty struct {
	ID     string
	Origin string
}

// NewRelyingParty checks an origin ("https://app.example.com",
// "http://localhost:8080") and names its RP ID. Browsers offer WebAuthn
// only in a secure context on a domain name, so plain http is refused but
// for localhost, and IP addresses always.
func NewRelyingParty(origin string) (RelyingParty, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return RelyingParty{}, ErrInsecureOrigin
	}
	host := strings.ToLower(u.Hostname())
	if protocol.ValidateRPID(host) != nil {
		return RelyingParty{}, ErrInsecureOrigin
	}
	if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return RelyingParty{}, ErrInsecureOrigin
	}
	canon := u.Scheme + "://" + host
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		canon += ":" + p
	}
	return RelyingParty{ID: host, Origin: canon}, nil
}

// WebAuthnCeremony is the state of one ceremony between its begin and its
// finish. Nothing of it is secret, but the caller must keep it from being
// changed (the hosted pages seal it in a short-lived cookie) and hand it
// back unaltered: Finish* check it, and the library checks Session.
type WebAuthnCeremony struct {
	Purpose string `json:"p"`
	// UserID is whose ceremony it is; empty for a passwordless sign-in,
	// where the authenticator says who.
	UserID string `json:"u,omitempty"`
	Origin string `json:"o"`
	// Name is the label of a passkey being registered.
	Name string `json:"n,omitempty"`
	// Issued is when it began, in Unix seconds.
	Issued int64 `json:"i"`
	// Session is go-webauthn's state, less AllowedCredentialIDs, which
	// AllowedHash stands for: the list is rebuilt from the user's
	// passkeys at finish and must hash the same, so that a ceremony fits a
	// cookie whatever the credential IDs' size.
	Session     webauthn.SessionData `json:"s"`
	AllowedHash []byte               `json:"a,omitempty"`
}

// Expired reports whether the ceremony is past CeremonyTTL at now.
func (c *WebAuthnCeremony) Expired(now time.Time) bool {
	issued := time.Unix(c.Issued, 0)
	return now.Before(issued.Add(-time.Minute)) || !now.Before(issued.Add(CeremonyTTL))
}

// passkeyRecord is what verifying a passkey needs besides its ID: the
// factor's Secret, as JSON.
type passkeyRecord struct {
	// RPID is the site it was made for; it signs for nothing else.
	RPID              string   `json:"rp"`
	PublicKey         []byte   `json:"pk"`
	AAGUID            []byte   `json:"aaguid,omitempty"`
	Flags             byte     `json:"flags"`
	Transports        []string `json:"transports,omitempty"`
	AttestationType   string   `json:"att_type,omitempty"`
	AttestationFormat string   `json:"att_fmt,omitempty"`
	Attachment        string   `json:"attachment,omitempty"`
}

// passkey is one stored passkey, decoded.
type passkey struct {
	factor store.MFAFactor
	rec    passkeyRecord
	cred   webauthn.Credential
}

func decodePasskey(f store.MFAFactor) (passkey, bool) {
	if f.Kind != store.FactorWebAuthn || !f.Confirmed {
		return passkey{}, false
	}
	id, err := base64.RawURLEncoding.DecodeString(f.ID)
	if err != nil || len(id) == 0 {
		return passkey{}, false
	}
	var rec passkeyRecord
	if err := json.Unmarshal(f.Secret, &rec); err != nil || len(rec.PublicKey) == 0 {
		return passkey{}, false
	}
	transports := make([]protocol.AuthenticatorTransport, len(rec.Transports))
	for i, t := range rec.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return passkey{factor: f, rec: rec, cred: webauthn.Credential{
		ID:                id,
		PublicKey:         rec.PublicKey,
		AttestationType:   rec.AttestationType,
		AttestationFormat: rec.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(rec.Flags)),
		Authenticator: webauthn.Authenticator{
			AAGUID:     rec.AAGUID,
			Attachment: protocol.AuthenticatorAttachment(rec.Attachment),
		},
	}}, true
}

// passkeyUser is a pool user as go-webauthn sees one: the user handle is
// the user's ID, the credentials their passkeys for one site.
type passkeyUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (pu *passkeyUser) WebAuthnID() []byte   { return []byte(pu.u.ID) }
func (pu *passkeyUser) WebAuthnName() string { return pu.u.Email }
func (pu *passkeyUser) WebAuthnDisplayName() string {
	if pu.u.Name != "" {
		return pu.u.Name
	}
	return pu.u.Email
}
func (pu *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return pu.creds }

// passkeysFor returns the user's confirmed factors and, of them, the
// passkeys made for rp.
func (p *Pool) passkeysFor(ctx context.Context, userID string, rp RelyingParty) (confirmed int, keys []passkey, err error) {
	all, err := p.store.MFAFactors(ctx, userID)
	if err != nil {
		return 0, nil, err
	}
	for _, f := range all {
		if !f.Confirmed {
			continue
		}
		confirmed++
		if k, ok := decodePasskey(f); ok && k.rec.RPID == rp.ID {
			keys = append(keys, k)
		}
	}
	return confirmed, keys, nil
}

// HasPasskey reports whether the user has a passkey for rp, so that the
// second-factor page offers it.
func (p *Pool) HasPasskey(ctx context.Context, userID string, rp RelyingParty) (bool, error) {
	if p.mfa.Mode == MFAOff {
		return false, nil
	}
	_, keys, err := p.passkeysFor(ctx, userID, rp)
	return len(keys) > 0, err
}

// rpCache holds one go-webauthn configuration per origin, made on first
// use: the hosted pages are served on every guarded site's own host.
type rpCache struct {
	mu sync.Mutex
	m  map[string]*webauthn.WebAuthn
}

func (p *Pool) webAuthn(rp RelyingParty) (*webauthn.WebAuthn, error) {
	c := &p.rps
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.m[rp.Origin]; ok {
		return w, nil
	}
	// The pool's display name, which the authenticator-app issuer
	// defaults to.
	name := p.mfa.Issuer
	if name == "" {
		name = p.name
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          rp.ID,
		RPDisplayName: name,
		RPOrigins:     []string{rp.Origin},
		// The library refuses a session past its timeout on top of the
		// ceremony's own check.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn config for %s: %w", rp.Origin, err)
	}
	if c.m == nil || len(c.m) >= maxRelyingParties {
		// Origins come from configured site addresses, so this only
		// happens under a catch-all site: start again rather than grow.
		c.m = map[string]*webauthn.WebAuthn{}
	}
	c.m[rp.Origin] = w
	return w, nil
}

func (p *Pool) newCeremony(purpose, userID, name string, rp RelyingParty, s *webauthn.SessionData, allowed [][]byte) *WebAuthnCeremony {
	c := &WebAuthnCeremony{
		Purpose: purpose, UserID: userID, Origin: rp.Origin, Name: name, Issued: p.now().Unix(), Session: *s,
	}
	if len(allowed) > 0 {
		c.AllowedHash = allowedHash(allowed)
		c.Session.AllowedCredentialIDs = nil
	}
	return c
}

// allowedHash names a list of credential IDs, in order.
func allowedHash(ids [][]byte) []byte {
	h := sha256.New()
	for _, id := range ids {
		var n [2]byte
		n[0], n[1] = byte(len(id)>>8), byte(len(id))
		h.Write(n[:])
		h.Write(id)
	}
	return h.Sum(nil)
}

// checkCeremony refuses a ceremony begun for something else, someone
// else, another site, or too long ago.
func (p *Pool) checkCeremony(c *WebAuthnCeremony, purpose, userID string, rp RelyingParty) error {
	if c == nil || c.Purpose != purpose || c.UserID != userID || c.Origin != rp.Origin ||
		c.Session.RelyingPartyID != rp.ID || c.Expired(p.now()) {
		return ErrChallengeExpired
	}
	if userID != "" && subtle.ConstantTimeCompare(c.Session.UserID, []byte(userID)) != 1 {
		return ErrChallengeExpired
	}
	return nil
}

// restoreAllowed puts back the allowed credentials of a ceremony from the
// user's passkeys, if they are still the ones it began with.
func restoreAllowed(c *WebAuthnCeremony, keys []passkey) (webauthn.SessionData, error) {
	s := c.Session
	if c.AllowedHash == nil {
		return s, nil
	}
	ids := make([][]byte, len(keys))
	for i, k := range keys {
		ids[i] = k.cred.ID
	}
	if subtle.ConstantTimeCompare(allowedHash(ids), c.AllowedHash) != 1 {
		// A passkey was added or removed since: start again.
		return s, ErrChallengeExpired
	}
	s.AllowedCredentialIDs = ids
	return s, nil
}

// BeginPasskeyRegistration starts adding a passkey, named name (empty for
// "Passkey"), for a signed-in user who typed their password again. The
// options go to navigator.credentials.create; the ceremony comes back to
// FinishPasskeyRegistration.
func (p *Pool) BeginPasskeyRegistration(ctx context.Context, u *store.User, rp RelyingParty, name string) (*protocol.CredentialCreation, *WebAuthnCeremony, error) {
	if p.mfa.Mode == MFAOff {
		return nil, nil, ErrMFAUnavailable
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if len(name) > 64 || !utf8.ValidString(name) || !isPrintable(name) {
		return nil, nil, FieldErrors{"name": "Use at most 64 characters."}
	}
	confirmed, keys, err := p.passkeysFor(ctx, u.ID, rp)
	if err != nil {
		return nil, nil, err
	}
	if confirmed >= maxFactors {
		return nil, nil, ErrTooManyFactors
	}
	w, err := p.webAuthn(rp)
	if err != nil {
		return nil, nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(keys))
	for i := range keys {
		exclude[i] = keys[i].cred.Descriptor()
	}
	pu := &passkeyUser{u: u}
	opts, s, err := w.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, nil, err
	}
	return opts, p.newCeremony(CeremonyRegister, u.ID, name, rp, s, nil), nil
}

// FinishPasskeyRegistration checks the authenticator's answer (response,
// the PublicKeyCredential as JSON) and keeps the passkey. The user's first
// factor comes with a fresh set of recovery codes, returned once.
func (p *Pool) FinishPasskeyRegistration(ctx context.Context, u *store.User, rp RelyingParty, c *WebAuthnCeremony, response []byte) ([]string, error) {
	if p.mfa.Mode == MFAOff {
		return nil, ErrMFAUnavailable
	}
	if err := p.checkCeremony(c, CeremonyRegister, u.ID, rp); err != nil {
		return nil, err
	}
	w, err := p.webAuthn(rp)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	cred, err := w.CreateCredential(&passkeyUser{u: u}, c.Session, parsed)
	if err != nil {
		return nil, refused(err)
	}
	if len(cred.ID) == 0 || len(cred.ID) > maxCredentialIDLen {
		return nil, ErrPasskeyRefused
	}
	confirmed, _, err := p.passkeysFor(ctx, u.ID, rp)
	if err != nil {
		return nil, err
	}
	if confirmed >= maxFactors {
		return nil, ErrTooManyFactors
	}
	rec := passkeyRecord{
		RPID:              rp.ID,
		PublicKey:         cred.PublicKey,
		AAGUID:            cred.Authenticator.AAGUID,
		Flags:             byte(cred.Flags.ProtocolValue()),
		AttestationType:   cred.AttestationType,
		AttestationFormat: cred.AttestationFormat,
		Attachment:        string(cred.Authenticator.Attachment),
	}
	for _, t := range cred.Transport {
		if len(rec.Transports) < 8 && len(t) <= 32 {
			rec.Transports = append(rec.Transports, string(t))
		}
	}
	secret, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	err = p.store.AddMFAFactor(ctx, store.MFAFactor{
		ID: base64.RawURLEncoding.EncodeToString(cred.ID), UserID: u.ID, Kind: store.FactorWebAuthn,
		Name: c.Name, Secret: secret, Confirmed: true,
		LastStep: passkeyStep(cred.Authenticator.SignCount, time.Time{}),
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrPasskeyExists
	}
	if err != nil {
		return nil, mapNotFoundErr(err)
	}
	if confirmed > 0 {
		return nil, nil
	}
	return p.RegenerateRecoveryCodes(ctx, u.ID)
}

// BeginPasskeySecondFactor starts asking a user whose password was just
// proved (or who is stepping up) for one of their passkeys for rp.
func (p *Pool) BeginPasskeySecondFactor(ctx context.Context, u *store.User, rp RelyingParty) (*protocol.CredentialAssertion, *WebAuthnCeremony, error) {
	return p.beginUserAssertion(ctx, u, rp, CeremonySecondFactor, protocol.VerificationPreferred)
}

// FinishPasskeySecondFactor checks the assertion of a second-factor
// ceremony and returns the amr the sign-in earned. A failure counts as a
// failed sign-in of the user's login, as a wrong code does.
func (p *Pool) FinishPasskeySecondFactor(ctx context.Context, u *store.User, rp RelyingParty, c *WebAuthnCeremony, response []byte) ([]string, error) {
	if err := p.finishUserAssertion(ctx, u, rp, c, CeremonySecondFactor, response); err != nil {
		return nil, err
	}
	return []string{AMRPassword, AMRHardwareKey, AMRMFA}, nil
}

// BeginPasskeyConfirmation starts asking a signed-in user for one of their
// passkeys for rp, with user verification (PIN, biometrics), to confirm a
// change to their account in place of their current password.
func (p *Pool) BeginPasskeyConfirmation(ctx context.Context, u *store.User, rp RelyingParty) (*protocol.CredentialAssertion, *WebAuthnCeremony, error) {
	// Required: the passkey stands in for the password, so it must be a
	// factor the user knows or is, not just a touch.
	return p.beginUserAssertion(ctx, u, rp, CeremonyConfirm, protocol.VerificationRequired)
}

// FinishPasskeyConfirmation checks the assertion of a confirmation
// ceremony. On nil the caller may pass Confirmation{Passkey: true} for u
// while the confirmation is fresh. A refused passkey counts against the
// login's lockout, as at sign-in.
func (p *Pool) FinishPasskeyConfirmation(ctx context.Context, u *store.User, rp RelyingParty, c *WebAuthnCeremony, response []byte) error {
	if err := p.finishUserAssertion(ctx, u, rp, c, CeremonyConfirm, response); err != nil {
		return err
	}
	p.audit(ctx, store.AuditEvent{Type: AuditPasskeyConfirmed, UserID: u.ID, Login: u.Email})
	return nil
}

// beginUserAssertion asks u, who is known, for one of their passkeys for
// rp, for purpose.
func (p *Pool) beginUserAssertion(ctx context.Context, u *store.User, rp RelyingParty, purpose string, uv protocol.UserVerificationRequirement) (*protocol.CredentialAssertion, *WebAuthnCeremony, error) {
	if p.mfa.Mode == MFAOff {
		return nil, nil, ErrMFAUnavailable
	}
	_, keys, err := p.passkeysFor(ctx, u.ID, rp)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, ErrNoSuchFactor
	}
	w, err := p.webAuthn(rp)
	if err != nil {
		return nil, nil, err
	}
	pu := &passkeyUser{u: u}
	for _, k := range keys {
		pu.creds = append(pu.creds, k.cred)
	}
	opts, s, err := w.BeginLogin(pu, webauthn.WithUserVerification(uv))
	if err != nil {
		return nil, nil, err
	}
	allowed := s.AllowedCredentialIDs
	return opts, p.newCeremony(purpose, u.ID, "", rp, s, allowed), nil
}

// finishUserAssertion checks the answer to beginUserAssertion. Refused and
// unknown passkeys count as failed sign-ins of u's login; a locked login
// is refused before the passkey is looked at.
func (p *Pool) finishUserAssertion(ctx context.Context, u *store.User, rp RelyingParty, c *WebAuthnCeremony, purpose string, response []byte) error {
	if p.mfa.Mode == MFAOff {
		return ErrMFAUnavailable
	}
	if !u.Enabled {
		return ErrUserDisabled
	}
	if err := p.checkCeremony(c, purpose, u.ID, rp); err != nil {
		return err
	}
	failures, err := p.checkLock(ctx, u.Email)
	if err != nil {
		return err
	}
	_, keys, err := p.passkeysFor(ctx, u.ID, rp)
	if err != nil {
		return err
	}
	session, err := restoreAllowed(c, keys)
	if err != nil {
		return err
	}
	_, err = p.verifyAssertion(ctx, rp, c, session, &passkeyUser{u: u}, keys, response, false)
	if err != nil {
		if errors.Is(err, ErrPasskeyRefused) || errors.Is(err, ErrPasskeyUnknown) || errors.Is(err, ErrPasskeyNotVerified) {
			if lerr := p.recordFailure(ctx, u.Email); lerr != nil {
				return lerr
			}
		}
		return err
	}
	if failures > 0 {
		return p.clearFailures(ctx, u.Email)
	}
	return nil
}

// BeginPasskeySignIn starts a passwordless sign-in: the authenticator
// offers whichever of its passkeys for rp the user picks.
func (p *Pool) BeginPasskeySignIn(ctx context.Context, rp RelyingParty) (*protocol.CredentialAssertion, *WebAuthnCeremony, error) {
	if p.mfa.Mode == MFAOff {
		return nil, nil, ErrMFAUnavailable
	}
	w, err := p.webAuthn(rp)
	if err != nil {
		return nil, nil, err
	}
	// Required, not preferred: without user verification the answer
	// would be refused anyway, and this way the browser asks for it.
	opts, s, err := w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, err
	}
	return opts, p.newCeremony(CeremonyPasskey, "", "", rp, s, nil), nil
}

// FinishPasskeySignIn checks a passwordless sign-in and returns the user
// and the amr. The authenticator must have verified the user (UV). The
// user's status is checked as SignIn checks it after a right password: a
// disabled, unconfirmed or must-reset account gets the same errors, and
// one with a temporary password a NewPasswordRequiredError (the caller
// sends them to sign in with it). Failures count against the login.
func (p *Pool) FinishPasskeySignIn(ctx context.Context, rp RelyingParty, c *WebAuthnCeremony, response []byte) (*store.User, []string, error) {
	if p.mfa.Mode == MFAOff {
		return nil, nil, ErrMFAUnavailable
	}
	if err := p.checkCeremony(c, CeremonyPasskey, "", rp); err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, nil, refused(err)
	}
	return p.finishPasskeySignIn(ctx, rp, c, parsed)
}

// finishPasskeySignIn is FinishPasskeySignIn once the answer is parsed
// (USER_AUTH's WEB_AUTHN checks whose passkey it is first).
func (p *Pool) finishPasskeySignIn(ctx context.Context, rp RelyingParty, c *WebAuthnCeremony, parsed *protocol.ParsedCredentialAssertionData) (*store.User, []string, error) {
	if p.mfa.Mode == MFAOff {
		return nil, nil, ErrMFAUnavailable
	}
	if err := p.checkCeremony(c, CeremonyPasskey, "", rp); err != nil {
		return nil, nil, err
	}
	handle := parsed.Response.UserHandle
	if len(handle) == 0 || len(handle) > maxUserHandleLen || !utf8.Valid(handle) {
		return nil, nil, ErrPasskeyUnknown
	}
	u, err := p.store.UserByID(ctx, string(handle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrPasskeyUnknown
	}
	if err != nil {
		return nil, nil, err
	}
	_, keys, err := p.passkeysFor(ctx, u.ID, rp)
	if err != nil {
		return nil, nil, err
	}
	found := false
	for _, k := range keys {
		found = found || bytes.Equal(k.cred.ID, parsed.RawID)
	}
	if !found {
		return nil, nil, ErrPasskeyUnknown
	}
	failures, err := p.checkLock(ctx, u.Email)
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.verifyParsed(ctx, rp, c, c.Session, &passkeyUser{u: u}, keys, parsed, true); err != nil {
		if errors.Is(err, ErrPasskeyRefused) || errors.Is(err, ErrPasskeyNotVerified) {
			if lerr := p.recordFailure(ctx, u.Email); lerr != nil {
				return nil, nil, lerr
			}
		}
		return nil, nil, err
	}
	if failures > 0 {
		if err := p.clearFailures(ctx, u.Email); err != nil {
			return nil, nil, err
		}
	}
	if !u.Enabled {
		return nil, nil, ErrUserDisabled
	}
	if err := p.signInStatus(ctx, u); err != nil {
		return nil, nil, err
	}
	return u, []string{AMRHardwareKey, AMRMFA}, nil
}

func (p *Pool) verifyAssertion(ctx context.Context, rp RelyingParty, c *WebAuthnCeremony, s webauthn.SessionData, pu *passkeyUser, keys []passkey, response []byte, discoverable bool) (*passkey, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	return p.verifyParsed(ctx, rp, c, s, pu, keys, parsed, discoverable)
}

// verifyParsed has go-webauthn check an assertion against the ceremony,
// then spends it: the signature counter must rise (or, for an
// authenticator that counts nothing, the ceremony must be newer than the
// last one accepted), atomically in the store.
func (p *Pool) verifyParsed(ctx context.Context, rp RelyingParty, c *WebAuthnCeremony, s webauthn.SessionData, pu *passkeyUser, keys []passkey, parsed *protocol.ParsedCredentialAssertionData, discoverable bool) (*passkey, error) {
	w, err := p.webAuthn(rp)
	if err != nil {
		return nil, err
	}
	var key *passkey
	for i := range keys {
		pu.creds = append(pu.creds, keys[i].cred)
		if bytes.Equal(keys[i].cred.ID, parsed.RawID) {
			key = &keys[i]
		}
	}
	if key == nil {
		return nil, ErrPasskeyUnknown
	}
	if s.UserVerification == protocol.VerificationRequired && !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		// The library would refuse it too (the ceremony asks for
		// verification); this says why.
		return nil, ErrPasskeyNotVerified
	}
	if discoverable {
		_, _, err = w.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return pu, nil }, s, parsed)
	} else {
		_, err = w.ValidateLogin(pu, s, parsed)
	}
	if err != nil {
		return nil, refused(err)
	}
	step := passkeyStep(parsed.Response.AuthenticatorData.Counter, time.Unix(c.Issued, 0))
	err = p.store.UseTOTPStep(ctx, pu.u.ID, key.factor.ID, step, p.now())
	if errors.Is(err, store.ErrStepUsed) {
		// A counter that did not rise: a cloned authenticator, or this
		// very assertion again.
		return nil, fmt.Errorf("%w: signature counter did not increase", ErrPasskeyRefused)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrPasskeyUnknown // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// passkeyStep is the LastStep an assertion must raise a passkey's to.
// The signature counter is the high part: one that does not rise above
// the last one seen is refused (WebAuthn §7.2 step 21: a clone, or a
// replay). An authenticator that reports 0 (most synced passkeys) has
// nothing to compare, so the low part holds the second its ceremony began
// instead, and a ceremony is accepted once and only while newer than the
// last one accepted. Once a passkey has shown a counter, a 0 is refused,
// as the specification says.
func passkeyStep(counter uint32, began time.Time) int64 {
	const low = 1<<31 - 1
	if counter > 0 {
		return int64(counter)<<31 | low
	}
	if began.IsZero() {
		return 0
	}
	return min(max(int64(began.Sub(passkeyEpoch)/time.Second), 1), low-1)
}

// refused wraps what go-webauthn says against an answer as
// ErrPasskeyRefused, keeping its words for the logs.
func refused(err error) error {
	if pe, ok := errors.AsType[*protocol.Error](err); ok {
		return fmt.Errorf("%w: %s: %s", ErrPasskeyRefused, pe.Type, pe.Details)
	}
	return fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
}
