package cognito_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// The in-process API of a pool with SRP on, wired as module/idp.go wires
// it: Config.SRP is the pool's InitiateSRPAuth.

const (
	srpPoolID  = "eu-west-1_Srp1"
	srpSecret  = "srp-secret-0123456789abcdef0123"
	srpTestPw  = "correct horse battery staple 7"
	srpTestApp = "srpapp"
)

var (
	srpOnce    sync.Once
	srpHandler *cognito.Handler
	srpPoolObj *pool.Pool
	srpErr     error
	srpDir     string
)

func inProcessSRPAPI(t testing.TB) (*cognito.Handler, *pool.Pool) {
	t.Helper()
	srpOnce.Do(func() { srpHandler, srpPoolObj, srpErr = buildSRPAPI() })
	if srpErr != nil {
		t.Fatal(srpErr)
	}
	return srpHandler, srpPoolObj
}

func buildSRPAPI() (*cognito.Handler, *pool.Pool, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cognito-srp-test")
	if err != nil {
		return nil, nil, err
	}
	srpDir = dir
	s, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, nil, err
	}
	name := srp.PoolName(srpPoolID)
	pl, err := pool.New(ctx, s, pool.Config{
		Name: "default",
		Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		MFA:  pool.MFAConfig{Issuer: "Example Corp"},
		SRP:  pool.SRPConfig{PoolName: name},
	})
	if err != nil {
		return nil, nil, err
	}
	keys, err := signing.Open(ctx, s, signing.Policy{Algs: []string{signing.ES256, signing.RS256}})
	if err != nil {
		return nil, nil, err
	}
	marker := make([]byte, 64)
	_, _ = rand.Read(marker)
	srpFlows := []string{oidc.AuthFlowUserSRP, oidc.AuthFlowRefreshToken}
	provider, err := oidc.NewProvider(oidc.Config{
		Issuer: "https://auth.example.test", Pool: pl, Store: s, Keys: keys, Sessions: noSessions{}, MarkerKey: marker,
		Clients: []*oidc.Client{
			{ID: srpTestApp, Public: true, RedirectURIs: []string{"https://spa.example.test/cb"}, AuthFlows: srpFlows},
			{ID: "srpother", Public: true, RedirectURIs: []string{"https://other.example.test/cb"}, AuthFlows: srpFlows},
			{ID: "srpsecret", Secret: srpSecret, RedirectURIs: []string{"https://app.example.test/cb"}, AuthFlows: srpFlows},
			{ID: "pwonly", Public: true, RedirectURIs: []string{"https://pw.example.test/cb"}, AuthFlows: []string{oidc.AuthFlowUserPassword}},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	h, err := cognito.New(cognito.Config{PoolID: srpPoolID, Pool: pl, Provider: provider, SealKey: marker,
		SRP: func(ctx context.Context, client, username, srpA string) (*pool.AuthStep, error) {
			return pl.InitiateSRPAuth(ctx, pool.SRPAuth{Username: username, SRPA: srpA, Client: client, PoolName: name})
		}})
	if err != nil {
		return nil, nil, err
	}
	return h, pl, nil
}

// srpChallenge is InitiateAuth USER_SRP_AUTH's answer, and the client's
// half that answers it.
type srpChallenge struct {
	client  *srp.Client
	params  map[string]string
	session string
}

func decodeBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer is not JSON: %s", w.Body)
	}
	return out
}

func startSRP(t *testing.T, h *cognito.Handler, clientID, username string, extra map[string]string) srpChallenge {
	t.Helper()
	c := srp.NewClient()
	p := map[string]string{"USERNAME": username, "SRP_A": c.AHex()}
	for k, v := range extra {
		p[k] = v
	}
	w := call(t, h, "InitiateAuth", map[string]any{"ClientId": clientID, "AuthFlow": "USER_SRP_AUTH", "AuthParameters": p})
	if w.Code != 200 {
		t.Fatalf("InitiateAuth USER_SRP_AUTH: %d %s", w.Code, w.Body)
	}
	body := decodeBody(t, w)
	if body["ChallengeName"] != pool.ChallengePasswordVerifier {
		t.Fatalf("challenge %v, want PASSWORD_VERIFIER", body)
	}
	params := map[string]string{}
	for k, v := range body["ChallengeParameters"].(map[string]any) {
		params[k], _ = v.(string)
	}
	session, _ := body["Session"].(string)
	return srpChallenge{client: c, params: params, session: session}
}

// answer is the PASSWORD_VERIFIER answer amazon-cognito-identity-js sends,
// for password, signed at ts.
func (ch srpChallenge) answer(t *testing.T, password string, ts time.Time) map[string]string {
	t.Helper()
	name, uid := srp.PoolName(srpPoolID), ch.params["USER_ID_FOR_SRP"]
	key, err := ch.client.Key(name, uid, password, ch.params["SALT"], ch.params["SRP_B"])
	if err != nil {
		t.Fatal(err)
	}
	block, err := base64.StdEncoding.DecodeString(ch.params["SECRET_BLOCK"])
	if err != nil {
		t.Fatal(err)
	}
	stamp := srp.FormatTimestamp(ts)
	return map[string]string{
		"USERNAME":                    uid,
		"PASSWORD_CLAIM_SECRET_BLOCK": ch.params["SECRET_BLOCK"],
		"TIMESTAMP":                   stamp,
		"PASSWORD_CLAIM_SIGNATURE":    srp.Signature(key, name, uid, block, stamp),
	}
}

