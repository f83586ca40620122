package facebook

// A stand-in for Facebook. Facebook cannot be reached from the machines
// these tests run on, so two loopback servers play www.facebook.com (the
// login dialog) and graph.facebook.com (oauth/access_token and /me) as
// Facebook's public documentation describes them ("Manually Build a Login
// Flow", "Securing Graph API Requests", the Graph API User reference): it
// is not Facebook, and where the documentation is silent (the error for a
// wrong PKCE verifier) its choice is marked below.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type fbUser struct {
	ID                  string // app-scoped
	Name, First, Last   string
	Email               string
	EmailConfirmed      bool
	Silhouette          bool
	Birthday            string
	DeclineEmailGranted bool // the user unticks the email permission
}

type fbGrant struct {
	redirectURI, challenge string
	scopes                 []string
	user                   *fbUser
	expires                time.Time
	used                   bool
}

type fbToken struct {
	user   *fbUser
	scopes []string
}

type standIn struct {
	t          *testing.T
	www, graph *httptest.Server
	version    string // "" serves unversioned paths, else /<version>/...

	appID, secret, callback string

	mu       sync.Mutex
	user     *fbUser
	deny     bool
	codes    map[string]*fbGrant
	tokens   map[string]*fbToken
	calls    []string
	lastMeQ  url.Values
	rateOnMe bool
}

func newStandIn(t *testing.T, version string) *standIn {
	s := &standIn{t: t, version: version, appID: "1234567890123456", secret: strings.ToLower(rand.Text()),
		callback: "https://pool.example/oauth2/idpresponse", codes: map[string]*fbGrant{}, tokens: map[string]*fbToken{}}
	s.www = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "www") }))
	s.graph = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "graph") }))
	t.Cleanup(s.www.Close)
	t.Cleanup(s.graph.Close)
	return s
}

func (s *standIn) callsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request, host string) {
	s.mu.Lock()
	s.calls = append(s.calls, host+" "+r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	path := r.URL.Path
	if s.version != "" {
		rest, ok := strings.CutPrefix(path, "/"+s.version+"/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		path = "/" + rest
	}
	switch {
	case host == "www" && path == "/dialog/oauth" && r.Method == http.MethodGet:
		s.dialog(w, r)
	case host == "graph" && path == "/oauth/access_token":
		s.accessToken(w, r)
	case host == "graph" && path == "/me" && r.Method == http.MethodGet:
		s.me(w, r)
	default:
		graphFail(w, 100, 0, "Unknown path components: "+r.URL.Path)
	}
}

func graphFail(w http.ResponseWriter, code, subcode int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfStandIn"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// dialog plays the login dialog: the user signed in at "Facebook"
// continues (or cancels) at once.
func (s *standIn) dialog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.appID {
		http.Error(w, "Invalid App ID", http.StatusBadRequest) // a page, no redirect
		return
	}
	// Strict mode: the redirect URI must be one of the app's exactly.
	if q.Get("redirect_uri") != s.callback {
		http.Error(w, "URL blocked: This redirect failed because the redirect URI is not white-listed in the app's client OAuth settings.", http.StatusBadRequest)
		return
	}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		http.Error(w, "response_type", http.StatusBadRequest)
		return
	}
	challenge := q.Get("code_challenge")
	if challenge != "" && q.Get("code_challenge_method") != "S256" {
		http.Error(w, "code_challenge_method", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	out := url.Values{"state": {q.Get("state")}}
	s.mu.Lock()
	if s.deny {
		out.Set("error", "access_denied")
		out.Set("error_reason", "user_denied")
		out.Set("error_description", "Permissions error.")
	} else {
		scopes := strings.Split(q.Get("scope"), ",")
		if s.user.DeclineEmailGranted {
			scopes = slices.DeleteFunc(scopes, func(x string) bool { return x == "email" })
		}
		code := "AQ" + rand.Text() + rand.Text()
		s.codes[code] = &fbGrant{redirectURI: q.Get("redirect_uri"), challenge: challenge, scopes: scopes,
			user: s.user, expires: time.Now().Add(10 * time.Minute)}
		out.Set("code", code)
	}
	s.mu.Unlock()
	back.RawQuery = out.Encode()
	http.Redirect(w, r, back.String()+"#_=_", http.StatusFound) // Facebook appends an empty fragment
}

func (s *standIn) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil { // GET query or POST form, both accepted
		graphFail(w, 100, 0, err.Error())
		return
	}
	f := r.Form
	if f.Get("client_id") != s.appID {
		graphFail(w, 101, 0, "Error validating application. Invalid application ID.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.secret)) != 1 {
		graphFail(w, 1, 0, "Error validating client secret.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.codes[f.Get("code")]
	switch {
	case g == nil:
		graphFail(w, 100, 0, "Invalid verification code format.")
		return
	case g.used:
		graphFail(w, 100, 36009, "This authorization code has been used.")
		return
	case time.Now().After(g.expires):
		graphFail(w, 100, 36007, "This authorization code has expired.")
		return
	}
	g.used = true
	if f.Get("redirect_uri") != g.redirectURI {
		graphFail(w, 100, 36008, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request")
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
			graphFail(w, 100, 0, "Invalid code verifier.") // the stand-in's own wording
			return
		}
	}
	tok := "EAA" + rand.Text() + rand.Text()
	s.tokens[tok] = &fbToken{user: g.user, scopes: g.scopes}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 5183944})
}

// me answers the fields asked for, as far as the token's permissions go.
// The app requires appsecret_proof ("Require App Secret" on).
func (s *standIn) me(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok := q.Get("access_token")
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = b
	} else if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "OAuth "); ok {
		tok = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastMeQ = q
	if s.rateOnMe {
		graphFail(w, 4, 0, "Application request limit reached")
		return
	}
	t := s.tokens[tok]
	if t == nil {
		graphFail(w, 190, 0, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write([]byte(tok))
	if proof := q.Get("appsecret_proof"); proof == "" {
		graphFail(w, 100, 0, "API calls from the server require an appsecret_proof argument")
		return
	} else if !hmac.Equal([]byte(proof), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		graphFail(w, 100, 0, "Invalid appsecret_proof provided in the API argument")
		return
	}
	u := t.user
	all := map[string]any{"id": u.ID, "name": u.Name, "first_name": u.First, "last_name": u.Last,
		"picture": map[string]any{"data": map[string]any{"height": 50, "width": 50, "is_silhouette": u.Silhouette,
			"url": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=" + u.ID}}}
	if u.Email != "" && u.EmailConfirmed && slices.Contains(t.scopes, "email") {
		all["email"] = u.Email
	}
	if u.Birthday != "" && slices.Contains(t.scopes, "user_birthday") {
		all["birthday"] = u.Birthday
	}
	out := map[string]any{}
	fields := strings.Split(q.Get("fields"), ",")
	if q.Get("fields") == "" {
		fields = []string{"id", "name"}
	}
	for _, f := range fields {
		if _, known := map[string]bool{"id": true, "name": true, "first_name": true, "last_name": true, "picture": true,
			"email": true, "birthday": true}[f]; !known {
			graphFail(w, 100, 0, "(#100) Tried accessing nonexisting field ("+f+") on node type (User)")
			return
		}
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
