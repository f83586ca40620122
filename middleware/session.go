package middleware

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Session is what the session cookie carries: who the user is and when and
// how they signed in, so that an authenticated request needs no store
// lookup. The identity signed for upstreams is made from it and cached with
// it, not carried.
type Session struct {
	ID            string   `json:"sid"`
	UserID        string   `json:"sub"`
	Email         string   `json:"em,omitempty"`
	EmailVerified bool     `json:"ev,omitempty"`
	Name          string   `json:"nm,omitempty"`
	Groups        []string `json:"gr,omitempty"`
	AMR           []string `json:"amr,omitempty"`
	// AuthTime is when the user last proved who they are (unix nanoseconds).
	AuthTime int64 `json:"at"`
	// IssuedAt is when the session began (unix nanoseconds); user-wide
	// revocations end sessions issued at or before theirs.
	IssuedAt int64 `json:"iat"`
	// Expires is the session's hard end (unix nanoseconds).
	Expires int64 `json:"exp"`
	// RefreshAt is when the claims are re-read from the pool and re-signed.
	RefreshAt int64 `json:"rat"`
	// DataToken is the signed X-Amzn-Oidc-Data header value. It stays out
	// of the cookie: signing it again costs one ES256 signature per session
	// and instance, and carrying it would add 900 bytes to every request.
	DataToken string `json:"-"`
	// AccessToken is passed as X-Amzn-Oidc-Accesstoken when configured.
	AccessToken string `json:"ac,omitempty"`
	// RefreshToken is an outside issuer's refresh token, for the source's
	// next Refresh; the cookie is encrypted, so it never leaves in clear.
	RefreshToken string `json:"rt,omitempty"`
	// Slim marks a cookie sealed without the claims (email, name, groups,
	// access token) because they did not fit: an instance that opens it
	// reads them from the source (Gateway.fill). Never set on a session in
	// the cache.
	Slim bool `json:"sl,omitempty"`
}

// dataTokenGrace keeps the signed data valid a little past the refresh time,
// for upstream clocks that run slightly ahead of ours.
const dataTokenGrace = time.Minute

// Authenticated returns the session r carries, if valid, without changing
// the response; for pages that show who is signed in.
func (g *Gateway) Authenticated(r *http.Request) (*Session, bool) {
	raw, err := g.cfg.Codec.Read(r)
	if err != nil {
		return nil, false
	}
	e := g.lookup(r.Context(), raw)
	if e == nil || !g.live(e.s) {
		return nil, false
	}
	return e.s, true
}

// current returns the request's valid session, refreshing its claims when
// due, or nil.
func (g *Gateway) current(w http.ResponseWriter, r *http.Request) *cacheEntry {
	raw, err := g.cfg.Codec.Read(r)
	if err != nil {
		return nil
	}
	e := g.lookup(r.Context(), raw)
	if e == nil || !g.live(e.s) {
		return nil
	}
	if g.now().UnixNano() >= e.s.RefreshAt {
		return g.renew(w, r, e)
	}
	return e
}

// lookup returns the decoded session for a raw cookie value, from the cache
// or by verifying and decrypting it once. A cookie that does not carry its
// claims (Session.Slim) has them read from the source here, once per
// process: the one request that opens it pays one store read, the requests
// after it find the whole session in the cache.
func (g *Gateway) lookup(ctx context.Context, raw string) *cacheEntry {
	// Read before decoding: a key removed meanwhile leaves this entry
	// stale, to be opened again with the keys left.
	keys := g.cfg.Codec.ring.removals()
	if e := g.cache.get(raw); e != nil && e.keys == keys {
		return e
	}
	s, err := g.cfg.Codec.Decode(raw)
	if err != nil {
		return nil
	}
	if s.Slim {
		if s, err = g.fill(ctx, s); err != nil {
			g.cfg.Logger.Warn("reading the claims of a session opened here for the first time failed", zap.String("user_id", s.UserID), zap.Error(err))
			return nil
		}
	} else if err := g.signData(s); err != nil {
		// The cookie does not carry the data header (see signData); the
		// one in cookies sealed before that change is ignored by Decode.
		g.cfg.Logger.Error("signing the session's data header failed", zap.String("user_id", s.UserID), zap.Error(err))
		return nil
	}
	e := g.entry(s)
	e.keys = keys
	g.cache.put(raw, e)
	return e
}

