package oidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// This file is the provider's narrow way in for another front of the pool
// (the Cognito user-pool API, package cognito): the same tokens as
// /oauth2/token, minted by the same mint, for a sign-in that front ran on
// the pool's sign-in machine.

// ScopeCognitoAdmin is the scope Cognito puts in every access token the
// user-pool API issues: it lets the token call the API's user actions
// (GetUser, ChangePassword, ...).
const ScopeCognitoAdmin = "aws.cognito.signin.user.admin"

// ErrUnknownClient means no client has the id asked for.
var ErrUnknownClient = errUnknownClient

// ErrInvalidGrant refuses a refresh token that is unknown, expired,
// revoked, reused, another client's, or whose user may no longer sign in.
var ErrInvalidGrant = errors.New("the refresh token is invalid, expired or revoked")

// ErrInvalidToken refuses an access token: not ours, expired, revoked,
// not an access token, or its user signed out everywhere since.
var ErrInvalidToken = errors.New("the access token is invalid, expired or revoked")

// Tokens is what IssueTokens and RefreshTokens return.
type Tokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
	TokenType    string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64
}

// Client returns the app client with that id (the Caddyfile's, else a
// stored one), ErrUnknownClient, or a store error.
func (p *Provider) Client(ctx context.Context, id string) (*Client, error) {
	return p.clients.lookup(ctx, id)
}

// CheckSecret reports, in constant time, whether secret is the client's.
func (c *Client) CheckSecret(secret string) bool { return c.checkSecret(secret) }

// ClearSecret returns the secret of a confidential Caddyfile client, which
// keyed hashes (Cognito's SECRET_HASH) need; a stored client's secret is
// kept only as a digest, so ok is false for it and for a public client.
func (c *Client) ClearSecret() (secret string, ok bool) { return c.Secret, !c.Public && c.Secret != "" }

