package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// receiver is a real HTTP endpoint that records what it was sent and
// answers with handle.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []received
	conns  atomic.Int32
}

type received struct {
	header http.Header
	body   []byte
	event  map[string]any
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, ev map[string]any)) *receiver {
	t.Helper()
	rc := &receiver{secret: NewSecret()}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev, kept map[string]any
		_ = json.Unmarshal(body, &ev)
		_ = json.Unmarshal(body, &kept)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, event: kept})
		rc.mu.Unlock()
		handle(w, r, ev)
	}))
	rc.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) calls() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) webhooks(t *testing.T, k Kind, timeout time.Duration, opts Options) *Webhooks {
	t.Helper()
	w, err := New([]Hook{{Kind: k, URL: rc.srv.URL + "/hook?token=q", Secret: rc.secret, Timeout: timeout}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.CloseIdleConnections)
	return w
}

// echo answers like a Cognito Lambda: the event back, with response set.
func echo(response any) func(http.ResponseWriter, *http.Request, map[string]any) {
	return func(w http.ResponseWriter, _ *http.Request, ev map[string]any) {
		ev["response"] = response
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ev)
	}
}

type signUpResponse struct {
	AutoConfirmUser bool `json:"autoConfirmUser"`
	AutoVerifyEmail bool `json:"autoVerifyEmail"`
}

func signUpEvent() *Event {
	return &Event{TriggerSource: "PreSignUp_SignUp", UserName: "ann@example.com",
		CallerContext: CallerContext{ClientID: "web"},
		Request:       map[string]any{"userAttributes": map[string]string{"email": "ann@example.com"}},
		Response:      signUpResponse{}}
}

func TestInvokeSendsSignedCognitoEvent(t *testing.T) {
	rc := newReceiver(t, echo(map[string]any{"autoConfirmUser": true}))
	w := rc.webhooks(t, PreSignUp, 0, Options{Region: "eu-west-1", UserPoolID: "eu-west-1_Abc"})
	var resp signUpResponse
	if err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.AutoConfirmUser || resp.AutoVerifyEmail {
		t.Fatalf("response = %+v, want autoConfirmUser only", resp)
	}
	calls := rc.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	c := calls[0]
	if !independentlyValid(rc.secret, c.header, c.body) {
		t.Fatalf("signature %q does not verify independently", c.header.Get(HeaderSignature))
	}
	s, _ := ParseSecret(rc.secret)
	if err := s.Verify(c.header, c.body, time.Now(), DefaultTolerance); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.header.Get(HeaderID), "msg_") || c.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", c.header)
	}
	for key, want := range map[string]any{"version": "1", "triggerSource": "PreSignUp_SignUp", "region": "eu-west-1",
		"userPoolId": "eu-west-1_Abc", "userName": "ann@example.com"} {
		if c.event[key] != want {
			t.Errorf("event[%s] = %v, want %v", key, c.event[key], want)
		}
	}
	cc, _ := c.event["callerContext"].(map[string]any)
	if cc["clientId"] != "web" || cc["awsSdkVersion"] != "" {
		t.Errorf("callerContext = %v", cc)
	}
	sent, _ := c.event["response"].(map[string]any)
	if sent["autoConfirmUser"] != false || sent["autoVerifyEmail"] != false {
		t.Errorf("response sent = %v, want Cognito's defaults", sent)
	}
}

func TestInvokeSendsEmptyObjectsForNil(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { w.WriteHeader(http.StatusNoContent) })
	w := rc.webhooks(t, PostConfirmation, 0, Options{})
	var resp struct{ X string }
	if err := w.Invoke(context.Background(), PostConfirmation, &Event{TriggerSource: "PostConfirmation_ConfirmSignUp"}, &resp); err != nil {
		t.Fatalf("204 is a success: %v", err)
	}
	body := string(rc.calls()[0].body)
	if !strings.Contains(body, `"request":{}`) || !strings.Contains(body, `"response":{}`) {
		t.Fatalf("body %s: want {} for request and response", body)
	}
}

// Only "response" is read: a receiver cannot rename the user, move the
// pool or change the request by echoing them changed.
func TestInvokeReadsOnlyResponse(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		_, _ = io.WriteString(w, `{"userName":"mallory","userPoolId":"other","request":{"userAttributes":{"email":"x"}},"response":{"autoVerifyEmail":true},"extra":1}`)
	})
	w := rc.webhooks(t, PreSignUp, 0, Options{})
	ev := signUpEvent()
	var resp signUpResponse
	if err := w.Invoke(context.Background(), PreSignUp, ev, &resp); err != nil {
		t.Fatal(err)
	}
	if resp != (signUpResponse{AutoVerifyEmail: true}) || ev.UserName != "ann@example.com" {
		t.Fatalf("resp %+v, event user %q", resp, ev.UserName)
	}
}

