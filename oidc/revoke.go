package oidc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// revoke is the revocation endpoint (RFC 7009). A refresh token takes its
// whole family with it. An access token goes on the pool's deny list by its
// jti until it expires, so userinfo and every gateway's bearer check refuse
// it (a client signing out revokes it, as oidc-client-ts does with
// revokeTokensOnSignout).
// ID tokens are not credentials for anything here; they cannot be revoked
// (unsupported_token_type). Tokens that are not ours, or already dead, are
// answered 200 as §2.2 requires.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
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
	tok := form.Get("token")
	if tok == "" {
		p.writeTokenError(w, newError(errInvalidRequest, "token is required"))
		return
	}
	ctx := r.Context()
	now := p.now()
	hash := hashOpaque(tok)
	rt, err := p.store.RefreshTokenByHash(ctx, hash, now)
	switch {
	case err == nil:
		if rt.ClientID != c.ID {
			p.writeTokenError(w, newError(errUnauthorizedClient, "the token was issued to another client"))
			return
		}
		if err := p.store.RevokeRefreshFamily(ctx, rt.FamilyID); err != nil {
			p.log.Error("revoking a refresh family failed", zap.Error(err))
			p.writeTokenError(w, serverError(err))
			return
		}
		p.log.Info("refresh token revoked", zap.String("client_id", c.ID), zap.String("user_id", rt.UserID))
	case errors.Is(err, store.ErrNotFound):
		if claims, err := p.parseOwn(ctx, tok, true); err == nil {
			if oerr := p.revokeAccessToken(ctx, c, claims); oerr != nil {
				p.writeTokenError(w, oerr)
				return
			}
			break
		}
		// A retired refresh token: its family is what the client wants
		// gone, and reuse detection does exactly that.
		p.detectReuse(ctx, hash, now)
	default:
		p.log.Error("reading a refresh token failed", zap.Error(err))
		p.writeTokenError(w, serverError(err))
		return
	}
	noStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// accessRevocationMargin keeps a revoked access token's deny-list entry a
// while past its exp, beyond the clock skew any verifier allows.
const accessRevocationMargin = 5 * time.Minute

// revokeAccessToken revokes one of our signed tokens, claims already
// verified: an access token of client c goes on the deny list; an ID token
// cannot be revoked.
func (p *Provider) revokeAccessToken(ctx context.Context, c *Client, claims jwt.MapClaims) *oauthError {
	if claims["token_use"] != useAccess {
		return newError(errUnsupportedTokenType, "ID tokens cannot be revoked; they expire on their own")
	}
	if cid, _ := claims["client_id"].(string); cid != c.ID {
		return newError(errUnauthorizedClient, "the token was issued to another client")
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil || !exp.Add(accessRevocationMargin).After(p.now()) {
		return nil // dead already
	}
	jti, _ := claims["jti"].(string)
	if err := p.pool.RevokeAccessToken(ctx, jti, exp.Add(accessRevocationMargin)); err != nil {
		p.log.Error("revoking an access token failed", zap.Error(err))
		return serverError(err)
	}
	sub, _ := claims["sub"].(string)
	p.log.Info("access token revoked", zap.String("client_id", c.ID), zap.String("user_id", sub))
	return nil
}
