package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Identity is a signed-in user as the source that vouched for them sees
// them. Every session is built from one, by the same code, whether the user
// signed in on the hosted pages of a local pool or at an outside issuer; and
// each claims refresh replaces the session's claims with a fresh one.
type Identity struct {
	// Subject is the user's stable id at the source: the pool's user id, or
	// the outside issuer's `sub`.
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// AMR lists how the user proved who they are ("pwd", "mfa", ...). On a
	// refresh, nil keeps the session's own.
	AMR []string
	// AuthTime is when the user proved it. Zero means now when a session
	// starts, and the session's own on a refresh.
	AuthTime time.Time

	// AccessToken is an outside issuer's access token: with PassAccessToken
	// it is what upstreams get, as behind an ALB. Empty for a local pool,
	// whose sessions carry an access token Gatehouse mints.
	AccessToken string
	// RefreshToken is kept (encrypted) in the session for the source's next
	// Refresh; empty when none was granted.
	RefreshToken string
	// RefreshBy, when set, is the latest time the session must be refreshed:
	// before the access token expires. Zero leaves it to ClaimsRefresh.
	RefreshBy time.Time
}

// ErrSessionEnded is what a Source's Refresh wraps when the user must sign in
// again: the account is gone or disabled, or the issuer refused the refresh.
var ErrSessionEnded = errors.New("session ended by its source")

// Source is where a gateway's users sign in and how their sessions are
// renewed: a local pool (PoolSource) or an outside OpenID provider
// (federation/oidcrp). The gateway does everything else the same way for both.
type Source interface {
	// SignIn answers a request that needs a session by sending the browser
	// to sign in. returnTo is the local URL to come back to, already made
	// safe by Config.SafeReturnTo.
	SignIn(w http.ResponseWriter, r *http.Request, returnTo string)
	// Refresh returns the identity of s's user as it is now; the gateway
	// calls it at s's refresh time. An error wrapping ErrSessionEnded ends
	// the session; any other error (an outage) keeps it for this request.
	Refresh(ctx context.Context, s *Session) (*Identity, error)
}

// ClaimsReader is a Source that can read a session's claims at any time,
// without changing anything at the source (a local pool's store, unlike an
// outside issuer whose refresh token may be spent by a refresh). The claims
// of its sessions may stay out of the cookie when they are long, and are
// read by each instance that opens such a cookie for the first time.
type ClaimsReader interface {
	Claims(ctx context.Context, s *Session) (*Identity, error)
}

// UserIdentity is the identity of a pool user who signed in with amr.
func UserIdentity(u *store.User, amr []string) *Identity {
	return &Identity{
		Subject:       u.ID,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Groups:        u.Groups,
		AMR:           amr,
	}
}

// UserReader reads a user of a local pool by id (*pool.Pool is one); a user
// who does not exist is an error that errors.Is store.ErrNotFound (pool's
// ErrUserNotFound is).
type UserReader interface {
	User(ctx context.Context, id string) (*store.User, error)
}

// PoolSource is a local pool: users sign in on the hosted pages, in this
// process, and a refresh re-reads the user from the pool's store.
type PoolSource struct {
	Pool UserReader
	// SignInPath is the hosted sign-in page.
	SignInPath string
}

// SignIn redirects to the hosted sign-in page.
func (p PoolSource) SignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, p.SignInPath+"?rd="+url.QueryEscape(returnTo), http.StatusFound)
}

// Refresh re-reads the user. A user who was deleted or disabled loses the
// session; a store that cannot be read is an outage, not a "no".
func (p PoolSource) Refresh(ctx context.Context, s *Session) (*Identity, error) {
	u, err := p.Pool.User(ctx, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: user deleted", ErrSessionEnded)
	}
	if err != nil {
		return nil, err
	}
	if !u.Enabled {
		return nil, fmt.Errorf("%w: user disabled", ErrSessionEnded)
	}
	return UserIdentity(u, nil), nil
}

// Claims re-reads the user, as Refresh does (it implements ClaimsReader).
func (p PoolSource) Claims(ctx context.Context, s *Session) (*Identity, error) {
	return p.Refresh(ctx, s)
}