func respondSRP(t *testing.T, h *cognito.Handler, clientID, session string, r map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := map[string]any{"ClientId": clientID, "ChallengeName": "PASSWORD_VERIFIER", "ChallengeResponses": r}
	if session != "" {
		req["Session"] = session
	}
	return call(t, h, "RespondToAuthChallenge", req)
}

func wantTokens(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Code != 200 {
		t.Fatalf("want tokens: %d %s", w.Code, w.Body)
	}
	res, _ := decodeBody(t, w)["AuthenticationResult"].(map[string]any)
	if res == nil || res["AccessToken"] == nil || res["IdToken"] == nil {
		t.Fatalf("no AuthenticationResult: %s", w.Body)
	}
	return res
}

// TestSRPSignIn: USER_SRP_AUTH through the API as Cognito's clients drive
// it: the pool's USER_ID_FOR_SRP is the user's id; an answer with its
// Session, and one with none (pycognito sends none), give tokens; an answer
// is good once; another client cannot answer it.
func TestSRPSignIn(t *testing.T) {
	t.Parallel()
	h, pl := inProcessSRPAPI(t)
	const email = "srp-signin@example.com"
	u := newUser(t, pl, email, srpTestPw)

	ch := startSRP(t, h, srpTestApp, email, nil)
	if ch.params["USER_ID_FOR_SRP"] != u.ID || ch.params["USERNAME"] != email || ch.session == "" {
		t.Fatalf("challenge parameters %v (session %q); want USER_ID_FOR_SRP %s", ch.params, ch.session, u.ID)
	}
	r := ch.answer(t, srpTestPw, time.Now())
	// Through another client: its session is not this client's, and
	// without a session the block is still bound to the client.
	wantError(t, respondSRP(t, h, "srpother", ch.session, r), 400, "NotAuthorizedException")
	wantError(t, respondSRP(t, h, "srpother", "", r), 400, "NotAuthorizedException")
	res := wantTokens(t, respondSRP(t, h, srpTestApp, ch.session, r))
	if res["RefreshToken"] == nil {
		t.Fatal("no refresh token")
	}
	// Spent: the same answer again is refused.
	wantError(t, respondSRP(t, h, srpTestApp, ch.session, r), 400, "NotAuthorizedException")

	// No Session at all: the secret block carries the challenge.
	ch = startSRP(t, h, srpTestApp, email, nil)
	wantTokens(t, respondSRP(t, h, srpTestApp, "", ch.answer(t, srpTestPw, time.Now())))

	// A session of another challenge does not go with this block.
	other := startSRP(t, h, srpTestApp, email, nil)
	ch = startSRP(t, h, srpTestApp, email, nil)
	wantError(t, respondSRP(t, h, srpTestApp, other.session, ch.answer(t, srpTestPw, time.Now())), 400, "NotAuthorizedException")
}