// fill gives a session whose cookie left its claims out (see seal) its
// claims as the source has them now, and signs them; its times stay as the
// cookie has them, so its next refresh, and the cookie it then gets, are
// the same on every instance. The cookie is not rewritten: an instance that
// filled a session serves it from its cache like any other, and does not
// make the next instance's copy stale. It returns s itself on error.
func (g *Gateway) fill(ctx context.Context, s *Session) (*Session, error) {
	cr, ok := g.cfg.Source.(ClaimsReader)
	if !ok {
		return s, errors.New("the session's claims are not in its cookie and its source cannot read them")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	id, err := cr.Claims(ctx, s)
	if err == nil && id.Subject != s.UserID {
		err = fmt.Errorf("%w: the source returned another subject", ErrSessionEnded)
	}
	if err != nil {
		return s, err
	}
	full := *s
	full.setClaims(id)
	if err := g.sign(&full, g.now()); err != nil {
		return s, err
	}
	return &full, nil
}

// live reports whether s has neither expired nor been revoked.
func (g *Gateway) live(s *Session) bool {
	if g.now().UnixNano() >= s.Expires {
		return false
	}
	return !g.cfg.Revocations.Revoked(s.ID, s.UserID, time.Unix(0, s.IssuedAt))
}

// Start begins a session for u on this site (it implements hostedui.Sessions).
func (g *Gateway) Start(w http.ResponseWriter, r *http.Request, u *store.User, amr []string) error {
	return g.StartIdentity(w, r, UserIdentity(u, amr))
}

// StartIdentity begins a session for id on this site: the one way a session
// starts, from the hosted pages (Start) and from an outside issuer's callback.
func (g *Gateway) StartIdentity(w http.ResponseWriter, r *http.Request, id *Identity) error {
	if id == nil || id.Subject == "" {
		return errors.New("gateway: identity without a subject")
	}
	now := g.now()
	// A sign-in right after its user's revocation counts from when the
	// pool's tokens of it do, so a revocation in the same second that
	// refuses those refuses this session too.
	issued := g.cfg.Revocations.AuthTimeAfter(id.Subject, now)
	s := &Session{
		ID:       rand.Text(),
		AuthTime: issued.UnixNano(),
		IssuedAt: issued.UnixNano(),
		Expires:  now.Add(g.cfg.SessionTimeout).UnixNano(),
	}
	if err := g.build(s, id, now); err != nil {
		return err
	}
	_, err := g.write(w, r, s)
	return err
}

// End clears the session cookie and revokes the session, so that a copy of
// the cookie kept elsewhere stops working too.
func (g *Gateway) End(w http.ResponseWriter, r *http.Request) error {
	defer g.cfg.Codec.Clear(w, r, g.cfg.Secure(r))
	raw, err := g.cfg.Codec.Read(r)
	if err != nil {
		return nil
	}
	// Only the session's id is needed: no claims are read, so signing out
	// works whatever the store can answer about the user.
	var s *Session
	if e := g.cache.get(raw); e != nil {
		s = e.s
	} else if s, err = g.cfg.Codec.Decode(raw); err != nil {
		return nil
	}
	return g.cfg.Revoker.RevokeSession(context.WithoutCancel(r.Context()), s.ID, time.Unix(0, s.Expires))
}

// build sets s's claims from id and signs them: the one place where a
// session's contents are made, at sign-in and at every refresh. The session's
// id, issue time and expiry are left as they are.
func (g *Gateway) build(s *Session, id *Identity, now time.Time) error {
	s.setClaims(id)
	if !id.AuthTime.IsZero() {
		s.AuthTime = id.AuthTime.UnixNano()
	}
	s.RefreshToken = id.RefreshToken
	refreshAt := min(now.Add(g.cfg.ClaimsRefresh).UnixNano(), s.Expires)
	if !id.RefreshBy.IsZero() {
		refreshAt = min(refreshAt, id.RefreshBy.UnixNano())
	}
	s.RefreshAt = refreshAt
	s.AccessToken = id.AccessToken
	return g.sign(s, now)
}

// setClaims copies who the user is from id into s; a nil AMR keeps s's.
func (s *Session) setClaims(id *Identity) {
	s.UserID, s.Email, s.EmailVerified, s.Name, s.Groups = id.Subject, id.Email, id.EmailVerified, id.Name, id.Groups
	if id.AMR != nil {
		s.AMR = id.AMR
	}
	s.Slim = false
}

// sign makes what is signed from s's claims: its data header and, with
// PassAccessToken, the access token of a local pool's session (an outside
// issuer's own, already in s.AccessToken, is passed as is, as an ALB does).
func (g *Gateway) sign(s *Session, now time.Time) error {
	exp := s.dataExpires()
	if err := g.signData(s); err != nil {
		return err
	}
	if !g.cfg.PassAccessToken {
		s.AccessToken = ""
		return nil
	}
	if s.AccessToken == "" {
		var err error
		if s.AccessToken, err = g.accessToken(s, now, exp); err != nil {
			return err
		}
	}
	return nil
}

// signData signs s's X-Amzn-Oidc-Data from its claims, valid until a little
// past its refresh time. The cookie does not carry the result (it would be
// most of the cookie, sent with every request): it is signed at sign-in and
// each refresh, and again by an instance that opens the cookie for the first
// time, which then caches it with the session.
func (g *Gateway) signData(s *Session) error {
	groups := s.Groups
	if groups == nil {
		groups = []string{}
	}
	claims := map[string]any{
		"sub":            s.UserID,
		"email":          s.Email,
		"email_verified": s.EmailVerified,
		"groups":         groups,
		"auth_time":      time.Unix(0, s.AuthTime).Unix(),
	}
	// A user without a name has no name claim, as in the bearer path and
	// the ID token; `"name":""` would only lengthen every proxied request.
	if s.Name != "" {
		claims["name"] = s.Name
	}
	var err error
	s.DataToken, err = g.cfg.Data.Sign(claims, s.dataExpires())
	return err
}

// dataExpires is when what is signed for s (its data header, a minted access
// token) expires: a little past its refresh time.
func (s *Session) dataExpires() time.Time {
	return time.Unix(0, s.RefreshAt).Add(dataTokenGrace)
}

// accessToken mints a Cognito-style access token for the session, signed
// with the pool's current key.
func (g *Gateway) accessToken(s *Session, now, exp time.Time) (string, error) {
	key := g.cfg.Data.Keys.Current()
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss":       g.cfg.Data.Issuer,
		"sub":       s.UserID,
		"client_id": g.cfg.Data.ClientID,
		"token_use": "access",
		// The session it belongs to: the token is refused once the session
		// is revoked, and is not taken as a client's token (bearer.go).
		"sid":       s.ID,
		"scope":     "openid email profile",
		"groups":    s.Groups,
		"auth_time": time.Unix(0, s.AuthTime).Unix(),
		"iat":       now.Unix(),
		"exp":       exp.Unix(),
		"jti":       rand.Text(),
	})
	t.Header["kid"] = key.ID
	return t.SignedString(key.Private)
}

