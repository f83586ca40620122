package transfer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// LineError is a file's first fault, named by its line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

func lineErr(n int, format string, args ...any) error {
	return &LineError{Line: n, Err: fmt.Errorf(format, args...)}
}

// ReadOptions are what a file does not say itself.
type ReadOptions struct {
	// Passphrase opens the file's sealed factor secrets.
	Passphrase []byte
	// Firebase are the project's hash parameters, for users with
	// firebase_scrypt.
	Firebase *pool.FirebaseScryptParams
}

// Plan is a checked file, ready to import.
type Plan struct {
	Groups  []PlannedGroup
	Clients []PlannedClient
	Users   []PlannedUser
}

// PlannedGroup is a group and the line it came from.
type PlannedGroup struct {
	Line  int
	Group store.Group
}

// PlannedClient is a client and the line it came from.
type PlannedClient struct {
	Line   int
	Client store.Client
}

// PlannedUser is a user and the line it came from; the factors' secrets
// are in the clear, to be sealed by the target pool.
type PlannedUser struct {
	Line int
	User store.ImportedUser
}

// maxLine bounds one line: a user with many attributes and factors is a
// few kilobytes.
const maxLine = 1 << 20

// idNamespace derives the id of a user a file gives none, from the email,
// so that a file run twice names its users alike.
var idNamespace = uuid.MustParse("5f0c7c1e-3f55-4b0e-9d0e-6f9a3c1b2a10")

var customAttribute = regexp.MustCompile(`^custom:[A-Za-z0-9_-]{1,20}$`)

// ReadJSONL reads and checks a whole JSON Lines file.
func ReadJSONL(r io.Reader, opts ReadOptions) (*Plan, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	c := newChecker()
	var key *fileKey
	n := 0
	for sc.Scan() {
		n++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l line
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, lineErr(n, "not a JSON object of this format: %v", err)
		}
		if dec.InputOffset() != int64(len(raw)) {
			return nil, lineErr(n, "more than one JSON value on the line")
		}
		kinds := 0
		for _, set := range []bool{l.Header != nil && l.Format != "", l.Group != nil, l.Client != nil, l.User != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, lineErr(n, `want exactly one of a header, "group", "client" or "user"`)
		}
		switch {
		case l.Header != nil && l.Format != "":
			if c.records > 0 {
				return nil, lineErr(n, "the header must be the first line")
			}
			if l.Format != FormatName || l.Version != FormatVersion {
				return nil, lineErr(n, "format %q version %d; this reads %q version %d", l.Format, l.Version, FormatName, FormatVersion)
			}
			if l.Secrets != nil {
				k, err := newFileKey(opts.Passphrase, *l.Secrets)
				if err != nil {
					return nil, lineErr(n, "%v", err)
				}
				key = k
			}
		case l.Group != nil:
			if err := c.group(n, l.Group); err != nil {
				return nil, err
			}
		case l.Client != nil:
			if err := c.client(n, l.Client); err != nil {
				return nil, err
			}
		case l.User != nil:
			if err := c.user(n, l.User, key, opts); err != nil {
				return nil, err
			}
		}
		c.records++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineErr(n+1, "longer than %d bytes", maxLine)
		}
		return nil, err
	}
	return &c.plan, nil
}

// checker accumulates a plan, refusing repeats across the file.
type checker struct {
	plan                    Plan
	records                 int
	ids, emails, identities map[string]int
	groupNames, clientIDs   map[string]int
}

func newChecker() *checker {
	return &checker{ids: map[string]int{}, emails: map[string]int{}, identities: map[string]int{},
		groupNames: map[string]int{}, clientIDs: map[string]int{}}
}

func text(what, s string, max int) error {
	if !utf8.ValidString(s) || len(s) > max || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' }) {
		return fmt.Errorf("%s: invalid text or longer than %d bytes", what, max)
	}
	return nil
}

