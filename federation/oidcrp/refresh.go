package oidcrp

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation/oidcclient"
	"github.com/gatehouse-auth/gatehouse/middleware"
)

const (
	// refreshTimeout bounds one refresh at the issuer.
	refreshTimeout = 10 * time.Second
	// reuseWindow is how long the outcome of a refresh is kept for other
	// requests that still carry the cookie it replaced: a page's parallel
	// requests, or one whose answer was lost. Issuers that rotate refresh
	// tokens treat a second use of the old one as theft and revoke the
	// grant, so it must not be sent again.
	reuseWindow = 30 * time.Second
	// outageWindow is how long a refresh that could not reach the issuer
	// is not tried again for the same token.
	outageWindow = 5 * time.Second
)

// Refresh renews s at its refresh time (it implements middleware.Source).
// With a refresh token it asks the issuer for new tokens through x/oauth2,
// verifies the new ID token if one comes back (same sub) and returns the
// fresh claims and tokens. The issuer refusing the token (invalid_grant:
// revoked, expired, reused) ends the session; an issuer that cannot be
// reached keeps it for now. Without a refresh token the session keeps the
// claims it has until it expires, and is only re-signed.
func (rp *RP) Refresh(ctx context.Context, s *middleware.Session) (*middleware.Identity, error) {
	if s.RefreshToken == "" {
		return sessionIdentity(s), nil
	}
	return rp.flights.do(sha256.Sum256([]byte(s.RefreshToken)), rp.now, func() (*middleware.Identity, error) {
		// The issuer may rotate the token: once asked, the answer must be
		// had, even if the request that asked has gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return rp.refresh(ctx, s)
	})
}

func (rp *RP) refresh(ctx context.Context, s *middleware.Session) (*middleware.Identity, error) {
	tok, err := rp.oc.Refresh(ctx, s.RefreshToken)
	if err != nil {
		if errors.Is(err, oidcclient.ErrRefused) {
			return nil, fmt.Errorf("%w: the issuer refused the refresh token: %v", middleware.ErrSessionEnded, err)
		}
		return nil, fmt.Errorf("refreshing at the issuer: %w", err)
	}
	// From here on the old refresh token may be spent: failures end the
	// session rather than keep one that cannot be refreshed again.
	c, err := rp.verifyIDToken(ctx, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", middleware.ErrSessionEnded, err)
	}
	if c == nil {
		c = sessionClaims(s)
	} else if c.sub != s.UserID {
		return nil, fmt.Errorf("%w: the refreshed ID token is about sub %q, the session about %q", middleware.ErrSessionEnded, clip(c.sub), s.UserID)
	}
	if err := rp.completeFromUserInfo(ctx, tok, c); err != nil {
		rp.log.Warn("userinfo failed at refresh; keeping the session's claims", zap.String("sub", s.UserID), zap.Error(err))
		prev := sessionClaims(s)
		c.email, c.emailVerified = prev.email, prev.emailVerified
		if c.name == "" {
			c.name = prev.name
		}
		if c.groups == nil {
			c.groups = prev.groups
		}
	}
	return rp.identity(c, tok), nil
}

// sessionClaims are the claims a session already holds. AMR and auth time
// are left empty: the gateway keeps the session's own.
func sessionClaims(s *middleware.Session) *claims {
	return &claims{sub: s.UserID, email: s.Email, emailVerified: s.EmailVerified, name: s.Name, groups: s.Groups}
}

// sessionIdentity is a session's identity as it stands, for a re-signing
// without a refresh token.
func sessionIdentity(s *middleware.Session) *middleware.Identity {
	return &middleware.Identity{
		Subject:       s.UserID,
		Email:         s.Email,
		EmailVerified: s.EmailVerified,
		Name:          s.Name,
		Groups:        s.Groups,
		AccessToken:   s.AccessToken,
	}
}

// flights makes concurrent refreshes of one refresh token into one request
// to the issuer, and keeps its outcome a while for latecomers.
type flights struct {
	mu sync.Mutex
	m  map[[32]byte]*flight
}

type flight struct {
	done  chan struct{}
	id    *middleware.Identity
	err   error
	until time.Time // zero while in flight; guarded by flights.mu
}

func newFlights() *flights { return &flights{m: map[[32]byte]*flight{}} }

func (f *flights) do(key [32]byte, now func() time.Time, fn func() (*middleware.Identity, error)) (*middleware.Identity, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok && (fl.until.IsZero() || now().Before(fl.until)) {
		f.mu.Unlock()
		<-fl.done
		return fl.id, fl.err
	}
	t := now()
	for k, fl := range f.m {
		if !fl.until.IsZero() && !t.Before(fl.until) {
			delete(f.m, k)
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()

	fl.id, fl.err = fn()

	f.mu.Lock()
	keep := reuseWindow
	if fl.err != nil && !errors.Is(fl.err, middleware.ErrSessionEnded) {
		keep = outageWindow
	}
	fl.until = now().Add(keep)
	f.mu.Unlock()
	close(fl.done)
	return fl.id, fl.err
}
