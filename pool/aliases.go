package pool

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Sign-in aliases, as Cognito's username attributes and aliases: besides
// (or instead of) the email address, a pool may let its users sign in
// with a username (the preferred_username attribute, unique in the pool
// case-insensitively) and with a verified phone number (phone_number
// while phone_number_verified is true, unique among verified numbers).
// The three never look alike, so a login names its kind by its shape: an
// '@' is an address, a leading '+' a number, anything else a username.
// Every account still has an email address.

// What users sign in with (AccountConfig.SignInWith).
const (
	LoginEmail    = "email"
	LoginUsername = "username"
	LoginPhone    = "phone"
)

// AttrUsername is the attribute a username is kept in.
const AttrUsername = "preferred_username"

// Texts of the alias rules, shown on the pages beside the field.
const (
	// MsgUsernameFormat: the username's format rule.
	MsgUsernameFormat = "Use 3 to 128 letters (a-z), digits, '.', '_' or '-', starting with a letter or digit."
	// MsgUsernameTaken: the username belongs to another account. Saying
	// so tells that the name exists: the inherent trade-off of names
	// people choose (see README, "Sign-in aliases").
	MsgUsernameTaken = "This username is taken. Choose another."
)

var (
	// ErrUsernameTaken: another (confirmed) account has the username.
	ErrUsernameTaken = errors.New("this username is taken")
	// ErrPhoneTaken: another account has verified the number. Which one
	// is never said.
	ErrPhoneTaken = errors.New("this phone number is verified on another account")
)