func (c *checker) group(n int, g *GroupRecord) error {
	if g.Name == "" {
		return lineErr(n, "group: name is required")
	}
	if err := text("group name", g.Name, 128); err != nil {
		return lineErr(n, "%v", err)
	}
	if err := text("group description", g.Description, 2048); err != nil {
		return lineErr(n, "%v", err)
	}
	if g.Precedence != nil && *g.Precedence < 0 {
		return lineErr(n, "group %q: precedence must not be negative", g.Name)
	}
	if prev, ok := c.groupNames[g.Name]; ok {
		return lineErr(n, "group %q is on line %d already", g.Name, prev)
	}
	c.groupNames[g.Name] = n
	c.plan.Groups = append(c.plan.Groups, PlannedGroup{Line: n, Group: store.Group{
		Name: g.Name, Description: g.Description, Precedence: g.Precedence, CreatedAt: timeOrZero(g.CreatedAt)}})
	return nil
}

func duration(what, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", what, err)
	}
	return d, nil
}

func (c *checker) client(n int, r *ClientRecord) error {
	if r.ID == "" {
		return lineErr(n, "client: id is required")
	}
	if err := text("client id", r.ID, 128); err != nil {
		return lineErr(n, "%v", err)
	}
	if !r.Public && r.SecretHash == "" {
		return lineErr(n, "client %q: a confidential client needs its secret_hash", r.ID)
	}
	if prev, ok := c.clientIDs[r.ID]; ok {
		return lineErr(n, "client %q is on line %d already", r.ID, prev)
	}
	cl := store.Client{ID: r.ID, Name: r.Name, SecretHash: r.SecretHash, Public: r.Public,
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs, Scopes: r.Scopes,
		GrantTypes: r.GrantTypes, RefreshTokenRotation: r.RefreshTokenRotation, CreatedAt: timeOrZero(r.CreatedAt)}
	var err error
	for _, d := range []struct {
		name string
		s    string
		to   *time.Duration
	}{{"id_token_ttl", r.IDTokenTTL, &cl.IDTokenTTL}, {"access_token_ttl", r.AccessTokenTTL, &cl.AccessTokenTTL},
		{"refresh_token_ttl", r.RefreshTokenTTL, &cl.RefreshTokenTTL}, {"refresh_token_grace", r.RefreshTokenGrace, &cl.RefreshTokenGrace}} {
		if *d.to, err = duration(d.name, d.s); err != nil {
			return lineErr(n, "client %q: %v", r.ID, err)
		}
	}
	c.clientIDs[r.ID] = n
	c.plan.Clients = append(c.plan.Clients, PlannedClient{Line: n, Client: cl})
	return nil
}

var statuses = []string{store.StatusConfirmed, store.StatusUnconfirmed, store.StatusForceChangePassword,
	store.StatusResetRequired, store.StatusExternalProvider}