func TestInvokeOutcomes(t *testing.T) {
	big := `{"response":{"x":"` + strings.Repeat("a", MaxResponseBytes) + `"}}`
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		denied      bool
		invalid     bool
		reason      string
		message     string
		cognitoType string
	}{
		{name: "deny message", status: 400, body: `{"message":"Only example.org may sign up"}`, denied: true,
			reason: "Only example.org may sign up", message: "PreSignUp failed with error Only example.org may sign up.", cognitoType: "UserLambdaValidationException"},
		{name: "deny Lambda errorMessage", status: 403, body: `{"errorMessage":"no","errorType":"Error"}`, denied: true, reason: "no"},
		{name: "deny with 200 and Lambda's error", status: 200, body: `{"errorMessage":"nope","errorType":"Error"}`, denied: true, reason: "nope"},
		{name: "deny message cleaned", status: 422, body: `{"message":"line1\nline2\u0007"}`, denied: true, reason: "line1 line2"},
		{name: "500 with no message", status: 500, body: `<html>oops</html>`, reason: "status 500",
			message: "PreSignUp invocation failed due to error status 500.", cognitoType: "UnexpectedLambdaException"},
		{name: "400 with empty message", status: 400, body: `{"message":"  "}`, reason: "status 400"},
		{name: "bad JSON", status: 200, body: `{"response":`, invalid: true,
			message: "Unrecognizable lambda output: PreSignUp", cognitoType: "InvalidLambdaResponseException"},
		{name: "not an object", status: 200, body: `[1,2]`, invalid: true},
		{name: "wrong shape", status: 200, body: `{"response":{"autoConfirmUser":"yes"}}`, invalid: true},
		{name: "too large", status: 200, body: big, invalid: true, reason: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			w := rc.webhooks(t, PreSignUp, 0, Options{})
			resp := signUpResponse{}
			err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), &resp)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if te.Kind != PreSignUp || te.Denied != tc.denied || te.Invalid != tc.invalid || te.Timeout {
				t.Fatalf("err = %+v", te)
			}
			if tc.reason != "" && !strings.Contains(te.Reason, tc.reason) {
				t.Errorf("reason %q, want %q", te.Reason, tc.reason)
			}
			if tc.message != "" && te.Message() != tc.message {
				t.Errorf("Message() = %q, want %q", te.Message(), tc.message)
			}
			if tc.cognitoType != "" && te.CognitoType() != tc.cognitoType {
				t.Errorf("CognitoType() = %q, want %q", te.CognitoType(), tc.cognitoType)
			}
			if resp != (signUpResponse{}) {
				t.Errorf("a failed call changed resp: %+v", resp)
			}
		})
	}
}

func TestInvokeDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"response":{"autoConfirmUser":true}}`)
	}))
	defer target.Close()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	w := rc.webhooks(t, PreSignUp, 0, Options{})
	var resp signUpResponse
	err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), &resp)
	var te *Error
	if !errors.As(err, &te) || te.Denied || !strings.Contains(te.Reason, "redirects are not followed") {
		t.Fatalf("err = %v", err)
	}
	if elsewhere.Load() != 0 || resp.AutoConfirmUser {
		t.Fatal("the redirect was followed")
	}
}

// A late answer is no answer: the call ends at the timeout, and what
// comes after it changes nothing.
func TestInvokeTimeoutIgnoresLateAnswer(t *testing.T) {
	release := make(chan struct{})
	answered := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, ev map[string]any) {
		<-release
		echo(map[string]any{"autoConfirmUser": true})(w, r, ev)
		close(answered)
	})
	w := rc.webhooks(t, PreSignUp, 100*time.Millisecond, Options{})
	var resp signUpResponse
	err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), &resp)
	close(release)
	<-answered
	var te *Error
	if !errors.As(err, &te) || !te.Timeout || te.Denied || te.Invalid {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if !strings.Contains(te.Message(), "Socket timeout") || te.CognitoType() != "UnexpectedLambdaException" {
		t.Errorf("Message() = %q, type %s", te.Message(), te.CognitoType())
	}
	if resp.AutoConfirmUser {
		t.Fatal("the late answer was used")
	}
}

func TestInvokeHonoursCallerCancel(t *testing.T) {
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ map[string]any) { <-r.Context().Done() })
	w := rc.webhooks(t, PreSignUp, 0, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var te *Error
	if err := w.Invoke(ctx, PreSignUp, signUpEvent(), nil); !errors.As(err, &te) || te.Denied {
		t.Fatalf("err = %v", err)
	}
}

func TestInvokeKeepsConnectionsAlive(t *testing.T) {
	rc := newReceiver(t, echo(map[string]any{}))
	w := rc.webhooks(t, PreSignUp, 0, Options{})
	for range 5 {
		if err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := rc.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential calls, want 1", n)
	}
}

func TestInvokeHTTPS(t *testing.T) {
	secret := NewSecret()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !independentlyValid(secret, r.Header, body) {
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, `{"response":{"autoVerifyEmail":true}}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	hook := []Hook{{Kind: PreSignUp, URL: srv.URL, Secret: secret}}
	// Without the test CA the certificate does not verify.
	untrusted, _ := New(hook, Options{})
	var te *Error
	if err := untrusted.Invoke(context.Background(), PreSignUp, signUpEvent(), nil); !errors.As(err, &te) || !strings.Contains(te.Reason, "certificate") {
		t.Fatalf("err = %v, want a certificate failure", err)
	}
	trusted, err := New(hook, Options{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	if err != nil {
		t.Fatal(err)
	}
	var resp signUpResponse
	if err := trusted.Invoke(context.Background(), PreSignUp, signUpEvent(), &resp); err != nil || !resp.AutoVerifyEmail {
		t.Fatalf("err %v, resp %+v", err, resp)
	}
}

func TestInvokeUnreachable(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	w, err := New([]Hook{{Kind: PreSignUp, URL: "http://" + addr + "/x", Secret: NewSecret()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var te *Error
	if err := w.Invoke(context.Background(), PreSignUp, signUpEvent(), nil); !errors.As(err, &te) || te.Denied || te.Timeout || strings.Contains(te.Error(), addr) {
		t.Fatalf("err = %v: want a failure that does not name the address", err)
	}
}

func TestNewChecksHooks(t *testing.T) {
	s := NewSecret()
	for _, tc := range []struct {
		hook Hook
		err  string
	}{
		{Hook{Kind: PreSignUp, URL: "https://hooks.example.com/x", Secret: s}, ""},
		{Hook{Kind: PreSignUp, URL: "http://localhost:8080/x", Secret: s}, ""},
		{Hook{Kind: PreSignUp, URL: "http://127.0.0.2/x", Secret: s}, ""},
		{Hook{Kind: PreSignUp, URL: "http://[::1]:9/x", Secret: s}, ""},
		{Hook{Kind: PreSignUp, URL: "http://hooks.example.com/x", Secret: s}, "loopback"},
		{Hook{Kind: PreSignUp, URL: "http://10.0.0.1/x", Secret: s}, "loopback"},
		{Hook{Kind: PreSignUp, URL: "ftp://localhost/x", Secret: s}, "https"},
		{Hook{Kind: PreSignUp, URL: "/relative", Secret: s}, "absolute"},
		{Hook{Kind: PreSignUp, URL: "https://u:p@hooks.example.com/", Secret: s}, "credentials"},
		{Hook{Kind: PreSignUp, URL: "https://hooks.example.com/", Secret: "plain"}, "whsec_"},
		{Hook{Kind: PreSignUp, URL: "https://hooks.example.com/", Secret: s, Timeout: time.Minute}, "timeout"},
		{Hook{Kind: "pre_signup", URL: "https://hooks.example.com/", Secret: s}, "unknown kind"},
	} {
		_, err := New([]Hook{tc.hook}, Options{})
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.hook.URL, err, tc.err)
		}
	}
	_, err := New([]Hook{{Kind: PreSignUp, URL: "https://a.example/", Secret: s}, {Kind: PreSignUp, URL: "https://b.example/", Secret: s}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate hook: %v", err)
	}
}

// "localhost" is only a name; plain HTTP is held to loopback at the socket.
func TestPlainHTTPDialsOnlyLoopback(t *testing.T) {
	if err := loopbackOnly("tcp", "10.1.2.3:80", nil); err == nil {
		t.Fatal("a plain-http hook may dial 10.1.2.3")
	}
	if err := loopbackOnly("tcp", "[::1]:80", nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigured(t *testing.T) {
	var none Invoker
	if Configured(none, PreSignUp) {
		t.Fatal("a nil Invoker is configured")
	}
	var nilHooks *Webhooks
	if nilHooks.Configured(PreSignUp) || nilHooks.Invoke(context.Background(), PreSignUp, &Event{}, nil) == nil {
		t.Fatal("a nil *Webhooks calls")
	}
	w, _ := New([]Hook{{Kind: PreSignUp, URL: "https://a.example/", Secret: NewSecret()}}, Options{})
	if !Configured(w, PreSignUp) || Configured(w, PostConfirmation) {
		t.Fatal("Configured is wrong")
	}
}

// Logs name the trigger and outcome, never the secret, the query of the
// URL or what the event carries (codes, passwords).
func TestLogsHoldNoSecrets(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { w.WriteHeader(500) })
	core, logs := observer.New(zap.DebugLevel)
	var calls []Call
	w := rc.webhooks(t, CustomMessage, 0, Options{Logger: zap.New(core), Observe: func(c Call) { calls = append(calls, c) }})
	ev := &Event{TriggerSource: "CustomMessage_SignUp", UserName: "ann@example.com",
		Request: map[string]any{"codeParameter": "482910", "password": "hunter2-secret"}}
	_ = w.Invoke(context.Background(), CustomMessage, ev, nil)
	if logs.Len() != 1 {
		t.Fatalf("%d log lines, want 1", logs.Len())
	}
	line, _ := json.Marshal(logs.All()[0].ContextMap())
	for _, secret := range []string{"482910", "hunter2", strings.TrimPrefix(rc.secret, "whsec_"), "token=q"} {
		if strings.Contains(string(line), secret) {
			t.Errorf("log line holds %q: %s", secret, line)
		}
	}
	if len(calls) != 1 || calls[0].Outcome() != "failed" || calls[0].Status != 500 || calls[0].TriggerSource != "CustomMessage_SignUp" {
		t.Fatalf("observed %+v", calls)
	}
}
