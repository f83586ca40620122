package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// verifierPattern is RFC 7636's code_verifier: 43 to 128 unreserved
// characters.
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// token is the token endpoint (RFC 6749 §3.2): it authenticates the client,
// then runs the grant asked for.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(w, r)
	if oerr != nil {
		p.writeTokenError(w, oerr)
		return
	}
	c, oerr := p.authenticateClient(r, form)
	if oerr != nil {
		p.writeTokenError(w, oerr)
		return
	}
	grantType := form.Get("grant_type")
	var (
		resp *tokenResponse
		err  error
	)
	switch grantType {
	case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		if !c.allows(grantType) {
			p.writeTokenError(w, newError(errUnauthorizedClient, "this client may not use the "+grantType+" grant"))
			return
		}
	case "":
		p.writeTokenError(w, newError(errInvalidRequest, "grant_type is required"))
		return
	default:
		p.writeTokenError(w, newError(errUnsupportedGrantType, "grant_type must be authorization_code, refresh_token or client_credentials"))
		return
	}
	switch grantType {
	case GrantAuthorizationCode:
		resp, err = p.exchangeCode(r.Context(), c, form)
	case GrantRefreshToken:
		resp, err = p.refresh(r.Context(), c, form)
	case GrantClientCredentials:
		resp, err = p.clientCredentials(r.Context(), c, form)
	}
	if err != nil {
		oe, ok := errors.AsType[*oauthError](err)
		if !ok {
			p.log.Error("token endpoint failed", zap.String("client_id", c.ID), zap.String("grant_type", grantType), zap.Error(err))
			oe = serverError(err)
		}
		p.writeTokenError(w, oe)
		return
	}
	if p.tokensIssued != nil {
		p.tokensIssued(grantType)
	}
	noStore(w.Header())
	writeJSON(w, http.StatusOK, resp)
}

// readForm reads a POSTed form body (no query parameters) and refuses
// repeated parameters (RFC 6749 §3.2).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, &oauthError{code: errInvalidRequest, desc: "use POST", status: http.StatusMethodNotAllowed}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, newError(errInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, newError(errInvalidRequest, "the form could not be read")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			return nil, newError(errInvalidRequest, "parameter "+name+" is repeated")
		}
	}
	return r.PostForm, nil
}

// authenticateClient identifies the client by client_secret_basic,
// client_secret_post, or (public clients) client_id alone.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) (*Client, *oauthError) {
	var id, secret string
	user, pass, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		id, err1 = url.QueryUnescape(user)
		secret, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, newError(errInvalidClient, "the Authorization header could not be read")
		}
		if form.Has("client_secret") {
			return nil, newError(errInvalidRequest, "use one client authentication method, not two")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, newError(errInvalidRequest, "client_id does not match the Authorization header")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, newError(errInvalidClient, "client authentication is required")
	}
	c, err := p.clients.lookup(r.Context(), id)
	if err != nil {
		if !errors.Is(err, errUnknownClient) {
			p.log.Error("client lookup failed", zap.String("client_id", clip(id)), zap.Error(err))
			return nil, serverError(err)
		}
		return nil, newError(errInvalidClient, "unknown client or wrong secret")
	}
	if c.Public {
		if secret != "" {
			return nil, newError(errInvalidClient, "a public client has no secret")
		}
		return c, nil
	}
	if !c.checkSecret(secret) {
		p.log.Info("client authentication failed", zap.String("client_id", c.ID))
		return nil, newError(errInvalidClient, "unknown client or wrong secret")
	}
	return c, nil
}