// user checks one user and adds it to the plan.
func (c *checker) user(n int, r *UserRecord, key *fileKey, opts ReadOptions) error {
	email, err := pool.NormalizeEmail(r.Email)
	if err != nil {
		return lineErr(n, "email %q: %v", clipped(r.Email), err)
	}
	u := &store.User{ID: r.ID, Email: email, EmailVerified: r.EmailVerified, Name: r.Name,
		Status: r.Status, Enabled: r.Enabled == nil || *r.Enabled, Attributes: map[string]string{},
		CreatedAt: timeOrZero(r.CreatedAt), UpdatedAt: timeOrZero(r.UpdatedAt)}
	if u.ID == "" {
		u.ID = uuid.NewSHA1(idNamespace, []byte(email)).String()
	}
	if err := text("id", u.ID, 128); err != nil {
		return lineErr(n, "%v", err)
	}
	if err := text("name", u.Name, 2048); err != nil {
		return lineErr(n, "%v", err)
	}
	hashes := 0
	for _, set := range []bool{r.PasswordHash != "", len(r.KeycloakCredential) > 0, r.FirebaseScrypt != nil} {
		if set {
			hashes++
		}
	}
	if hashes > 1 {
		return lineErr(n, "give one of password_hash, keycloak_credential and firebase_scrypt")
	}
	switch {
	case r.PasswordHash != "":
		if err := pool.CheckImportedHash(r.PasswordHash); err != nil {
			return lineErr(n, "password_hash: %v", err)
		}
		u.PasswordHash = r.PasswordHash
	case len(r.KeycloakCredential) > 0:
		if u.PasswordHash, err = pool.KeycloakCredentialHash(r.KeycloakCredential); err != nil {
			return lineErr(n, "keycloak_credential: %v", err)
		}
	case r.FirebaseScrypt != nil:
		if opts.Firebase == nil {
			return lineErr(n, "firebase_scrypt: give the project's hash parameters (--firebase-signer-key and the rest)")
		}
		if u.PasswordHash, err = pool.FirebaseScryptHash(*opts.Firebase, r.FirebaseScrypt.Salt, r.FirebaseScrypt.Hash); err != nil {
			return lineErr(n, "firebase_scrypt: %v", err)
		}
	}
	if u.Status == "" {
		u.Status = store.StatusConfirmed
	}
	if !slices.Contains(statuses, u.Status) {
		return lineErr(n, "status %q is not one of %s", clipped(u.Status), strings.Join(statuses, ", "))
	}
	// Without a password (an export without --with-secrets), a user who
	// had one can only come back through a reset by email.
	if u.PasswordHash == "" && u.Status != store.StatusExternalProvider {
		u.Status = store.StatusResetRequired
	}
	for name, value := range r.Attributes {
		if !customAttribute.MatchString(name) && !slices.Contains(pool.StandardAttributeNames(), name) {
			return lineErr(n, "attribute %q is neither standard nor custom:<name>", clipped(name))
		}
		if name == "email" || name == "email_verified" || name == "name" || name == "sub" {
			return lineErr(n, "attribute %q has a field of its own", name)
		}
		if err := text("attribute "+name, value, 2048); err != nil {
			return lineErr(n, "%v", err)
		}
		u.Attributes[name] = value
	}
	for _, g := range r.Groups {
		if g == "" || text("group", g, 128) != nil {
			return lineErr(n, "group name %q is empty, invalid or too long", clipped(g))
		}
		if !slices.Contains(u.Groups, g) {
			u.Groups = append(u.Groups, g)
		}
	}
	for _, id := range r.Identities {
		if id.Provider == "" || id.Subject == "" {
			return lineErr(n, "identity: provider and subject are required")
		}
		k := id.Provider + "\x00" + id.Subject
		if prev, ok := c.identities[k]; ok {
			return lineErr(n, "identity %s of subject %q is on line %d already", id.Provider, clipped(id.Subject), prev)
		}
		c.identities[k] = n
		u.Identities = append(u.Identities, store.Identity{UserID: u.ID, Provider: id.Provider, ProviderType: id.ProviderType,
			Issuer: id.Issuer, Subject: id.Subject, Primary: id.Primary, CreatedAt: timeOrZero(id.CreatedAt)})
	}
	iu := store.ImportedUser{User: u}
	for _, f := range r.Factors {
		if f.ID == "" || f.LastStep < 0 {
			return lineErr(n, "factor: id is required and last_step not negative")
		}
		secret := f.Secret
		switch f.Kind {
		case store.FactorTOTP:
			if key == nil {
				return lineErr(n, "factor %q: a TOTP secret needs the header's secrets (export with --with-secrets)", f.ID)
			}
			if secret, err = key.open(u.ID, f.ID, f.Secret); err != nil {
				return lineErr(n, "factor %q: %v", f.ID, err)
			}
		case store.FactorWebAuthn, store.FactorEmail:
		default:
			return lineErr(n, "factor %q: kind %q is not totp, webauthn or email", f.ID, clipped(f.Kind))
		}
		iu.Factors = append(iu.Factors, store.MFAFactor{ID: f.ID, UserID: u.ID, Kind: f.Kind, Name: f.Name,
			Secret: secret, Confirmed: f.Confirmed, LastStep: f.LastStep,
			CreatedAt: timeOrZero(f.CreatedAt), LastUsedAt: timeOrZero(f.LastUsedAt)})
	}
	if prev, ok := c.ids[u.ID]; ok {
		return lineErr(n, "user id %q is on line %d already", clipped(u.ID), prev)
	}
	if prev, ok := c.emails[email]; ok {
		return lineErr(n, "email %q is on line %d already", email, prev)
	}
	c.ids[u.ID], c.emails[email] = n, n
	c.plan.Users = append(c.plan.Users, PlannedUser{Line: n, User: iu})
	return nil
}

// clipped keeps an error from echoing a whole hostile value.
func clipped(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