// TestSRPSecretHash: a client with a secret hashes the login at
// InitiateAuth and, as amazon-cognito-identity-js does after SRP, the
// user's id (USER_ID_FOR_SRP) at PASSWORD_VERIFIER and at the challenge
// after it (NEW_PASSWORD_REQUIRED for a temporary password).
func TestSRPSecretHash(t *testing.T) {
	t.Parallel()
	h, pl := inProcessSRPAPI(t)
	const email = "srp-secret@example.com"
	newUser(t, pl, email, srpTestPw)
	w := call(t, h, "InitiateAuth", map[string]any{"ClientId": "srpsecret", "AuthFlow": "USER_SRP_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": srp.NewClient().AHex()}})
	wantError(t, w, 400, "NotAuthorizedException")
	ch := startSRP(t, h, "srpsecret", email, map[string]string{"SECRET_HASH": secretHash(srpSecret, email, "srpsecret")})
	r := ch.answer(t, srpTestPw, time.Now())
	r["SECRET_HASH"] = secretHash("another-secret-0123456789abcdef", r["USERNAME"], "srpsecret")
	wantError(t, respondSRP(t, h, "srpsecret", ch.session, r), 400, "NotAuthorizedException")
	r["SECRET_HASH"] = secretHash(srpSecret, r["USERNAME"], "srpsecret")
	wantTokens(t, respondSRP(t, h, "srpsecret", ch.session, r))

	// A temporary password: SRP leads to NEW_PASSWORD_REQUIRED, which the
	// library answers naming the user by id, hashed over the id.
	const temp = "srp-temporary@example.com"
	u, err := pl.CreateUser(context.Background(), pool.NewUser{Email: temp, Password: srpTestPw, EmailVerified: true, Status: store.StatusForceChangePassword})
	if err != nil {
		t.Fatal(err)
	}
	ch = startSRP(t, h, "srpsecret", temp, map[string]string{"SECRET_HASH": secretHash(srpSecret, temp, "srpsecret")})
	r = ch.answer(t, srpTestPw, time.Now())
	r["SECRET_HASH"] = secretHash(srpSecret, u.ID, "srpsecret")
	w = respondSRP(t, h, "srpsecret", ch.session, r)
	body := decodeBody(t, w)
	params, _ := body["ChallengeParameters"].(map[string]any)
	if w.Code != 200 || body["ChallengeName"] != pool.ChallengeNewPasswordRequired || params["USER_ID_FOR_SRP"] != u.ID {
		t.Fatalf("SRP with a temporary password: %d %s", w.Code, w.Body)
	}
	w = call(t, h, "RespondToAuthChallenge", map[string]any{"ClientId": "srpsecret", "ChallengeName": pool.ChallengeNewPasswordRequired,
		"Session": body["Session"], "ChallengeResponses": map[string]string{"USERNAME": u.ID, "NEW_PASSWORD": "another horse battery staple 8",
			"SECRET_HASH": secretHash(srpSecret, u.ID, "srpsecret")}})
	wantTokens(t, w)
	// The new password's verifier answers SRP at once.
	ch = startSRP(t, h, "srpsecret", temp, map[string]string{"SECRET_HASH": secretHash(srpSecret, temp, "srpsecret")})
	r = ch.answer(t, "another horse battery staple 8", time.Now())
	r["SECRET_HASH"] = secretHash(srpSecret, u.ID, "srpsecret")
	wantTokens(t, respondSRP(t, h, "srpsecret", ch.session, r))
}

// TestSRPRefusals: the errors Cognito's clients expect. A wrong password
// and an unknown user are the same NotAuthorizedException; a client
// without ALLOW_USER_SRP_AUTH, a bad SRP_A and a missing proof are
// InvalidParameterException, and so is SRP in a pool without `srp on`; a
// clock far off is NotAuthorizedException.
func TestSRPRefusals(t *testing.T) {
	t.Parallel()
	h, pl := inProcessSRPAPI(t)
	const email = "srp-refusals@example.com"
	newUser(t, pl, email, srpTestPw)

	ch := startSRP(t, h, srpTestApp, email, nil)
	wrong := wantError(t, respondSRP(t, h, srpTestApp, ch.session, ch.answer(t, "wrong horse battery staple", time.Now())), 400, "NotAuthorizedException")
	if wrong["message"] != "Incorrect username or password." {
		t.Fatalf("wrong password: %v", wrong)
	}
	ch = startSRP(t, h, srpTestApp, "srp-nobody@example.com", nil)
	if ch.params["USER_ID_FOR_SRP"] == "" || ch.params["SALT"] == "" || ch.params["SRP_B"] == "" {
		t.Fatalf("an unknown user's challenge %v", ch.params)
	}
	unknown := wantError(t, respondSRP(t, h, srpTestApp, ch.session, ch.answer(t, srpTestPw, time.Now())), 400, "NotAuthorizedException")
	if unknown["message"] != wrong["message"] {
		t.Fatalf("unknown user %v, wrong password %v", unknown, wrong)
	}

	ch = startSRP(t, h, srpTestApp, email, nil)
	wantError(t, respondSRP(t, h, srpTestApp, ch.session, ch.answer(t, srpTestPw, time.Now().Add(-time.Hour))), 400, "NotAuthorizedException")
	r := ch.answer(t, srpTestPw, time.Now())
	delete(r, "PASSWORD_CLAIM_SIGNATURE")
	wantError(t, respondSRP(t, h, srpTestApp, ch.session, r), 400, "InvalidParameterException")

	// A pool without `srp on` (no Config.SRP): refused, saying so.
	plain, _ := inProcessAPI(t)
	body := wantError(t, call(t, plain, "InitiateAuth", map[string]any{"ClientId": "srpwanted", "AuthFlow": "USER_SRP_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": srp.NewClient().AHex()}}), 400, "InvalidParameterException")
	if !strings.Contains(body["message"].(string), "not enabled for this user pool") {
		t.Fatalf("SRP in a pool without it: %v", body)
	}

	for name, req := range map[string]map[string]any{
		"client without SRP": {"ClientId": "pwonly", "AuthFlow": "USER_SRP_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": srp.NewClient().AHex()}},
		"SRP_A zero": {"ClientId": srpTestApp, "AuthFlow": "USER_SRP_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": "0"}},
		"SRP_A not hex": {"ClientId": srpTestApp, "AuthFlow": "USER_SRP_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "SRP_A": "xyz"}},
		"no SRP_A": {"ClientId": srpTestApp, "AuthFlow": "USER_SRP_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email}},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, call(t, h, "InitiateAuth", req), 400, "InvalidParameterException")
		})
	}
}