// IssueTokens mints the tokens of a finished sign-in of user u at client
// c (AMR and authTime as the sign-in machine gave them): an access token
// with the client's user scopes and ScopeCognitoAdmin, an ID token, and a
// refresh token when the client may refresh.
func (p *Provider) IssueTokens(ctx context.Context, c *Client, u *store.User, amr []string, authTime time.Time) (*Tokens, error) {
	scopes := []string{}
	for _, s := range c.Scopes {
		if slices.Contains(userScopes, s) && s != "offline_access" {
			scopes = append(scopes, s)
		}
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	scopes = append(scopes, ScopeCognitoAdmin)
	// The sign-in's refresh family names it: its tokens' origin_jti and
	// event_id, and those of every refresh of it (the family is kept).
	family := "api-" + newOpaque()
	resp, err := p.mint(ctx, grant{client: c, user: u, scopes: scopes, authTime: authTime, amr: amr, family: family,
		source: trigger.SourceTokenAuthentication})
	if err != nil {
		return nil, err
	}
	out := tokensOf(resp)
	if c.allows(GrantRefreshToken) {
		rt, now := newOpaque(), p.now()
		err := p.store.SaveRefreshToken(ctx, store.RefreshToken{
			Hash:      hashOpaque(rt),
			FamilyID:  family,
			ClientID:  c.ID,
			UserID:    u.ID,
			Scope:     strings.Join(scopes, " "),
			SessionID: "api:" + uuid.NewString(),
			AuthTime:  authTime,
			AMR:       amr,
			IssuedAt:  now,
			Expires:   now.Add(c.RefreshTokenTTL),
			Grace:     c.RefreshTokenGrace,
		})
		if err != nil {
			return nil, err
		}
		out.RefreshToken = rt
	}
	p.log.Info("tokens issued", zap.String("grant_type", "api"), zap.String("client_id", c.ID), zap.String("user_id", u.ID))
	return out, nil
}

// RefreshTokens is the refresh_token grant for client c, as /oauth2/token
// runs it (the client's rotation, its grace and reuse detection
// included): with rotation on Tokens.RefreshToken is the token to use
// next; with it off it is empty, and the client keeps the one it has, as
// Cognito's REFRESH_TOKEN_AUTH answers. Refusals are ErrInvalidGrant; the user the token
// was for comes back too, for the caller's checks and logs.
func (p *Provider) RefreshTokens(ctx context.Context, c *Client, refreshToken string) (*Tokens, error) {
	if refreshToken == "" || len(refreshToken) > 512 {
		return nil, ErrInvalidGrant
	}
	resp, err := p.refresh(ctx, c, map[string][]string{"refresh_token": {refreshToken}})
	if err != nil {
		if _, ok := errors.AsType[*oauthError](err); ok {
			return nil, ErrInvalidGrant
		}
		return nil, err
	}
	return tokensOf(resp), nil
}

// RefreshTokenUser returns the id of the user a live refresh token of
// client c is for, without using it (for a keyed hash over the username
// before the refresh); ErrInvalidGrant otherwise.
func (p *Provider) RefreshTokenUser(ctx context.Context, c *Client, refreshToken string) (string, error) {
	rt, err := p.store.RefreshTokenByHash(ctx, hashOpaque(refreshToken), p.now())
	if errors.Is(err, store.ErrNotFound) || err == nil && rt.ClientID != c.ID {
		return "", ErrInvalidGrant
	}
	if err != nil {
		return "", err
	}
	return rt.UserID, nil
}

// RevokeRefreshToken revokes the family of a refresh token of client c
// (Cognito's RevokeToken); a token that is not live, or another client's,
// is ErrInvalidGrant.
func (p *Provider) RevokeRefreshToken(ctx context.Context, c *Client, refreshToken string) error {
	rt, err := p.store.RefreshTokenByHash(ctx, hashOpaque(refreshToken), p.now())
	if errors.Is(err, store.ErrNotFound) || err == nil && rt.ClientID != c.ID {
		return ErrInvalidGrant
	}
	if err != nil {
		return err
	}
	return p.store.RevokeRefreshFamily(ctx, rt.FamilyID)
}

// AccessToken is a verified access token.
type AccessToken struct {
	UserID   string
	ClientID string
	JTI      string
	Scopes   []string
	AuthTime time.Time
	Expires  time.Time
}

// VerifyAccessToken checks an access token as the gateway checks a bearer
// token of the pool: signed by the pool's keys for this issuer, not
// expired, token_use access, about a user, not on the deny list (neither
// the token's jti nor a sign-out of its user since its auth_time).
func (p *Provider) VerifyAccessToken(ctx context.Context, raw string) (*AccessToken, error) {
	claims, err := p.parseOwn(ctx, raw, false)
	if err != nil {
		return nil, ErrInvalidToken
	}
	use, _ := claims["token_use"].(string)
	sub, _ := claims["sub"].(string)
	cid, _ := claims["client_id"].(string)
	jti, _ := claims["jti"].(string)
	scope, _ := claims["scope"].(string)
	at, _ := claims["auth_time"].(float64)
	exp, _ := claims["exp"].(float64)
	_, hasUser := claims["username"]
	if use != useAccess || sub == "" || jti == "" || !hasUser {
		return nil, ErrInvalidToken
	}
	authTime := time.Unix(int64(at), 0)
	deny := p.pool.DenyList()
	if deny.Revoked(store.AccessTokenRevocationID(jti), "", time.Time{}) || deny.Revoked("", sub, authTime) {
		return nil, ErrInvalidToken
	}
	return &AccessToken{UserID: sub, ClientID: cid, JTI: jti, Scopes: strings.Fields(scope),
		AuthTime: authTime, Expires: time.Unix(int64(exp), 0)}, nil
}

func tokensOf(r *tokenResponse) *Tokens {
	return &Tokens{AccessToken: r.AccessToken, IDToken: r.IDToken, RefreshToken: r.RefreshToken,
		TokenType: r.TokenType, ExpiresIn: r.ExpiresIn}
}

// Username is u's Cognito username, as tokens carry it: the user's id, or
// "<provider>_<subject>" for a user an outside provider created.
func Username(u *store.User) string { return username(u) }