// usernameRE is what a username may be: ASCII letters, digits, '.', '_'
// and '-', 3 to 128 of them, starting with a letter or digit. ASCII only:
// no two names that look alike (a Cyrillic 'а' for a Latin 'a'), and
// folding is the same everywhere. No '@' and no leading '+', so that a
// username can never shadow an address or a phone number.
var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$`)

// ValidUsername reports whether s (trimmed) may be a username.
func ValidUsername(s string) bool { return usernameRE.MatchString(s) }

// ValidateSignInWith checks a pool's sign_in_with list.
func ValidateSignInWith(kinds []string) error {
	seen := map[string]bool{}
	for _, k := range kinds {
		switch k {
		case LoginEmail, LoginUsername, LoginPhone:
		default:
			return fmt.Errorf("sign_in_with %q: want email, username or phone", k)
		}
		if seen[k] {
			return fmt.Errorf("sign_in_with lists %s twice", k)
		}
		seen[k] = true
	}
	return nil
}

// SignInWith returns what the pool's users sign in with, in the order
// configured (email alone by default).
func (p *Pool) SignInWith() []string { return p.acct.SignInWith }

// SignsInWith reports whether the pool's users sign in with kind.
func (p *Pool) SignsInWith(kind string) bool {
	for _, k := range p.acct.SignInWith {
		if k == kind {
			return true
		}
	}
	return false
}

// aliasKinds are the store's alias kinds of the pool's sign-in choice.
func (p *Pool) aliasKinds() []string {
	var kinds []string
	if p.SignsInWith(LoginUsername) {
		kinds = append(kinds, store.AliasUsername)
	}
	if p.SignsInWith(LoginPhone) {
		kinds = append(kinds, store.AliasPhone)
	}
	return kinds
}

// keepAliases tells the store which alias keys to keep, filling them in
// for existing users the first time; users left without one because an
// older account has it are logged (by count: no names).
func (p *Pool) keepAliases(ctx context.Context, log *zap.Logger) error {
	skipped, err := p.store.KeepAliases(ctx, p.aliasKinds())
	if err != nil {
		return fmt.Errorf("sign-in aliases: %w", err)
	}
	if len(skipped) > 0 && log != nil {
		log.Warn("sign-in aliases: some users' username or verified number is another, older account's too; they sign in with it only after changing it",
			zap.String("pool", p.name), zap.Int("users", len(skipped)))
	}
	return nil
}

// loginKind tells what a login is by its shape.
func loginKind(login string) string {
	switch {
	case strings.Contains(login, "@"):
		return LoginEmail
	case strings.HasPrefix(login, "+"):
		return LoginPhone
	}
	return LoginUsername
}

// normalizePhone trims a number and drops the spaces, dashes, dots and
// brackets people type in one; "" if what is left is no E.164 number.
func normalizePhone(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if !phoneRE.MatchString(s) {
		return ""
	}
	return s
}

// LoginKey is a login as the pool counts it (lockout, audit) and looks it
// up: an address normalized, a username folded, a number in E.164; "" for
// one that cannot be any of the pool's logins. Its kind comes with it.
func (p *Pool) LoginKey(login string) (key, kind string) {
	login = strings.TrimSpace(login)
	kind = loginKind(login)
	switch kind {
	case LoginEmail:
		e, err := NormalizeEmail(login)
		if err != nil {
			return "", kind
		}
		return e, kind
	case LoginPhone:
		return normalizePhone(login), kind
	}
	if !ValidUsername(login) {
		return "", kind
	}
	return store.FoldUsername(login), kind
}

// lookupLogin finds the account a login names, by whichever of the
// pool's sign-in kinds its shape is: the key (LoginKey) and the user, nil
// for none (an unknown login, a kind the pool does not sign in with, a
// malformed one). Every login costs one indexed read, found or not, so
// the kinds answer alike in time. Errors are the store's.
func (p *Pool) lookupLogin(ctx context.Context, login string) (string, *store.User, error) {
	key, kind := p.LoginKey(login)
	var (
		u   *store.User
		err error
	)
	switch {
	case key == "" || !p.SignsInWith(kind):
		// The read a real login costs.
		_, err = p.store.UserByEmail(ctx, "invalid@invalid.invalid")
	case kind == LoginEmail:
		u, err = p.store.UserByEmail(ctx, key)
	case kind == LoginPhone:
		u, err = p.store.UserByAlias(ctx, store.AliasPhone, key)
	default:
		u, err = p.store.UserByAlias(ctx, store.AliasUsername, key)
	}
	if errors.Is(err, store.ErrNotFound) {
		return key, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return key, u, nil
}

// UserByLogin returns the user a login names, by any of the pool's
// sign-in kinds, for administration and the Cognito API's Username
// parameters; ErrUserNotFound for none.
func (p *Pool) UserByLogin(ctx context.Context, login string) (*store.User, error) {
	_, u, err := p.lookupLogin(ctx, login)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, ErrUserNotFound
	}
	return u, nil
}

// checkUsernameFree says whether a username (valid, trimmed) may go to the
// user userID ("" for a sign-up): ErrUsernameTaken when another account
// that is not a pending sign-up has it. A pending (UNCONFIRMED) account
// proved nothing yet and gives its username way, as it gives way its
// address (see freeUsername).
func (p *Pool) checkUsernameFree(ctx context.Context, username, userID string) (*store.User, error) {
	if !p.SignsInWith(LoginUsername) {
		return nil, nil
	}
	holder, err := p.store.UserByAlias(ctx, store.AliasUsername, store.FoldUsername(username))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case holder.ID == userID:
		return nil, nil
	case holder.Status == store.StatusUnconfirmed && holder.Enabled:
		return holder, nil
	}
	return nil, ErrUsernameTaken
}

// freeUsername takes the username off a pending sign-up that holds it,
// for an account that is about to take it.
func (p *Pool) freeUsername(ctx context.Context, holder *store.User) error {
	if holder == nil {
		return nil
	}
	err := p.store.UpdateUser(ctx, holder.ID, store.UserUpdate{DeleteAttributes: []string{AttrUsername}})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// aliasConflict names which alias of attrs another account has, for a
// store conflict that was not the address's.
func (p *Pool) aliasConflict(ctx context.Context, attrs map[string]string) error {
	if un := attrs[AttrUsername]; un != "" && p.SignsInWith(LoginUsername) {
		if _, err := p.store.UserByAlias(ctx, store.AliasUsername, store.FoldUsername(un)); err == nil {
			return ErrUsernameTaken
		}
	}
	if attrs[AttrPhoneVerified] == "true" && p.SignsInWith(LoginPhone) {
		return ErrPhoneTaken
	}
	return ErrUserExists
}

// dropTakenAliases takes out of attrs (of a user about to be made from
// what another system says: a federated provider's claims, a migration
// hook's answer) the aliases another account has, so that the user is
// made without them rather than not at all. Also an invalid username: the
// pool signs in only with names of its own rule.
func (p *Pool) dropTakenAliases(ctx context.Context, attrs map[string]string) error {
	if un, ok := attrs[AttrUsername]; ok && p.SignsInWith(LoginUsername) {
		if !ValidUsername(un) {
			delete(attrs, AttrUsername)
		} else if _, err := p.checkUsernameFree(ctx, un, ""); errors.Is(err, ErrUsernameTaken) {
			delete(attrs, AttrUsername)
		} else if err != nil {
			return err
		}
	}
	if attrs[AttrPhoneVerified] == "true" && p.SignsInWith(LoginPhone) {
		_, err := p.store.UserByAlias(ctx, store.AliasPhone, attrs[AttrPhone])
		switch {
		case err == nil:
			delete(attrs, AttrPhoneVerified)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	return nil
}
