package cognito_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
)

// generous lets the tests' many refusals through the failure throttle.
func generous() ratelimit.Throttle { return ratelimit.New(ratelimit.Limits{Rate: 1000, Burst: 1000}) }

// The admin actions in process, behind the real SigV4 verifier (keys
// made by the pool, requests signed by aws-sdk-go-v2's signer).

// adminActions are every registered admin action: the users' (this
// package's adminactions.go) and the groups' and ListUsers.
var adminActions = cognito.AdminActionNames()

type signedAPI struct {
	h      http.Handler
	rw, ro *pool.NewAccessKey
}

func newSignedAPI(t *testing.T, throttle ratelimit.Throttle) *signedAPI {
	t.Helper()
	_, pl := inProcessAPI(t)
	v, err := sigv4.New(sigv4.Config{Region: "eu-west-1", Keys: pl, Replay: pl.Store(), Audit: pl, Throttle: throttle})
	if err != nil {
		t.Fatal(err)
	}
	cfg := apiConfig
	cfg.AdminVerifier = cognito.SigV4(v, nil)
	h, err := cognito.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := pl.CreateAccessKey(t.Context(), "in-process", false)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := pl.CreateAccessKey(t.Context(), "in-process read-only", true)
	if err != nil {
		t.Fatal(err)
	}
	return &signedAPI{h: h, rw: rw, ro: ro}
}

// request makes a signed request of action (key nil: unsigned).
func (a *signedAPI) request(t *testing.T, key *pool.NewAccessKey, action string, body any) *http.Request {
	t.Helper()
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, "http://auth.example.test/", bytes.NewReader(b))
	r.Header.Set("X-Amz-Target", target(action))
	r.Header.Set("Content-Type", amzJSON)
	if key != nil {
		sum := sha256.Sum256(b)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.SecretAccessKey},
			r, hex.EncodeToString(sum[:]), sigv4.Service, "eu-west-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	r.Body = httpBody(b)
	return r
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func (a *signedAPI) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// TestAdminOtherPool: every admin action refuses a pool id other than the
// configured one, whoever signs.
func TestAdminOtherPool(t *testing.T) {
	t.Parallel()
	a := newSignedAPI(t, generous())
	for _, action := range adminActions {
		body := map[string]any{"UserPoolId": "eu-west-1_Other", "Username": "ada@example.com", "ClientId": "spa",
			"GroupName": "g", "AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "x",
			"UserAttributes": []any{map[string]string{"Name": "name", "Value": "x"}}, "UserAttributeNames": []string{"name"},
			"Password": "Some horse battery 1"}
		wantError(t, a.do(a.request(t, a.rw, action, body)), 400, "ResourceNotFoundException")
		delete(body, "UserPoolId")
		wantError(t, a.do(a.request(t, a.rw, action, body)), 400, "InvalidParameterException")
	}
}

// TestAdminKeys: unsigned calls, a read-only key's changes and a replayed
// request are refused before any action runs; a read-only key reads.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	a := newSignedAPI(t, generous())
	ref := map[string]any{"UserPoolId": "eu-west-1_Test1", "Username": "nobody-keys@example.com"}
	for _, action := range adminActions {
		wantError(t, a.do(a.request(t, nil, action, ref)), 400, "MissingAuthenticationTokenException")
		w := a.do(a.request(t, a.ro, action, ref))
		if sigv4.ReadOnlyAction(action) {
			if w.Header().Get("x-amzn-ErrorType") == "AccessDeniedException" {
				t.Errorf("read-only key refused %s", action)
			}
		} else {
			wantError(t, w, 400, "AccessDeniedException")
		}
	}
	r := a.request(t, a.rw, "AdminGetUser", ref)
	body, _ := json.Marshal(ref)
	first := a.do(r)
	wantError(t, first, 400, "UserNotFoundException")
	again := r.Clone(r.Context())
	again.Body = httpBody(body)
	wantError(t, a.do(again), 400, "InvalidSignatureException")
	// A read-only key's AdminCreateUser made nobody.
	_, pl := inProcessAPI(t)
	if _, err := pl.UserByEmail(t.Context(), "nobody-keys@example.com"); err == nil {
		t.Error("a refused call made a user")
	}
}

