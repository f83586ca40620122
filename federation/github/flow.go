package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/federation/internal/oauthcall"
)

// connector is an opened GitHub provider.
type connector struct {
	info              federation.Info
	clientID, secret  string
	scopes            []string
	authURL, tokenURL string
	apiURL, issuer    string
	noreply           string // the domain of GitHub's no-reply addresses, "@users.noreply.<host>"
	orgs              []org
	mapping           federation.Mapping
	client            *http.Client
	logger            *zap.Logger
}

// maxOrgPages bounds the organization list walked (100 a page).
const maxOrgPages = 10

func (c *connector) Info() federation.Info { return c.info }

// Begin returns GitHub's authorize URL for req.
func (c *connector) Begin(_ context.Context, req federation.Request) (federation.Start, error) {
	if err := oauthcall.CheckRequest(req); err != nil {
		return federation.Start{}, fmt.Errorf("github %s: %w", c.info.Name, err)
	}
	q := url.Values{
		"client_id":             {c.clientID},
		"redirect_uri":          {req.RedirectURI},
		"scope":                 {strings.Join(c.scopes, " ")},
		"state":                 {req.State},
		"code_challenge":        {oauthcall.Challenge(req.Verifier)},
		"code_challenge_method": {"S256"},
	}
	return federation.Start{URL: c.authURL + "?" + q.Encode()}, nil
}

// Complete checks GitHub's answer, exchanges the code and reads the user.
func (c *connector) Complete(ctx context.Context, cb federation.Callback) (*federation.Identity, error) {
	p := cb.Params
	if err := oauthcall.CheckState(p.Get("state"), cb.Request.State); err != nil {
		return nil, err
	}
	if e := p.Get("error"); e != "" {
		switch e {
		case "access_denied", "application_suspended":
			return nil, fmt.Errorf("%w: GitHub: %s", federation.ErrDenied, e)
		}
		return nil, federation.Invalid("GitHub answered %q: %s", e, p.Get("error_description"))
	}
	code := p.Get("code")
	if code == "" {
		return nil, federation.Invalid("GitHub's answer has no code")
	}
	token, err := c.exchange(ctx, code, cb.Request)
	if err != nil {
		return nil, err
	}
	user, claims, err := c.user(ctx, token)
	if err != nil {
		return nil, err
	}
	if len(c.orgs) > 0 {
		if err := c.checkOrgs(ctx, token, user.Login); err != nil {
			return nil, err
		}
	}
	email, err := c.primaryEmail(ctx, token)
	if err != nil {
		return nil, err
	}
	return &federation.Identity{
		Provider:      c.info.Name,
		Type:          c.info.Type,
		Issuer:        c.issuer,
		Subject:       strconv.FormatInt(user.ID, 10),
		Email:         email,
		EmailVerified: email != "",
		Attributes:    c.mapping.Apply(claims),
	}, nil
}

// tokenAnswer is the token endpoint's JSON: GitHub answers a bad code or
// bad credentials with 200 and an error, so error is read first.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func (c *connector) exchange(ctx context.Context, code string, req federation.Request) (string, error) {
	form := url.Values{
		"client_id":     {c.clientID},
		"client_secret": {c.secret},
		"code":          {code},
		"redirect_uri":  {req.RedirectURI},
		"code_verifier": {req.Verifier},
	}
	hr, err := oauthcall.NewRequest(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, _, err := oauthcall.Do(c.client, hr)
	var se *oauthcall.StatusError
	if errors.As(err, &se) {
		body = se.Body // an error in JSON is read below like one sent with 200
	} else if err != nil {
		return "", err
	}
	var ans tokenAnswer
	if err := oauthcall.DecodeJSON("GitHub's token answer", body, &ans); err != nil {
		return "", err
	}
	if ans.Error != "" {
		if ans.Error == "incorrect_client_credentials" || ans.Error == "redirect_uri_mismatch" {
			// The operator's to fix, not the user's: say so in the log.
			c.logger.Error("GitHub refused the provider's configuration",
				zap.String("provider", c.info.Name), zap.String("error", ans.Error))
		}
		return "", federation.Invalid("GitHub refused the code: %s", ans.Error)
	}
	if se != nil {
		return "", federation.Invalid("GitHub's token endpoint answered HTTP %d", se.Status)
	}
	if ans.AccessToken == "" || !strings.EqualFold(ans.TokenType, "bearer") {
		return "", federation.Invalid("GitHub's token answer has no bearer token")
	}
	return ans.AccessToken, nil
}

// githubUser is the part of GET /user the connector itself needs.
type githubUser struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
}

// user reads GET /user: the user's id and login, and every field as a
// claim for the attribute mapping.
func (c *connector) user(ctx context.Context, token string) (*githubUser, map[string]any, error) {
	body, _, err := c.api(ctx, token, c.apiURL+"/user")
	var se *oauthcall.StatusError
	if errors.As(err, &se) {
		return nil, nil, federation.Invalid("GitHub did not show the token's user (HTTP %d)", se.Status)
	}
	if err != nil {
		return nil, nil, err
	}
	var u githubUser
	if err := oauthcall.DecodeJSON("GitHub's user", body, &u); err != nil {
		return nil, nil, err
	}
	if u.ID <= 0 || u.Login == "" {
		return nil, nil, federation.Invalid("GitHub's user has no id or login")
	}
	var claims map[string]any
	if err := oauthcall.DecodeJSON("GitHub's user", body, &claims); err != nil {
		return nil, nil, err
	}
	claims["id"] = strconv.FormatInt(u.ID, 10)
	// The public address is the user's choice to show, not an assertion
	// GitHub makes to us: it is never the pool's address.
	delete(claims, "email")
	return &u, claims, nil
}

