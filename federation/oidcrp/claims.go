package oidcrp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/middleware"
)

// claims are the user claims a session is made of, from a verified ID token
// and, where it lacks them, the userinfo endpoint.
type claims struct {
	sub           string
	nonce         string
	email         string
	emailVerified bool
	name          string
	groups        []string
	amr           []string
	authTime      time.Time
}

// idTokenClaims is the JSON of the claims read beyond what go-oidc checks.
// Issuers differ in types: Cognito sends email_verified as "true", some
// send a single group as a string.
type idTokenClaims struct {
	Subject       string      `json:"sub"`
	Email         string      `json:"email"`
	EmailVerified flexBool    `json:"email_verified"`
	Name          string      `json:"name"`
	Groups        flexStrings `json:"groups"`
	CognitoGroups flexStrings `json:"cognito:groups"`
	AMR           flexStrings `json:"amr"`
	AuthTime      float64     `json:"auth_time"`
}

func (j *idTokenClaims) claims() *claims {
	c := &claims{
		sub:           j.Subject,
		email:         j.Email,
		emailVerified: bool(j.EmailVerified),
		name:          j.Name,
		groups:        j.Groups,
		amr:           j.AMR,
	}
	if c.groups == nil {
		c.groups = j.CognitoGroups
	}
	if j.AuthTime > 0 {
		c.authTime = time.Unix(int64(j.AuthTime), 0)
	}
	return c
}

// verifyIDToken verifies the ID token of a token response with go-oidc
// (signature by the issuer's keys, iss, aud = client id, exp) and, when the
// token carries at_hash, that it belongs with the access token. It returns
// nil, nil when the response has no ID token.
func (rp *RP) verifyIDToken(ctx context.Context, tok *oauth2.Token) (*claims, error) {
	idt, err := rp.oc.VerifyIDToken(ctx, tok)
	if err != nil || idt == nil {
		return nil, err
	}
	var j idTokenClaims
	if err := idt.Claims(&j); err != nil {
		return nil, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	c := j.claims()
	c.nonce = idt.Nonce
	return c, nil
}

// completeFromUserInfo fills in what an ID token without an email lacks
// (issuers that put only sub in it) from the userinfo endpoint, whose sub
// must be the ID token's.
func (rp *RP) completeFromUserInfo(ctx context.Context, tok *oauth2.Token, c *claims) error {
	if c.email != "" {
		return nil
	}
	ui, err := rp.oc.UserInfo(ctx, tok, c.sub)
	if err != nil || ui == nil {
		return err
	}
	var j idTokenClaims
	if err := ui.Claims(&j); err != nil {
		return fmt.Errorf("reading userinfo: %w", err)
	}
	u := j.claims()
	c.email, c.emailVerified = u.email, u.emailVerified
	if c.name == "" {
		c.name = u.name
	}
	if c.groups == nil {
		c.groups = u.groups
	}
	return nil
}

// identity makes the gateway's identity of verified claims and the tokens
// that came with them.
func (rp *RP) identity(c *claims, tok *oauth2.Token) *middleware.Identity {
	return &middleware.Identity{
		Subject:       c.sub,
		Email:         c.email,
		EmailVerified: c.emailVerified,
		Name:          c.name,
		Groups:        c.groups,
		AMR:           c.amr,
		AuthTime:      c.authTime,
		AccessToken:   tok.AccessToken,
		RefreshToken:  tok.RefreshToken,
		RefreshBy:     refreshBy(rp.now(), tok),
	}
}

// refreshBy is when a session holding tok must be refreshed: a little before
// the access token expires (a quarter of its life, at most 30 s), so that an
// upstream never gets an expired one. Zero when there is nothing to refresh
// with or no expiry was given.
func refreshBy(now time.Time, tok *oauth2.Token) time.Time {
	if tok.RefreshToken == "" || tok.Expiry.IsZero() {
		return time.Time{}
	}
	life := tok.Expiry.Sub(now)
	if life < 4*time.Second {
		// Refreshing sooner would mean refreshing on every request.
		return now.Add(max(life, time.Second))
	}
	return tok.Expiry.Add(-min(30*time.Second, life/4))
}

// flexBool reads true, false, "true" and "false".
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(bytes.TrimSpace(data)) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

// flexStrings reads a JSON array of strings, or one string as a list of
// one; other array members are skipped.
type flexStrings []string

func (s *flexStrings) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []any
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("not a string or a list of strings: %s", data)
	}
	out := make([]string, 0, len(many))
	for _, v := range many {
		if str, ok := v.(string); ok {
			out = append(out, str)
		}
	}
	*s = out
	return nil
}