// exchangeCode is the authorization_code grant (RFC 6749 §4.1.3, RFC 7636
// §4.6): the code is spent whatever happens next.
func (p *Provider) exchangeCode(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	code := form.Get("code")
	if code == "" {
		return nil, newError(errInvalidRequest, "code is required")
	}
	hash := hashOpaque(code)
	now := p.now()
	ac, err := p.store.ConsumeAuthCode(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		// Unknown, expired, or spent. If spent, whoever exchanged it
		// first may not be who we think: end what that exchange began.
		if err := p.store.RevokeRefreshFamily(context.WithoutCancel(ctx), familyOf(hash)); err != nil {
			p.log.Error("revoking the tokens of a replayed code failed", zap.Error(err))
		}
		return nil, newError(errInvalidGrant, "the code is invalid, expired or already used")
	}
	if err != nil {
		return nil, err
	}
	if ac.ClientID != c.ID {
		p.log.Warn("code presented by another client", zap.String("client_id", c.ID), zap.String("code_client_id", ac.ClientID))
		return nil, newError(errInvalidGrant, "the code was issued to another client")
	}
	if form.Get("redirect_uri") != ac.RedirectURI {
		return nil, newError(errInvalidGrant, "redirect_uri does not match the authorization request")
	}
	verifier := form.Get("code_verifier")
	switch {
	case ac.CodeChallenge == "" && verifier != "":
		// RFC 9700 §2.1.1: a verifier without a challenge is a downgrade.
		return nil, newError(errInvalidGrant, "code_verifier sent, but the authorization request had no code_challenge")
	case ac.CodeChallenge != "" && verifier == "":
		return nil, newError(errInvalidGrant, "code_verifier is required")
	case ac.CodeChallenge != "":
		sum := sha256.Sum256([]byte(verifier))
		if !verifierPattern.MatchString(verifier) || subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(ac.CodeChallenge)) != 1 {
			return nil, newError(errInvalidGrant, "code_verifier does not match the code_challenge")
		}
	}
	u, oerr := p.activeUser(ctx, ac.UserID, ac.AuthTime)
	if oerr != nil {
		return nil, oerr
	}
	g := grant{client: c, user: u, scopes: strings.Fields(ac.Scope), nonce: ac.Nonce, authTime: ac.AuthTime, amr: ac.AMR,
		family: familyOf(hash), source: trigger.SourceTokenHostedAuth}
	resp, err := p.mint(ctx, g)
	if err != nil {
		return nil, err
	}
	if c.allows(GrantRefreshToken) {
		rt := newOpaque()
		err := p.store.SaveRefreshToken(ctx, store.RefreshToken{
			Hash:      hashOpaque(rt),
			FamilyID:  familyOf(hash),
			ClientID:  c.ID,
			UserID:    u.ID,
			Scope:     ac.Scope,
			SessionID: ac.SessionID,
			AuthTime:  ac.AuthTime,
			AMR:       ac.AMR,
			IssuedAt:  now,
			Expires:   now.Add(c.RefreshTokenTTL),
			Grace:     c.RefreshTokenGrace,
		})
		if err != nil {
			return nil, err
		}
		resp.RefreshToken = rt
	}
	p.log.Info("tokens issued", zap.String("grant_type", GrantAuthorizationCode), zap.String("client_id", c.ID), zap.String("user_id", u.ID))
	return resp, nil
}

// refresh is the refresh_token grant (RFC 6749 §6). With the client's
// rotation on, the token presented is retired and a new one of the same
// family returned; a retired token presented again revokes the family,
// unless within the grace the token was issued with (a concurrent request of
// its holder), which gets a new token of the family too. With rotation off
// no refresh token is returned: the client keeps the one it has, as
// Cognito's clients do.
func (p *Provider) refresh(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, newError(errInvalidRequest, "refresh_token is required")
	}
	hash := hashOpaque(raw)
	now := p.now()
	old, err := p.store.RefreshTokenByHash(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		p.detectReuse(ctx, hash, now)
		return nil, newError(errInvalidGrant, "the refresh token is invalid, expired or revoked")
	}
	if err != nil {
		return nil, err
	}
	if old.ClientID != c.ID {
		p.log.Warn("refresh token presented by another client", zap.String("client_id", c.ID), zap.String("token_client_id", old.ClientID))
		return nil, newError(errInvalidGrant, "the refresh token was issued to another client")
	}
	granted := strings.Fields(old.Scope)
	scopes := granted
	if s := form.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(granted, sc) {
				return nil, newError(errInvalidScope, "scope "+clip(sc)+" was not granted to this refresh token")
			}
		}
	}
	u, oerr := p.activeUser(ctx, old.UserID, old.AuthTime)
	if oerr != nil {
		if err := p.store.RevokeRefreshFamily(context.WithoutCancel(ctx), old.FamilyID); err != nil {
			p.log.Error("revoking a refresh family failed", zap.Error(err))
		}
		return nil, oerr
	}
	g := grant{client: c, user: u, scopes: scopes, authTime: old.AuthTime, amr: old.AMR, family: old.FamilyID,
		source: trigger.SourceTokenRefresh}
	if !c.rotates() {
		return p.mint(ctx, g)
	}
	rt := newOpaque()
	next := *old
	next.Hash = hashOpaque(rt)
	next.IssuedAt = now
	// The grace is the client's now; the family keeps the expiry of its
	// first token: using a refresh token does not make the sign-in last
	// longer.
	next.Grace = c.RefreshTokenGrace
	_, err = p.store.RotateRefreshToken(ctx, hash, next, now)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		p.log.Warn("refresh token reused; its family is revoked", zap.String("client_id", c.ID), zap.String("user_id", old.UserID))
		return nil, newError(errInvalidGrant, "the refresh token was already used")
	case errors.Is(err, store.ErrNotFound):
		return nil, newError(errInvalidGrant, "the refresh token is invalid, expired or revoked")
	case err != nil:
		return nil, err
	}
	resp, err := p.mint(ctx, g)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = rt
	return resp, nil
}

