package oidc

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// revoke is the revocation endpoint (RFC 7009). A refresh token takes its
// whole family with it. Access and ID tokens are signed JWTs that expire on
// their own; they cannot be revoked here (unsupported_token_type). Tokens
// that are not ours, or already dead, are answered 200 as §2.2 requires.
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
			p.writeTokenError(w, newError(errServerError, "the server could not complete the request"))
			return
		}
		p.log.Info("refresh token revoked", zap.String("client_id", c.ID), zap.String("user_id", rt.UserID))
	case errors.Is(err, store.ErrNotFound):
		if _, err := p.parseOwn(ctx, tok, true); err == nil {
			p.writeTokenError(w, newError(errUnsupportedTokenType, "access and ID tokens cannot be revoked; they expire on their own"))
			return
		}
		// A retired refresh token: its family is what the client wants
		// gone, and reuse detection does exactly that.
		p.detectReuse(ctx, hash, now)
	default:
		p.log.Error("reading a refresh token failed", zap.Error(err))
		p.writeTokenError(w, newError(errServerError, "the server could not complete the request"))
		return
	}
	noStore(w.Header())
	w.WriteHeader(http.StatusOK)
}