// githubEmail is one entry of GET /user/emails.
type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// primaryEmail returns the user's primary address when GitHub says it is
// verified, lower-cased, and "" otherwise.
//
// Only the primary is taken. When it is unverified, another verified
// address is not taken in its place: the primary is the address the user
// chose as theirs (a secondary one may be an old employer's), a pool user
// has one address and later sign-ins update it, so it must not change with
// the order of a list, and the fix is the user's and clear (verify the
// primary at GitHub). GitHub's no-reply address is verified but receives
// no mail; it is never the pool's.
//
// Without the user:email scope GitHub answers 404: the user has no
// address here, which the pool then refuses to create a user without.
func (c *connector) primaryEmail(ctx context.Context, token string) (string, error) {
	body, _, err := c.api(ctx, token, c.apiURL+"/user/emails?per_page=100")
	var se *oauthcall.StatusError
	if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden) {
		c.logger.Warn("GitHub did not list the user's addresses (is the user:email scope granted?)",
			zap.String("provider", c.info.Name), zap.Int("status", se.Status))
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var list []githubEmail
	if err := oauthcall.DecodeJSON("GitHub's address list", body, &list); err != nil {
		return "", err
	}
	for _, e := range list {
		if !e.Primary {
			continue
		}
		addr := strings.ToLower(strings.TrimSpace(e.Email))
		if !e.Verified || !strings.Contains(addr, "@") || strings.HasSuffix(addr, c.noreply) {
			return "", nil
		}
		return addr, nil
	}
	return "", nil
}

// membership is one entry of GET /user/memberships/orgs.
type membership struct {
	State        string `json:"state"`
	Organization struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
	} `json:"organization"`
}

// checkOrgs admits a user who is an active member of an allowed
// organization. Pending invitations do not count. Anything that keeps the
// list from being read (the read:org scope not granted, an organization's
// restriction of OAuth apps) refuses: the check fails closed.
func (c *connector) checkOrgs(ctx context.Context, token, login string) error {
	next := c.apiURL + "/user/memberships/orgs?state=active&per_page=100"
	for page := 0; next != "" && page < maxOrgPages; page++ {
		body, header, err := c.api(ctx, token, next)
		var se *oauthcall.StatusError
		if errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusNotFound) {
			return fmt.Errorf("%w: GitHub did not show %s's organizations (HTTP %d; is read:org granted?)",
				federation.ErrDenied, login, se.Status)
		}
		if err != nil {
			return err
		}
		var list []membership
		if err := oauthcall.DecodeJSON("GitHub's organization list", body, &list); err != nil {
			return err
		}
		for _, m := range list {
			if m.State == "active" && c.allowed(m.Organization.Login, m.Organization.ID) {
				return nil
			}
		}
		next = c.nextPage(header.Get("Link"))
	}
	return fmt.Errorf("%w: GitHub user %s is not a member of an allowed organization", federation.ErrDenied, login)
}

func (c *connector) allowed(login string, id int64) bool {
	for _, o := range c.orgs {
		if o.id != 0 && o.id == id || o.login != "" && strings.EqualFold(o.login, login) {
			return true
		}
	}
	return false
}

// nextPage reads rel="next" from a Link header, and follows it only on
// the API's own origin and path: the token goes with it.
func (c *connector) nextPage(link string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(target), "<"), ">")
		if strings.HasPrefix(target, c.apiURL+"/") {
			return target
		}
		c.logger.Warn("GitHub's next page is not on its API; not followed", zap.String("provider", c.info.Name))
	}
	return ""
}

// api GETs one API URL with the user's token. 401 means the token is not
// good: an invalid answer, not an outage.
func (c *connector) api(ctx context.Context, token, u string) ([]byte, http.Header, error) {
	hr, err := oauthcall.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	hr.Header.Set("Accept", "application/vnd.github+json")
	hr.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	hr.Header.Set("Authorization", "Bearer "+token)
	body, header, err := oauthcall.Do(c.client, hr)
	var se *oauthcall.StatusError
	if !errors.As(err, &se) {
		return body, header, err
	}
	switch {
	case se.Status == http.StatusForbidden && header.Get("X-RateLimit-Remaining") == "0":
		return nil, nil, fmt.Errorf("%w: GitHub's rate limit is spent", federation.ErrUnavailable)
	case se.Status == http.StatusForbidden || se.Status == http.StatusNotFound:
		return nil, nil, se // the caller knows what a missing scope means for it
	case se.Status == http.StatusUnauthorized:
		return nil, nil, federation.Invalid("GitHub refused the token it issued (%s)", apiMessage(se.Body))
	}
	return nil, nil, federation.Invalid("GitHub's API answered HTTP %d (%s)", se.Status, apiMessage(se.Body))
}

// apiMessage is the message of a REST API error, for errors and logs.
func apiMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return "no message"
	}
	return e.Message
}
