package facebook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/internal/oauthcall"
)

// connector is an opened Facebook provider.
type connector struct {
	info              federation.Info
	clientID, secret  string
	scopes            []string
	dialog, token, me string
	fields            string
	issuer            string
	mapping           federation.Mapping
	client            *http.Client
	logger            *zap.Logger
}

func (c *connector) Info() federation.Info { return c.info }

// Begin returns Facebook's login dialog URL for req.
func (c *connector) Begin(_ context.Context, req federation.Request) (federation.Start, error) {
	if err := oauthcall.CheckRequest(req); err != nil {
		return federation.Start{}, fmt.Errorf("facebook %s: %w", c.info.Name, err)
	}
	q := url.Values{
		"client_id":             {c.clientID},
		"redirect_uri":          {req.RedirectURI},
		"state":                 {req.State},
		"response_type":         {"code"},
		"scope":                 {strings.Join(c.scopes, ",")},
		"code_challenge":        {oauthcall.Challenge(req.Verifier)},
		"code_challenge_method": {"S256"},
	}
	return federation.Start{URL: c.dialog + "?" + q.Encode()}, nil
}

// Complete checks Facebook's answer, exchanges the code and reads /me.
func (c *connector) Complete(ctx context.Context, cb federation.Callback) (*federation.Identity, error) {
	p := cb.Params
	if err := oauthcall.CheckState(p.Get("state"), cb.Request.State); err != nil {
		return nil, err
	}
	if e := p.Get("error"); e != "" {
		if e == "access_denied" {
			return nil, fmt.Errorf("%w: Facebook: %s (%s)", federation.ErrDenied, e, p.Get("error_reason"))
		}
		return nil, federation.Invalid("Facebook answered %q: %s", e, p.Get("error_description"))
	}
	code := p.Get("code")
	if code == "" {
		return nil, federation.Invalid("Facebook's answer has no code")
	}
	token, err := c.exchange(ctx, code, cb.Request)
	if err != nil {
		return nil, err
	}
	claims, err := c.profile(ctx, token)
	if err != nil {
		return nil, err
	}
	id, _ := claims["id"].(string)
	if id == "" || strings.Trim(id, "0123456789") != "" {
		return nil, federation.Invalid("Facebook's user has no id")
	}
	email, _ := claims["email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") {
		email = ""
	}
	delete(claims, "email")
	return &federation.Identity{
		Provider:      c.info.Name,
		Type:          c.info.Type,
		Issuer:        c.issuer,
		Subject:       id,
		Email:         email,
		EmailVerified: email != "", // Facebook returns only an address it has confirmed
		Attributes:    c.mapping.Apply(claims),
	}, nil
}

// graphError is the Graph API's error answer.
type graphError struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
		Subcode int    `json:"error_subcode"`
	} `json:"error"`
}

// classify turns a Graph API refusal into federation's errors: its
// throttles and service errors are outages, anything else (a used or
// wrong code, a bad token) is an invalid answer.
func classify(what string, se *oauthcall.StatusError) error {
	var ge graphError
	if json.Unmarshal(se.Body, &ge) != nil || ge.Error == nil {
		return federation.Invalid("%s: Facebook answered HTTP %d", what, se.Status)
	}
	switch ge.Error.Code {
	// Not 1 ("unknown"): Facebook also answers a wrong app secret with it.
	case 2, 4, 17, 32, 341, 613: // service unavailable, and the rate limits
		return fmt.Errorf("%w: %s: Facebook error %d: %s", federation.ErrUnavailable, what, ge.Error.Code, ge.Error.Message)
	}
	return federation.Invalid("%s: Facebook error %d/%d: %s", what, ge.Error.Code, ge.Error.Subcode, ge.Error.Message)
}

func (c *connector) exchange(ctx context.Context, code string, req federation.Request) (string, error) {
	// POSTed, so that the secret is in no URL an access log keeps.
	form := url.Values{
		"client_id":     {c.clientID},
		"client_secret": {c.secret},
		"redirect_uri":  {req.RedirectURI},
		"code":          {code},
		"code_verifier": {req.Verifier},
	}
	hr, err := oauthcall.NewRequest(ctx, http.MethodPost, c.token, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, _, err := oauthcall.Do(c.client, hr)
	var se *oauthcall.StatusError
	if errors.As(err, &se) {
		err = classify("the code exchange", se)
		var ge graphError
		if json.Unmarshal(se.Body, &ge) == nil && ge.Error != nil && ge.Error.Code == 101 {
			// 101: the app ID or secret is wrong, the operator's to fix.
			c.logger.Error("Facebook refused the provider's app credentials", zap.String("provider", c.info.Name))
		}
		return "", err
	}
	if err != nil {
		return "", err
	}
	var ans struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := oauthcall.DecodeJSON("Facebook's token answer", body, &ans); err != nil {
		return "", err
	}
	if ans.AccessToken == "" || ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer") {
		return "", federation.Invalid("Facebook's token answer has no bearer token")
	}
	return ans.AccessToken, nil
}

// profile reads /me with the fields the mapping needs, and flattens the
// picture to its URL.
func (c *connector) profile(ctx context.Context, token string) (map[string]any, error) {
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write([]byte(token))
	q := url.Values{"fields": {c.fields}, "appsecret_proof": {hex.EncodeToString(mac.Sum(nil))}}
	hr, err := oauthcall.NewRequest(ctx, http.MethodGet, c.me+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	body, _, err := oauthcall.Do(c.client, hr)
	var se *oauthcall.StatusError
	if errors.As(err, &se) {
		return nil, classify("reading the profile", se)
	}
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := oauthcall.DecodeJSON("Facebook's profile", body, &claims); err != nil {
		return nil, err
	}
	if pic, ok := claims["picture"].(map[string]any); ok {
		delete(claims, "picture")
		if data, ok := pic["data"].(map[string]any); ok {
			if u, ok := data["url"].(string); ok && data["is_silhouette"] != true {
				claims["picture"] = u
			}
		}
	}
	return claims, nil
}