// detectReuse is called for a refresh token that is not live. If it was
// retired (rotated before), presenting it again is what a thief's replay
// looks like: RotateRefreshToken revokes its family and reports reuse. The
// probe stored in its place never is: a token that is not live is never
// rotated.
func (p *Provider) detectReuse(ctx context.Context, hash string, now time.Time) {
	probe := store.RefreshToken{
		Hash:     hashOpaque(newOpaque()),
		FamilyID: "probe-" + newOpaque(),
		Expires:  now.Add(time.Minute),
	}
	_, err := p.store.RotateRefreshToken(context.WithoutCancel(ctx), hash, probe, now)
	if errors.Is(err, store.ErrTokenReused) {
		p.log.Warn("refresh token reused; its family is revoked")
	}
}

// clientCredentials is the client_credentials grant (RFC 6749 §4.4): a
// machine's access token for its custom scopes, with no user and no
// refresh token.
func (p *Provider) clientCredentials(ctx context.Context, c *Client, form url.Values) (*tokenResponse, error) {
	var scopes []string
	for _, s := range c.Scopes {
		if !slices.Contains(userScopes, s) {
			scopes = append(scopes, s)
		}
	}
	if s := form.Get("scope"); s != "" {
		asked := strings.Fields(s)
		for _, sc := range asked {
			if slices.Contains(userScopes, sc) {
				return nil, newError(errInvalidScope, "scope "+sc+" is about a user; a client_credentials token has none")
			}
			if !slices.Contains(scopes, sc) {
				return nil, newError(errInvalidScope, "this client may not ask for scope "+clip(sc))
			}
		}
		scopes = dedupe(asked)
	}
	if len(scopes) == 0 {
		return nil, newError(errInvalidScope, "this client has no custom scopes to grant")
	}
	resp, err := p.mint(ctx, grant{client: c, scopes: scopes, source: trigger.SourceTokenClientCredentials})
	if err != nil {
		return nil, err
	}
	p.log.Info("tokens issued", zap.String("grant_type", GrantClientCredentials), zap.String("client_id", c.ID))
	return resp, nil
}

// activeUser re-reads the user a grant is for: one deleted, disabled, or
// signed out everywhere since authTime gets no more tokens.
func (p *Provider) activeUser(ctx context.Context, id string, authTime time.Time) (*store.User, *oauthError) {
	u, err := p.pool.User(ctx, id)
	if errors.Is(err, pool.ErrUserNotFound) {
		return nil, newError(errInvalidGrant, "the user no longer exists")
	}
	if err != nil {
		p.log.Error("reading the user failed", zap.String("user_id", id), zap.Error(err))
		return nil, serverError(err)
	}
	if !u.Enabled {
		return nil, newError(errInvalidGrant, "the user is disabled")
	}
	if p.pool.DenyList().Revoked("", id, authTime) {
		return nil, newError(errInvalidGrant, "the user's sessions were revoked after this sign-in")
	}
	return u, nil
}

func dedupe(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// clip bounds what a client sent before it goes into a log line or an
// error description.
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}
