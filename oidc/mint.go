package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Token use values, as Cognito labels its tokens.
const (
	useID     = "id"
	useAccess = "access"
)

// profileAttributes are the OpenID Connect profile claims a user's
// attributes may hold (besides name, which the user record holds).
var profileAttributes = []string{
	"given_name", "family_name", "middle_name", "nickname", "preferred_username",
	"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
}

// grant is what a token response is minted from: the client, and for a
// user's tokens who signed in, when and how.
type grant struct {
	client *Client
	// user is nil for a client_credentials grant.
	user     *store.User
	scopes   []string
	nonce    string
	authTime time.Time
	amr      []string
	// family is the refresh token family of the sign-in the tokens come
	// from (the same across its refreshes), from which its origin_jti and
	// event_id are derived; empty: a new pair for these tokens alone.
	family string
	// source is the pre token generation hook's trigger source: how the
	// tokens were asked for.
	source string
}

// tokenResponse is the token endpoint's success body (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// mint signs the access token and, for a user grant with the openid scope,
// the ID token. Every token the provider signs is made here.
func (p *Provider) mint(ctx context.Context, g grant) (*tokenResponse, error) {
	if err := p.keys.Maintain(context.WithoutCancel(ctx)); err != nil {
		p.log.Warn("signing key maintenance failed; signing with the key loaded", zap.Error(err))
	}
	key := p.keys.CurrentFor(g.client.SigningAlg)
	if key == nil {
		return nil, fmt.Errorf("oidc: no %s signing key", g.client.SigningAlg)
	}
	// The hook is asked before anything is signed, so that every token,
	// from /oauth2/token and from the Cognito API alike, carries its
	// changes.
	var groups []string
	if g.user != nil {
		groups = g.user.Groups
	}
	changes, err := p.pool.PreTokenGeneration(ctx, pool.TokenRequest{Source: g.source, ClientID: g.client.ID,
		User: g.user, Scopes: g.scopes, Groups: groups})
	if err != nil {
		return nil, err
	}
	accessScopes := g.scopes
	if changes != nil {
		if changes.Groups != nil {
			groups = changes.Groups
		}
		accessScopes = changeScopes(g.scopes, changes.ScopesToAdd, changes.ScopesToSuppress)
	}
	now := p.now()
	scope := strings.Join(accessScopes, " ")
	access := map[string]any{
		"iss":       p.issuer,
		"client_id": g.client.ID,
		"scope":     scope,
		"token_use": useAccess,
		"jti":       uuid.NewString(),
		"iat":       now.Unix(),
		"exp":       now.Add(g.client.AccessTokenTTL).Unix(),
		"version":   accessTokenVersion,
	}
	originJTI, eventID := signInIDs(g.family)
	if g.user != nil {
		access["origin_jti"] = originJTI
		access["event_id"] = eventID
	}
	if g.user == nil {
		access["sub"] = g.client.ID
		access["auth_time"] = now.Unix()
	} else {
		access["sub"] = g.user.ID
		access["username"] = username(g.user)
		access["auth_time"] = g.authTime.Unix()
		addGroups(access, groups)
	}
	if changes != nil {
		changeClaims(access, changes.AccessClaims, changes.AccessSuppress)
	}
	at, err := sign(key, access)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: at,
		TokenType:   "Bearer",
		ExpiresIn:   int64(g.client.AccessTokenTTL / time.Second),
		Scope:       scope,
	}
	if g.user == nil || !slices.Contains(g.scopes, "openid") {
		return resp, nil
	}
	id := userClaims(g.user, g.scopes)
	id["iss"] = p.issuer
	id["sub"] = g.user.ID
	id["aud"] = g.client.ID
	id["token_use"] = useID
	id["cognito:username"] = username(g.user)
	if len(g.user.Identities) > 0 {
		id["identities"] = identitiesClaim(g.user.Identities)
	}
	id["auth_time"] = g.authTime.Unix()
	id["iat"] = now.Unix()
	id["exp"] = now.Add(g.client.IDTokenTTL).Unix()
	id["jti"] = uuid.NewString()
	id["origin_jti"] = originJTI
	id["event_id"] = eventID
	id["at_hash"] = leftHalfHash(at)
	amr := g.amr
	if amr == nil {
		amr = []string{}
	}
	id["amr"] = amr
	if g.nonce != "" {
		id["nonce"] = g.nonce
	}
	addGroups(id, groups)
	if changes != nil {
		changeClaims(id, changes.IDClaims, changes.IDSuppress)
	}
	if resp.IDToken, err = sign(key, id); err != nil {
		return nil, err
	}
	return resp, nil
}