// write encodes s, sets its cookie(s) and caches the decoded form under the
// new value, so the next request with it costs no decryption.
func (g *Gateway) write(w http.ResponseWriter, r *http.Request, s *Session) (*cacheEntry, error) {
	raw, e, err := g.seal(s)
	if err != nil {
		return nil, err
	}
	if err := g.cfg.Codec.Write(w, r, raw, time.Unix(0, s.Expires), g.cfg.Secure(r)); err != nil {
		return nil, err
	}
	return e, nil
}

// seal encodes s into a cookie value and caches its decoded form under it.
// A session whose claims would make the cookie longer than cookieBudget
// (a user in hundreds of groups, long attributes) is sealed without them
// when its source can read them again (ClaimsReader): the cookie then holds
// only ids and times, a few hundred bytes whatever the user's groups, and
// the whole session is in this instance's cache under it.
func (g *Gateway) seal(s *Session) (string, *cacheEntry, error) {
	keys := g.cfg.Codec.ring.removals()
	raw, err := g.cfg.Codec.Encode(s)
	if err != nil {
		return "", nil, err
	}
	if _, ok := g.cfg.Source.(ClaimsReader); ok && len(raw) > cookieBudget {
		if raw, err = g.cfg.Codec.Encode(s.withoutClaims()); err != nil {
			return "", nil, err
		}
	}
	if tooLarge(raw) {
		return "", nil, ErrSessionTooLarge
	}
	e := g.entry(s)
	e.keys = keys
	g.cache.put(raw, e)
	return raw, e, nil
}

// cookieBudget is the longest session cookie value sealed with its claims.
// Under it, every instance can serve the session from the cookie alone;
// over it, the claims stay out (see seal), so that the cookie, with its
// attributes, stays well under the 4096 bytes browsers keep per cookie and
// leaves room in the request headers (16 KiB in all by Caddy's default)
// for the site's other cookies.
const cookieBudget = 3000

// withoutClaims is s as its cookie carries it when its claims do not fit:
// who and when, without what the source says about the user.
func (s *Session) withoutClaims() *Session {
	c := *s
	c.Email, c.EmailVerified, c.Name, c.Groups, c.AccessToken = "", false, "", nil, ""
	c.Slim = true
	return &c
}

// entry makes the cache entry of s: its principal and g's verdict on it.
func (g *Gateway) entry(s *Session) *cacheEntry {
	p := g.principal(s, sessionFacts(s))
	return &cacheEntry{s: s, p: p, v: g.judge(&p.facts)}
}
