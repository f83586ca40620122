package cognito_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/trigger"
)

// hooks is a real receiver for the pool's hooks through the API: signed
// calls only, each answered by the mode of its path.
type hooks struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	answer map[string]func(ev map[string]any) (int, any)
	events map[string][]map[string]any
}

func startHooks(t *testing.T) *hooks {
	t.Helper()
	h := &hooks{secret: trigger.NewSecret(), answer: map[string]func(map[string]any) (int, any){}, events: map[string][]map[string]any{}}
	sec, _ := trigger.ParseSecret(h.secret)
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sec.Verify(r.Header, body, time.Now(), trigger.DefaultTolerance) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.events[r.URL.Path] = append(h.events[r.URL.Path], ev)
		answer := h.answer[r.URL.Path]
		h.mu.Unlock()
		status, out := 200, any(ev)
		if answer != nil {
			status, out = answer(ev)
		}
		w.WriteHeader(status)
		if s, ok := out.(string); ok {
			_, _ = io.WriteString(w, s)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hooks) set(path string, answer func(ev map[string]any) (int, any)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer[path] = answer
}

func (h *hooks) last(t *testing.T, path string) map[string]any {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	evs := h.events[path]
	if len(evs) == 0 {
		t.Fatalf("no call to %s", path)
	}
	return evs[len(evs)-1]
}

func (h *hooks) line(kind, path string) string {
	return "trigger " + kind + " " + h.URL + path + " {\n\t\t\t\tsecret " + h.secret + "\n\t\t\t}\n\t\t\t"
}

func withResponse(resp map[string]any) func(map[string]any) (int, any) {
	return func(ev map[string]any) (int, any) { ev["response"] = resp; return 200, ev }
}

// The hooks through the Cognito API, with Cognito's error types and
// messages, the app's ValidationData and ClientMetadata in the events,
// and the API's tokens carrying pre token generation's claims.
func TestTriggersThroughAPI(t *testing.T) {
	h := startHooks(t)
	s := startSite(t, h.line("pre_sign_up", "/presignup")+h.line("pre_authentication", "/preauth")+
		h.line("pre_token_generation", "/pretoken"))
	const email, password = "ann@example.com", "correct horse battery staple"

	h.set("/presignup", func(map[string]any) (int, any) {
		return 400, map[string]string{"errorMessage": "No sign-ups from this app", "errorType": "Error"}
	})
	status, _, out := s.call(t, "SignUp", map[string]any{"ClientId": publicApp, "Username": email, "Password": password,
		"ValidationData": []map[string]string{{"Name": "invite", "Value": "abc"}}, "ClientMetadata": map[string]string{"campaign": "x"}})
	if status != 400 || errType(out) != "UserLambdaValidationException" || out["message"] != "PreSignUp failed with error No sign-ups from this app." {
		t.Fatalf("denied SignUp: %d %v", status, out)
	}
	ev := h.last(t, "/presignup")
	req, _ := ev["request"].(map[string]any)
	cc, _ := ev["callerContext"].(map[string]any)
	vd, _ := req["validationData"].(map[string]any)
	cm, _ := req["clientMetadata"].(map[string]any)
	if ev["userPoolId"] != poolID || ev["region"] != "us-east-1" || cc["clientId"] != publicApp || vd["invite"] != "abc" || cm["campaign"] != "x" {
		t.Fatalf("PreSignUp event %v", ev)
	}

	h.set("/presignup", withResponse(map[string]any{"autoConfirmUser": true, "autoVerifyEmail": true}))
	status, _, out = s.call(t, "SignUp", map[string]any{"ClientId": publicApp, "Username": email, "Password": password})
	if status != 200 || out["UserConfirmed"] != true || out["CodeDeliveryDetails"] != nil {
		t.Fatalf("auto-confirmed SignUp: %d %v", status, out)
	}

	auth := map[string]any{"ClientId": publicApp, "AuthFlow": "USER_PASSWORD_AUTH",
		"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": password}}
	for _, tc := range []struct {
		answer        func(map[string]any) (int, any)
		wantType, msg string
	}{
		{func(map[string]any) (int, any) { return 403, map[string]string{"message": "Paused"} }, "UserLambdaValidationException", "PreAuthentication failed with error Paused."},
		{func(map[string]any) (int, any) { return 200, `{"response":` }, "InvalidLambdaResponseException", "Unrecognizable lambda output: PreAuthentication"},
		{func(map[string]any) (int, any) { return 502, "<html>bad gateway</html>" }, "UnexpectedLambdaException", "PreAuthentication invocation failed due to error status 502."},
	} {
		h.set("/preauth", tc.answer)
		status, _, out = s.call(t, "InitiateAuth", auth)
		if status != 400 || errType(out) != tc.wantType || out["message"] != tc.msg {
			t.Errorf("InitiateAuth: %d %v, want %s %q", status, out, tc.wantType, tc.msg)
		}
	}

	h.set("/preauth", nil)
	h.set("/pretoken", withResponse(map[string]any{"claimsOverrideDetails": map[string]any{
		"claimsToAddOrOverride": map[string]any{"tenant": "acme", "token_use": "access"}}}))
	status, _, out = s.call(t, "InitiateAuth", auth)
	if status != 200 {
		t.Fatalf("InitiateAuth: %d %v", status, out)
	}
	res, _ := out["AuthenticationResult"].(map[string]any)
	idToken, _ := res["IdToken"].(string)
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("IdToken %q", idToken)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(raw, &claims)
	if claims["tenant"] != "acme" || claims["token_use"] != "id" {
		t.Fatalf("ID token claims %v", claims)
	}
	if ev := h.last(t, "/pretoken"); ev["triggerSource"] != trigger.SourceTokenAuthentication || ev["version"] != "1" {
		t.Fatalf("PreTokenGeneration event %v", ev)
	}
}