// changeScopes is scopes with the hook's additions and suppressions.
func changeScopes(scopes, add, suppress []string) []string {
	out := make([]string, 0, len(scopes)+len(add))
	for _, s := range append(slices.Clone(scopes), add...) {
		if !slices.Contains(suppress, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// changeClaims applies the hook's claims to claims: suppressions first,
// then additions (pool.TokenChanges holds no protected claim).
func changeClaims(claims, add map[string]any, suppress []string) {
	for _, c := range suppress {
		delete(claims, c)
	}
	for k, v := range add {
		claims[k] = v
	}
}

// accessTokenVersion is the version claim of Cognito's access tokens.
const accessTokenVersion = 2

// signInIDs are a sign-in's origin_jti (what Cognito revokes a refresh
// token's access and ID tokens by) and event_id (the authentication event),
// as Cognito writes them: UUIDs, the same in every token of one sign-in,
// refreshes included. They are derived from the sign-in's refresh family
// (one way: they reveal nothing of it), so nothing more is stored; with no
// family, both are new.
func signInIDs(family string) (originJTI, eventID string) {
	if family == "" {
		return uuid.NewString(), uuid.NewString()
	}
	return uuid.NewSHA1(signInIDSpace, []byte("origin_jti\x00"+family)).String(),
		uuid.NewSHA1(signInIDSpace, []byte("event_id\x00"+family)).String()
}

// signInIDSpace is the name space of signInIDs' UUIDs (version 5).
var signInIDSpace = uuid.MustParse("5d1f0d3c-8a47-4a0e-9a53-6f0c1f3b9e21")

// addGroups adds the user's groups under both names relying parties look
// for: "groups", always, and Cognito's "cognito:groups" when there are any.
func addGroups(claims map[string]any, groups []string) {
	if groups == nil {
		groups = []string{}
	}
	claims["groups"] = groups
	if len(groups) > 0 {
		claims["cognito:groups"] = groups
	}
}

// username is the user's Cognito username: for a user a provider created
// (EXTERNAL_PROVIDER), "<provider>_<subject>" of the identity they were
// created from (the oldest left, once that one is unlinked); for everyone
// else, the user's id.
func username(u *store.User) string {
	if u.Status != store.StatusExternalProvider || len(u.Identities) == 0 {
		return u.ID
	}
	id := u.Identities[0]
	for _, i := range u.Identities {
		if i.Primary {
			id = i
			break
		}
	}
	return id.Provider + "_" + id.Subject
}

// identityClaim is one entry of Cognito's identities claim, written as
// Cognito writes it: primary a string, dateCreated epoch milliseconds as a
// string, issuer null when the provider has none.
type identityClaim struct {
	UserID       string  `json:"userId"`
	ProviderName string  `json:"providerName"`
	ProviderType string  `json:"providerType"`
	Issuer       *string `json:"issuer"`
	Primary      string  `json:"primary"`
	DateCreated  string  `json:"dateCreated"`
}

func identitiesClaim(ids []store.Identity) []identityClaim {
	out := make([]identityClaim, len(ids))
	for i, id := range ids {
		out[i] = identityClaim{
			UserID:       id.Subject,
			ProviderName: id.Provider,
			ProviderType: id.ProviderType,
			Primary:      strconv.FormatBool(id.Primary),
			DateCreated:  strconv.FormatInt(id.CreatedAt.UnixMilli(), 10),
		}
		if id.Issuer != "" {
			out[i].Issuer = &id.Issuer
		}
	}
	return out
}

// userClaims are the claims about u that scopes allow (OpenID Connect Core
// §5.4), shared by the ID token and the userinfo endpoint.
func userClaims(u *store.User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "email") {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		if u.Name != "" {
			c["name"] = u.Name
		}
		for _, a := range profileAttributes {
			if v := u.Attributes[a]; v != "" {
				c[a] = v
			}
		}
		for a, v := range u.Attributes {
			if strings.HasPrefix(a, "custom:") {
				c[a] = v
			}
		}
		if !u.UpdatedAt.IsZero() {
			c["updated_at"] = u.UpdatedAt.Unix()
		}
	}
	if slices.Contains(scopes, "phone") {
		if v := u.Attributes["phone_number"]; v != "" {
			c["phone_number"] = v
			c["phone_number_verified"] = u.Attributes["phone_number_verified"] == "true"
		}
	}
	return c
}

// sign makes a compact JWT of claims with key, its kid in the header.
func sign(key *signing.Key, claims map[string]any) (string, error) {
	var (
		method jwt.SigningMethod
		priv   any
	)
	switch key.Alg {
	case signing.ES256:
		method, priv = jwt.SigningMethodES256, key.Private
	case signing.RS256:
		method, priv = jwt.SigningMethodRS256, key.RSA
	default:
		return "", fmt.Errorf("oidc: cannot sign with %q", key.Alg)
	}
	t := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	t.Header["kid"] = key.ID
	s, err := t.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("oidc: signing a token: %w", err)
	}
	return s, nil
}

// leftHalfHash is OpenID Connect's at_hash of a token signed with a
// SHA-256 algorithm (ES256, RS256).
func leftHalfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64(sum[:len(sum)/2])
}

