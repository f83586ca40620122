package github

// A stand-in for GitHub. GitHub cannot be reached from the machines these
// tests run on, so this loopback server plays the parts the connector
// talks to, as GitHub's public documentation describes them ("Authorizing
// OAuth apps", and the REST API's /user, /user/emails and
// /user/memberships/orgs): it is not GitHub, and where the documentation
// is silent (the error name for a wrong PKCE verifier) its choice is
// marked below.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type ghUser struct {
	ID          int64
	Login, Name string
	PublicEmail string // the profile's public address: not an assertion
	Emails      []githubEmail
	Orgs        []ghMembership
}

type ghMembership struct {
	Login, State string
	ID           int64
}

type ghGrant struct {
	clientID, redirectURI, challenge, scope string
	user                                    int64
	expires                                 time.Time
	used                                    bool
}

type ghToken struct {
	user  int64
	scope []string
}

// standIn is one GitHub: github.com (web on host github.com, API on host
// api.github.com, reached through rewriteTransport) or an Enterprise
// Server (web at its root, API under /api/v3).
type standIn struct {
	t          *testing.T
	srv        *httptest.Server
	enterprise bool

	clientID, secret, callback string

	mu       sync.Mutex
	users    map[int64]*ghUser // by id: a login can be renamed
	signedIn int64             // the user signed in at "GitHub"; consents unless deny
	deny     bool
	pageCap  int // the largest page the API serves (GitHub's is 100)
	codes    map[string]*ghGrant
	tokens   map[string]*ghToken
	calls    []string // host+path of every request
	// foreignNext makes the org list's Link point at another host.
	foreignNext bool
}

