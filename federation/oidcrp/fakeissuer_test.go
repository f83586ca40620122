package oidcrp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeIssuer is a small OpenID provider for the RP's unit tests: discovery,
// JWKS, a token endpoint that checks client authentication, one-time codes,
// PKCE and refresh tokens (rotated), and userinfo. Its knobs make it
// misbehave in the ways the RP must catch.
type fakeIssuer struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	kid      string
	clientID string
	secret   string

	mu      sync.Mutex
	codes   map[string]*grant
	refresh map[string]*grant
	access  map[string]*grant
	calls   map[string]int // by endpoint: discovery, token, refresh, userinfo

	// The user, as the issuer knows them now.
	claims map[string]any
	// Knobs.
	down           bool           // discovery answers 503
	idAud          string         // aud of ID tokens; default the client id
	idNonce        *string        // nonce of ID tokens; default the grant's
	idSub          string         // sub of ID tokens; default claims["sub"]
	omitUserClaims bool           // ID tokens carry only sub (claims via userinfo)
	noIDOnRefresh  bool           // refresh responses carry no ID token
	userinfoSub    string         // sub userinfo reports; default the real one
	accessTTL      time.Duration  // default 1h
	noRefresh      bool           // grant no refresh tokens
	refreshStatus  int            // answer refresh grants with this error status
	extraID        map[string]any // more ID token claims
}

type grant struct {
	challenge   string
	nonce       string
	redirectURI string
	scope       string
}

func newFakeIssuer(t testing.TB) *fakeIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fi := &fakeIssuer{
		key:      key,
		kid:      "k1",
		clientID: "gatehouse-client",
		secret:   "s3cret",
		codes:    map[string]*grant{},
		refresh:  map[string]*grant{},
		access:   map[string]*grant{},
		calls:    map[string]int{},
		claims: map[string]any{
			"sub":            "user-123",
			"email":          "ada@example.com",
			"email_verified": true,
			"name":           "Ada Lovelace",
			"groups":         []string{"dev", "ops"},
		},
		accessTTL: time.Hour,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", fi.discovery)
	mux.HandleFunc("GET /jwks", fi.jwks)
	mux.HandleFunc("POST /token", fi.token)
	mux.HandleFunc("GET /userinfo", fi.userinfo)
	fi.srv = httptest.NewServer(mux)
	t.Cleanup(fi.srv.Close)
	return fi
}

func (fi *fakeIssuer) issuer() string { return fi.srv.URL }

func (fi *fakeIssuer) count(endpoint string) int {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.calls[endpoint]
}

func (fi *fakeIssuer) set(f func(fi *fakeIssuer)) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f(fi)
}

func (fi *fakeIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	fi.mu.Lock()
	fi.calls["discovery"]++
	down := fi.down
	fi.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                fi.issuer(),
		"authorization_endpoint":                fi.issuer() + "/authorize",
		"token_endpoint":                        fi.issuer() + "/token",
		"userinfo_endpoint":                     fi.issuer() + "/userinfo",
		"jwks_uri":                              fi.issuer() + "/jwks",
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
	})
}

func (fi *fakeIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	// The uncompressed point: 0x04, then X and Y, 32 bytes each.
	point, err := fi.key.PublicKey.Bytes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := point[1:33], point[33:65]
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": fi.kid, "alg": "ES256", "use": "sig",
	}}})
}

// authorize plays the issuer's authorization endpoint for an auth URL the RP
// built: it checks the request and issues a code for it.
func (fi *fakeIssuer) authorize(t testing.TB, authURL string) (code, state string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, fi.issuer()+"/authorize?") {
		t.Fatalf("auth URL %q is not the issuer's authorization endpoint", authURL)
	}
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": fi.clientID, "code_challenge_method": "S256"} {
		if got := q.Get(k); got != want {
			t.Fatalf("auth URL %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge", "redirect_uri", "scope"} {
		if q.Get(k) == "" {
			t.Fatalf("auth URL lacks %s: %s", k, authURL)
		}
	}
	code = rand.Text()
	fi.mu.Lock()
	fi.codes[code] = &grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri"), scope: q.Get("scope")}
	fi.mu.Unlock()
	return code, q.Get("state")
}

func (fi *fakeIssuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	grantType := r.PostForm.Get("grant_type")
	if grantType == "refresh_token" {
		fi.calls["refresh"]++
	} else {
		fi.calls["token"]++
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != fi.clientID || secret != fi.secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var g *grant
	refreshing := false
	switch grantType {
	case "authorization_code":
		code := r.PostForm.Get("code")
		g = fi.codes[code]
		delete(fi.codes, code) // one use, even when refused
		if g == nil || g.redirectURI != r.PostForm.Get("redirect_uri") || s256(r.PostForm.Get("code_verifier")) != g.challenge {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		g = fi.refresh[rt]
		if fi.refreshStatus != 0 {
			writeJSON(w, fi.refreshStatus, map[string]string{"error": "invalid_grant"})
			return
		}
		if g == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(fi.refresh, rt) // rotation
		refreshing = true
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	access := rand.Text()
	fi.access[access] = g
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(fi.accessTTL / time.Second),
	}
	if !fi.noRefresh {
		rt := rand.Text()
		fi.refresh[rt] = g
		resp["refresh_token"] = rt
	}
	if !(refreshing && fi.noIDOnRefresh) {
		resp["id_token"] = fi.idToken(g, access, !refreshing)
	}
	writeJSON(w, http.StatusOK, resp)
}

// idToken signs an ID token for g; fi.mu is held.
func (fi *fakeIssuer) idToken(g *grant, access string, withNonce bool) string {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":       fi.issuer(),
		"sub":       fi.claims["sub"],
		"aud":       fi.clientID,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"auth_time": now.Add(-time.Minute).Unix(),
		"amr":       []string{"pwd", "otp"},
		"at_hash":   atHash(access),
	}
	if withNonce {
		c["nonce"] = g.nonce
	}
	if !fi.omitUserClaims {
		for k, v := range fi.claims {
			c[k] = v
		}
	}
	maps.Copy(c, fi.extraID)
	if fi.idAud != "" {
		c["aud"] = fi.idAud
	}
	if fi.idNonce != nil {
		c["nonce"] = *fi.idNonce
	}
	if fi.idSub != "" {
		c["sub"] = fi.idSub
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = fi.kid
	s, err := tok.SignedString(fi.key)
	if err != nil {
		panic(err)
	}
	return s
}

func (fi *fakeIssuer) userinfo(w http.ResponseWriter, r *http.Request) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.calls["userinfo"]++
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || fi.access[access] == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c := maps.Clone(fi.claims)
	if fi.userinfoSub != "" {
		c["sub"] = fi.userinfoSub
	}
	writeJSON(w, http.StatusOK, c)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func atHash(access string) string {
	sum := sha256.Sum256([]byte(access))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