// errNotOurs means a JWT was not signed by this provider's keys for this
// issuer, or is malformed.
var errNotOurs = errors.New("not a token of this issuer")

// parseOwn verifies a JWT this provider signed (signature, algorithm of its
// key, issuer, and unless ignoreExpiry the expiry) and returns its claims.
func (p *Provider) parseOwn(ctx context.Context, raw string, ignoreExpiry bool) (jwt.MapClaims, error) {
	if len(raw) > 16<<10 {
		return nil, errNotOurs
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{signing.ES256, signing.RS256}),
		jwt.WithTimeFunc(p.now),
	}
	if ignoreExpiry {
		opts = append(opts, jwt.WithoutClaimsValidation())
	} else {
		opts = append(opts, jwt.WithExpirationRequired(), jwt.WithIssuer(p.issuer))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := p.keys.Find(ctx, kid)
		if !ok || t.Method.Alg() != k.Alg {
			return nil, errNotOurs
		}
		if k.RSA != nil {
			return &k.RSA.PublicKey, nil
		}
		return &k.Private.PublicKey, nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotOurs, err)
	}
	if iss, _ := claims["iss"].(string); iss != p.issuer {
		return nil, errNotOurs
	}
	return claims, nil
}

// newOpaque returns a new authorization code or refresh token: 32 random
// bytes, base64url.
func newOpaque() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the program instead
	return b64(b)
}

// hashOpaque is how a code or refresh token is kept in the store: a copy of
// the database holds nothing usable.
func hashOpaque(v string) string {
	sum := sha256.Sum256([]byte(v))
	return b64(sum[:])
}

// familyOf names the refresh token family an authorization code starts, so
// that a replayed code can revoke what its first exchange issued (RFC 6749
// §4.1.2) without the store remembering spent codes.
func familyOf(codeHash string) string {
	sum := sha256.Sum256([]byte("refresh family\x00" + codeHash))
	return b64(sum[:])
}

func b64(b []byte) string                { return base64.RawURLEncoding.EncodeToString(b) }
func decodeB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