func newStandIn(t *testing.T, enterprise bool) *standIn {
	t.Helper()
	s := &standIn{
		t: t, enterprise: enterprise,
		clientID: "Iv1.standin" + rand.Text()[:8], secret: rand.Text(),
		users:   map[int64]*ghUser{},
		codes:   map[string]*ghGrant{},
		tokens:  map[string]*ghToken{},
		pageCap: 100,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.callback = "https://pool.example/oauth2/idpresponse"
	return s
}

// webBase and apiBase are what the connector is configured with.
func (s *standIn) webBase() string {
	if s.enterprise {
		return s.srv.URL
	}
	return "https://github.com"
}

func (s *standIn) apiBase() string {
	if s.enterprise {
		return s.srv.URL + "/api/v3"
	}
	return "https://api.github.com"
}

func (s *standIn) addUser(u *ghUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
	if s.signedIn == 0 {
		s.signedIn = u.ID
	}
}

func (s *standIn) callsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// client is an HTTP client that reaches this stand-in: for github.com it
// sends github.com and api.github.com here, naming the host it meant.
func (s *standIn) client() *http.Client {
	if s.enterprise {
		return &http.Client{Timeout: 5 * time.Second}
	}
	target, _ := url.Parse(s.srv.URL)
	return &http.Client{Timeout: 5 * time.Second, Transport: rewriteTransport{target: target}}
}

type rewriteTransport struct{ target *url.URL }

func (rt rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "github.com" && r.URL.Host != "api.github.com" || r.URL.Scheme != "https" {
		return nil, fmt.Errorf("the stand-in plays https://github.com and https://api.github.com, not %s://%s", r.URL.Scheme, r.URL.Host)
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("X-Standin-Host", r.URL.Host)
	r2.URL.Scheme, r2.URL.Host, r2.Host = rt.target.Scheme, rt.target.Host, ""
	return http.DefaultTransport.RoundTrip(r2)
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	host := r.Header.Get("X-Standin-Host")
	path := r.URL.Path
	api := false
	if s.enterprise {
		host = "ghe"
		if rest, ok := strings.CutPrefix(path, "/api/v3/"); ok {
			api, path = true, "/"+rest
		}
	} else {
		api = host == "api.github.com"
	}
	s.mu.Lock()
	s.calls = append(s.calls, host+r.URL.Path)
	s.mu.Unlock()
	switch {
	case !api && path == "/login/oauth/authorize" && r.Method == http.MethodGet:
		s.authorize(w, r)
	case !api && path == "/login/oauth/access_token" && r.Method == http.MethodPost:
		s.accessToken(w, r)
	case api && r.Method == http.MethodGet:
		s.api(w, r, path)
	default:
		http.NotFound(w, r)
	}
}

// authorize plays GitHub's consent: the signed-in user approves (or, with
// deny, cancels) at once.
func (s *standIn) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.clientID {
		http.Error(w, "404: no such OAuth app", http.StatusNotFound) // GitHub shows a page, no redirect
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = s.callback
	}
	if !redirectAllowed(s.callback, redirect) {
		http.Error(w, "The redirect_uri is not associated with this application.", http.StatusBadRequest)
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" && method != "S256" { // GitHub takes S256 only
		http.Error(w, "code_challenge_method must be S256", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(redirect)
	out := back.Query()
	out.Set("state", q.Get("state"))
	s.mu.Lock()
	deny, user := s.deny, s.signedIn
	if !deny {
		code := strings.ToLower(rand.Text())[:20]
		s.codes[code] = &ghGrant{clientID: s.clientID, redirectURI: q.Get("redirect_uri"), challenge: challenge,
			scope: q.Get("scope"), user: user, expires: time.Now().Add(10 * time.Minute)}
		out.Set("code", code)
	}
	s.mu.Unlock()
	if deny {
		out.Set("error", "access_denied")
		out.Set("error_description", "The user has denied your application access.")
		out.Set("error_uri", "https://docs.github.com/apps/troubleshooting-authorization-request-errors/#access-denied")
	}
	back.RawQuery = out.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// redirectAllowed is GitHub's documented rule for OAuth apps: the
// registered callback's host or a subdomain of it, the same port, and a
// path at or below the callback's path.
func redirectAllowed(registered, asked string) bool {
	reg, err1 := url.Parse(registered)
	u, err2 := url.Parse(asked)
	if err1 != nil || err2 != nil || u.Scheme != reg.Scheme || u.Port() != reg.Port() {
		return false
	}
	if h := u.Hostname(); h != reg.Hostname() && !strings.HasSuffix(h, "."+reg.Hostname()) {
		return false
	}
	base := strings.TrimSuffix(reg.Path, "/")
	return u.Path == reg.Path || strings.HasPrefix(u.Path, base+"/")
}

// accessToken answers as GitHub does: JSON only when asked for, and an
// error as HTTP 200 with an error field.
func (s *standIn) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer := func(v map[string]string) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(v)
			return
		}
		form := url.Values{}
		for k, x := range v {
			form.Set(k, x)
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(form.Encode()))
	}
	fail := func(code, desc string) {
		answer(map[string]string{"error": code, "error_description": desc,
			"error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"})
	}
	f := r.PostForm
	if f.Get("client_id") != s.clientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.secret)) != 1 {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.codes[f.Get("code")]
	if g == nil || g.used || time.Now().After(g.expires) || g.clientID != f.Get("client_id") {
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	g.used = true // a code is good for one exchange, right or wrong
	if ru := f.Get("redirect_uri"); g.redirectURI != "" && ru != g.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	if g.challenge != "" {
		v := f.Get("code_verifier")
		if v == "" || subtle.ConstantTimeCompare([]byte(challengeOf(v)), []byte(g.challenge)) != 1 {
			// The stand-in's own error name: GitHub's docs name none.
			fail("bad_verification_code", "The code_verifier does not match the code_challenge.")
			return
		}
	}
	tok := "gho_" + rand.Text()
	scopes := strings.FieldsFunc(g.scope, func(r rune) bool { return r == ' ' || r == ',' })
	s.tokens[tok] = &ghToken{user: g.user, scope: scopes}
	answer(map[string]string{"access_token": tok, "token_type": "bearer", "scope": strings.Join(scopes, ",")})
}

func (s *standIn) api(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	if !ok {
		fail(http.StatusUnauthorized, "Requires authentication")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil {
		fail(http.StatusUnauthorized, "Bad credentials")
		return
	}
	u := s.users[t.user]
	if u == nil {
		fail(http.StatusUnauthorized, "Bad credentials")
		return
	}
	has := func(any ...string) bool {
		for _, sc := range any {
			if slices.Contains(t.scope, sc) {
				return true
			}
		}
		return false
	}
	switch path {
	case "/user":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"login": u.Login, "id": u.ID, "node_id": "MDQ6VXNlcj" + strconv.FormatInt(u.ID, 10), "type": "User",
			"avatar_url": "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(u.ID, 10) + "?v=4",
			"html_url":   s.webBase() + "/" + u.Login, "name": u.Name, "company": "@acme", "blog": "https://ada.example",
			"location": "London", "email": nullable(u.PublicEmail), "bio": nil, "twitter_username": nil,
			"public_repos": 2, "created_at": "2011-01-25T18:44:36Z", "updated_at": "2026-01-02T03:04:05Z",
		})
	case "/user/emails":
		if !has("user", "user:email") {
			fail(http.StatusNotFound, "Not Found")
			return
		}
		list := []map[string]any{}
		for _, e := range u.Emails {
			list = append(list, map[string]any{"email": e.Email, "primary": e.Primary, "verified": e.Verified, "visibility": nil})
		}
		_ = json.NewEncoder(w).Encode(list)
	case "/user/memberships/orgs":
		if !has("read:org", "write:org", "admin:org") {
			fail(http.StatusForbidden, "You need at least read:org scope or user scope to list your organizations.")
			return
		}
		q := r.URL.Query()
		var all []map[string]any
		for _, m := range u.Orgs {
			if st := q.Get("state"); st != "" && st != m.State {
				continue
			}
			all = append(all, map[string]any{"state": m.State, "role": "member",
				"url":          s.apiBase() + "/orgs/" + m.Login + "/memberships/" + u.Login,
				"organization": map[string]any{"login": m.Login, "id": m.ID}})
		}
		per, _ := strconv.Atoi(q.Get("per_page"))
		if per <= 0 || per > 100 {
			per = 30
		}
		per = min(per, s.pageCap)
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		from, to := min((page-1)*per, len(all)), min(page*per, len(all))
		if to < len(all) {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("page", strconv.Itoa(page+1))
			base := s.apiBase()
			if s.foreignNext {
				base = "https://collector.example"
			}
			w.Header().Set("Link", fmt.Sprintf(`<%s/user/memberships/orgs?%s>; rel="next"`, base, next.Encode()))
		}
		out := all[from:to]
		if out == nil {
			out = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		fail(http.StatusNotFound, "Not Found")
	}
}

// challengeOf is RFC 7636's S256, written here apart from the connector's.
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
