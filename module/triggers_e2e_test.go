package module_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// hookServer is a real HTTP receiver for the pool's hooks: it refuses
// what is not signed with the secret, records each event, and answers
// each trigger as its mode says.
type hookServer struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	modes  map[string]string // path -> ok, deny, badjson, slow, forged
	events map[string][]map[string]any
	answer map[string]map[string]any // path -> the "response" of an ok answer
}

func startHookServer(t *testing.T) *hookServer {
	t.Helper()
	h := &hookServer{secret: trigger.NewSecret(), modes: map[string]string{}, events: map[string][]map[string]any{},
		answer: map[string]map[string]any{}}
	sec, _ := trigger.ParseSecret(h.secret)
	release := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := sec.Verify(r.Header, body, time.Now(), trigger.DefaultTolerance); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.events[r.URL.Path] = append(h.events[r.URL.Path], ev)
		mode, resp := h.modes[r.URL.Path], h.answer[r.URL.Path]
		h.mu.Unlock()
		switch mode {
		case "deny":
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"Sign-ins from this app are paused"}`)
		case "badjson":
			_, _ = io.WriteString(w, `{"response": {`)
		case "slow":
			select { // past the hook's timeout; then an answer nobody reads
			case <-release:
			case <-time.After(2 * time.Second):
			}
			ev["response"] = resp
			_ = json.NewEncoder(w).Encode(ev)
		case "forged":
			// Only "response" counts: a changed user, pool or request is
			// not read.
			ev["userName"], ev["userPoolId"] = "mallory", "other-pool"
			ev["request"] = map[string]any{"userAttributes": map[string]string{"email": "mallory@example.com"}}
			ev["response"] = resp
			_ = json.NewEncoder(w).Encode(ev)
		default:
			ev["response"] = resp
			_ = json.NewEncoder(w).Encode(ev)
		}
	}))
	t.Cleanup(func() { close(release); h.Close() })
	return h
}

func (h *hookServer) set(path, mode string, resp map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.modes[path], h.answer[path] = mode, resp
}

func (h *hookServer) received(path string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.events[path]...)
}

// The hooks through Caddy: the hosted sign-in asks pre authentication
// (success, deny, bad JSON, timeout, a forged answer), the OpenID
// provider's tokens carry pre token generation's changes (V2: ID and
// access token claims, scopes, groups), checked by openid-client, and
// protected claims stay the pool's.
func TestTriggersThroughCaddy(t *testing.T) {
	node, root := opPrereqs(t)
	h := startHookServer(t)
	hooks := `
			trigger pre_authentication ` + h.URL + `/preauth {
				secret ` + h.secret + `
				timeout 300ms
			}
			trigger post_authentication ` + h.URL + `/postauth {
				secret ` + h.secret + `
			}
			trigger pre_token_generation ` + h.URL + `/pretoken {
				secret ` + h.secret + `
				version 2
			}`
	s := startIDP(t, idpClients+hooks)
	ada := s.createUser(t, adaEmail, "Ada Lovelace", "staff")

	signInStatus := func(t *testing.T) (int, string) {
		t.Helper()
		c := testenv.Browser(t)
		csrf := signInForm(t, c, s.issuer, "/")
		resp, body := postSignIn(t, c, s.issuer, csrf, "/", adaEmail, adaPassword)
		return resp.StatusCode, body
	}
	t.Run("pre authentication deny shows its message", func(t *testing.T) {
		h.set("/preauth", "deny", nil)
		status, body := signInStatus(t)
		if status != http.StatusForbidden || !strings.Contains(body, "Sign-ins from this app are paused.") {
			t.Fatalf("status %d:\n%s", status, body)
		}
	})
	for _, mode := range []string{"badjson", "slow"} {
		t.Run("pre authentication "+mode+" fails the sign-in", func(t *testing.T) {
			h.set("/preauth", mode, map[string]any{})
			status, body := signInStatus(t)
			if status != http.StatusBadGateway || strings.Contains(body, h.URL) || strings.Contains(body, h.secret) {
				t.Fatalf("status %d:\n%s", status, body)
			}
		})
	}
	t.Run("a forged answer changes nothing but response", func(t *testing.T) {
		h.set("/preauth", "forged", map[string]any{})
		status, body := signInStatus(t)
		if status != http.StatusOK || !strings.Contains(body, "continue") {
			t.Fatalf("status %d:\n%s", status, body)
		}
		evs := h.received("/postauth")
		if len(evs) == 0 || evs[len(evs)-1]["userName"] != ada.ID {
			t.Fatalf("post authentication events %v", evs)
		}
	})

	t.Run("pre token generation V2, tokens checked by openid-client", func(t *testing.T) {
		h.set("/preauth", "ok", map[string]any{})
		h.set("/pretoken", "ok", map[string]any{"claimsAndScopeOverrideDetails": map[string]any{
			"idTokenGeneration": map[string]any{
				"claimsToAddOrOverride": map[string]any{"tenant": "acme", "sub": "mallory", "iss": "https://evil.example"},
				"claimsToSuppress":      []string{"email", "aud"},
			},
			"accessTokenGeneration": map[string]any{
				"claimsToAddOrOverride": map[string]any{"plan": "gold", "token_use": "id"},
				"scopesToAdd":           []string{"orders/read"},
				"scopesToSuppress":      []string{"profile"},
			},
			"groupOverrideDetails": map[string]any{"groupsToOverride": []string{"admins"}},
		}})
		c := testenv.Browser(t)
		webapp := s.RP("webapp", webappSecret, webappCB)
		a := webapp.Start()
		loc, _ := s.Navigate(t, c, a.URL, adaEmail)
		out, err := exec.Command(node, filepath.Join(root, "module", "testdata", "triggers", "rp.mjs"),
			s.issuer, "webapp", webappSecret, loc.String(), a.Verifier, a.State, a.Nonce).CombinedOutput()
		if err != nil {
			t.Fatalf("openid-client: %v\n%s", err, out)
		}
		var got struct {
			Claims      map[string]any `json:"claims"`
			AccessToken string         `json:"access_token"`
			Scope       string         `json:"scope"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("openid-client's output: %v\n%s", err, out)
		}
		id := got.Claims
		if id["tenant"] != "acme" || id["sub"] != ada.ID || id["iss"] != s.issuer || id["aud"] != "webapp" || id["email"] != nil {
			t.Errorf("ID token claims %v", id)
		}
		if g, _ := json.Marshal(id["cognito:groups"]); string(g) != `["admins"]` {
			t.Errorf("ID token groups %s, want the override", g)
		}
		at := jwtClaims(t, got.AccessToken)
		if at["plan"] != "gold" || at["token_use"] != "access" || at["sub"] != ada.ID {
			t.Errorf("access token claims %v", at)
		}
		if at["scope"] != "openid email orders/read" || got.Scope != "openid email orders/read" {
			t.Errorf("scope %q / %q, want profile suppressed and orders/read added", at["scope"], got.Scope)
		}
		evs := h.received("/pretoken")
		ev := evs[len(evs)-1]
		req, _ := ev["request"].(map[string]any)
		if ev["version"] != "2" || ev["triggerSource"] != trigger.SourceTokenHostedAuth || req["scopes"] == nil {
			t.Errorf("pre token generation event %v", ev)
		}
	})

	t.Run("pre token generation failing fails the token request", func(t *testing.T) {
		h.set("/pretoken", "badjson", nil)
		c := testenv.Browser(t)
		webapp := s.RP("webapp", webappSecret, webappCB)
		a := webapp.Start()
		loc, _ := s.Navigate(t, c, a.URL, adaEmail)
		code := s.CodeFrom(t, loc, webappCB, a.State)
		conf := *webapp.Conf
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader // no second try that would spend the code again
		_, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(a.Verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode < 500 {
			t.Fatalf("exchange: %v; want the token endpoint to fail", err)
		}
	})
}