// TestAdminThrottled: past the failure budget (sigv4's default, 20 at
// once) an address is answered TooManyRequestsException with HTTP 429 and
// Retry-After, as AWS throttles, even with a good signature.
func TestAdminThrottled(t *testing.T) {
	t.Parallel()
	a := newSignedAPI(t, nil)
	ref := map[string]any{"UserPoolId": "eu-west-1_Test1", "Username": "nobody-throttle@example.com"}
	for range 20 {
		wantError(t, a.do(a.request(t, nil, "AdminGetUser", ref)), 400, "MissingAuthenticationTokenException")
	}
	w := a.do(a.request(t, nil, "AdminGetUser", ref))
	wantError(t, w, 429, "TooManyRequestsException")
	if w.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantError(t, a.do(a.request(t, a.rw, "AdminGetUser", ref)), 429, "TooManyRequestsException")
}

// TestAdminFederatedUsername: a user an outside provider made is found by
// the username the API reports for them, <provider>_<subject>.
func TestAdminFederatedUsername(t *testing.T) {
	t.Parallel()
	a := newSignedAPI(t, generous())
	_, pl := inProcessAPI(t)
	u, err := pl.CreateUser(t.Context(), pool.NewUser{Email: "fed-admin@example.com", Password: "correct horse battery staple", Status: store.StatusExternalProvider})
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.LinkIdentity(t.Context(), u, pool.ExternalIdentity{Provider: "Google", ProviderType: "oidc", Issuer: "https://accounts.example.test", Subject: "1234567"}); err != nil {
		t.Fatal(err)
	}
	w := a.do(a.request(t, a.rw, "AdminGetUser", map[string]any{"UserPoolId": "eu-west-1_Test1", "Username": "Google_1234567"}))
	var got struct{ Username, UserStatus string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil || got.Username != "Google_1234567" || got.UserStatus != store.StatusExternalProvider {
		t.Fatalf("AdminGetUser Google_1234567: %d %s", w.Code, w.Body)
	}
	wantError(t, a.do(a.request(t, a.rw, "AdminGetUser", map[string]any{"UserPoolId": "eu-west-1_Test1", "Username": "Google_7654321"})), 400, "UserNotFoundException")
}

// TestAdminUserAuth: AdminInitiateAuth starts USER_AUTH as InitiateAuth
// does (the in-process pool has no mail, SRP or passkey site: PASSWORD
// alone is offered), AdminRespondToAuthChallenge answers its choice, and a
// client without ALLOW_USER_AUTH is refused.
func TestAdminUserAuth(t *testing.T) {
	t.Parallel()
	a := newSignedAPI(t, generous())
	_, pl := inProcessAPI(t)
	if _, err := pl.CreateUser(t.Context(), pool.NewUser{Email: "admin-choice@example.com", Password: "Some horse battery 1"}); err != nil {
		t.Fatal(err)
	}
	start := func(client, login string) *httptest.ResponseRecorder {
		return a.do(a.request(t, a.rw, "AdminInitiateAuth", map[string]any{"UserPoolId": "eu-west-1_Test1", "ClientId": client,
			"AuthFlow": "USER_AUTH", "AuthParameters": map[string]string{"USERNAME": login}}))
	}
	wantError(t, start("spa", "admin-choice@example.com"), 400, "InvalidParameterException")
	for _, login := range []string{"admin-choice@example.com", "nobody-choice@example.com"} {
		w := start("choice", login)
		var out struct {
			ChallengeName       string
			AvailableChallenges []string
			Session             string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 || out.ChallengeName != "SELECT_CHALLENGE" ||
			len(out.AvailableChallenges) != 1 || out.AvailableChallenges[0] != "PASSWORD" {
			t.Fatalf("%s: %d %s", login, w.Code, w.Body)
		}
		w = a.do(a.request(t, a.rw, "AdminRespondToAuthChallenge", map[string]any{"UserPoolId": "eu-west-1_Test1", "ClientId": "choice",
			"ChallengeName": "SELECT_CHALLENGE", "Session": out.Session,
			"ChallengeResponses": map[string]string{"USERNAME": login, "ANSWER": "PASSWORD", "PASSWORD": "Some horse battery 1"}}))
		if login == "nobody-choice@example.com" {
			wantError(t, w, 400, "NotAuthorizedException")
			continue
		}
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"AccessToken"`)) {
			t.Fatalf("PASSWORD chosen: %d %s", w.Code, w.Body)
		}
	}
}
