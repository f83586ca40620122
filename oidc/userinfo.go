package oidc

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// userInfo is the userinfo endpoint (OpenID Connect Core §5.3): the claims
// about the user an access token's scopes allow, read fresh from the pool.
func (p *Provider) userInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		noStore(w.Header())
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": errInvalidRequest, "error_description": "use GET or POST"})
		return
	}
	tok, ok := bearerToken(w, r)
	if !ok {
		// RFC 6750 §3.1: a request without a token gets no error code.
		p.writeBearerError(w, &oauthError{desc: "an access token is required", status: http.StatusUnauthorized})
		return
	}
	claims, err := p.parseOwn(r.Context(), tok, false)
	if err != nil || claims["token_use"] != useAccess {
		p.writeBearerError(w, newError(errInvalidToken, "the access token is invalid or expired"))
		return
	}
	// A gateway's session token (sid) ends with its session.
	if sid, _ := claims["sid"].(string); sid != "" && p.pool.DenyList().Revoked(sid, "", time.Time{}) {
		p.writeBearerError(w, newError(errInvalidToken, "the access token's session has ended"))
		return
	}
	if jti, _ := claims["jti"].(string); jti != "" && p.pool.DenyList().Revoked(store.AccessTokenRevocationID(jti), "", time.Time{}) {
		p.writeBearerError(w, newError(errInvalidToken, "the access token was revoked"))
		return
	}
	scope, _ := claims["scope"].(string)
	scopes := strings.Fields(scope)
	if !slices.Contains(scopes, "openid") {
		p.writeBearerError(w, newError(errInsufficientScope, "the access token lacks the openid scope"))
		return
	}
	sub, _ := claims["sub"].(string)
	authTime, _ := claims["auth_time"].(float64)
	u, oerr := p.activeUser(r.Context(), sub, time.Unix(int64(authTime), 0))
	if oerr != nil {
		if oerr.status >= http.StatusInternalServerError {
			p.writeBearerError(w, oerr)
			return
		}
		p.writeBearerError(w, newError(errInvalidToken, oerr.desc))
		return
	}
	out := userClaims(u, scopes)
	out["sub"] = u.ID
	out["username"] = username(u)
	noStore(w.Header())
	writeJSON(w, http.StatusOK, out)
}

// bearerToken reads the access token from the Authorization header, or from
// a POSTed form's access_token (RFC 6750 §2.1, §2.2).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if r.ParseForm() == nil && len(r.PostForm["access_token"]) == 1 {
			tok := r.PostForm.Get("access_token")
			return tok, tok != ""
		}
	}
	return "", false
}
