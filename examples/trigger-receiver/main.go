// Command trigger-receiver is a Gatehouse trigger receiver written with
// the standard library alone: it checks each call's Standard Webhooks
// signature and timestamp, drops replays, and answers three triggers the
// way a Cognito Lambda would:
//
//   - pre_sign_up (POST /pre-sign-up): only addresses at -domain may sign
//     up, and they are confirmed at once;
//   - pre_token_generation (POST /pre-token-generation): adds a "tenant"
//     claim (version 1 and 2 answers);
//   - custom_message (POST /custom-message): a branded confirmation mail.
//
// Run it beside Gatehouse:
//
//	GATEHOUSE_HOOK_SECRET=whsec_... trigger-receiver -listen 127.0.0.1:9000 -domain example.com
//
// and name it in the pool block:
//
//	trigger pre_sign_up http://127.0.0.1:9000/pre-sign-up {
//		secret {env.GATEHOUSE_HOOK_SECRET}
//	}
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tolerance is how far a call's timestamp may be from our clock.
const tolerance = 5 * time.Minute

// receiver checks calls and remembers the ids it has seen for as long as
// a replay of them could pass the timestamp check.
type receiver struct {
	key    []byte
	domain string
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time
}

func newReceiver(secret, domain string) (*receiver, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("the secret starts with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the secret is whsec_ and base64")
	}
	return &receiver{key: key, domain: strings.ToLower(domain), now: time.Now, seen: map[string]time.Time{}}, nil
}

// verify is the Standard Webhooks check: headers present, timestamp near,
// one v1 signature right (compared in constant time), id not seen before.
func (rc *receiver) verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	now := rc.now()
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp too far from now")
	}
	m := hmac.New(sha256.New, rc.key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	ok := false
	for _, sig := range strings.Fields(sigs) {
		if v, b64, found := strings.Cut(sig, ","); found && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	if !ok {
		return errors.New("no valid signature")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for old, at := range rc.seen {
		if now.Sub(at) > 2*tolerance {
			delete(rc.seen, old)
		}
	}
	if _, dup := rc.seen[id]; dup {
		return errors.New("replayed webhook-id")
	}
	rc.seen[id] = now
	return nil
}

// event is the part of Cognito's event this receiver reads; the rest goes
// back as it came.
type event map[string]any

func (e event) request() map[string]any {
	r, _ := e["request"].(map[string]any)
	return r
}

func (rc *receiver) handle(answer func(event) (map[string]any, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "POST an event", http.StatusBadRequest)
			return
		}
		if err := rc.verify(r.Header, body); err != nil {
			log.Printf("refused a call: %v", err)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var ev event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		resp, deny := answer(ev)
		if deny != "" {
			// A refusal: Gatehouse shows the message (Cognito's
			// "PreSignUp failed with error <message>.").
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": deny})
			return
		}
		ev["response"] = resp
		_ = json.NewEncoder(w).Encode(ev)
	}
}

func (rc *receiver) preSignUp(ev event) (map[string]any, string) {
	attrs, _ := ev.request()["userAttributes"].(map[string]any)
	email, _ := attrs["email"].(string)
	if !strings.HasSuffix(strings.ToLower(email), "@"+rc.domain) {
		return nil, "Only " + rc.domain + " addresses may sign up"
	}
	return map[string]any{"autoConfirmUser": true, "autoVerifyEmail": true}, ""
}

func (rc *receiver) preTokenGeneration(ev event) (map[string]any, string) {
	claims := map[string]any{"tenant": rc.domain}
	if ev["version"] == "1" {
		return map[string]any{"claimsOverrideDetails": map[string]any{"claimsToAddOrOverride": claims}}, ""
	}
	return map[string]any{"claimsAndScopeOverrideDetails": map[string]any{
		"idTokenGeneration":     map[string]any{"claimsToAddOrOverride": claims},
		"accessTokenGeneration": map[string]any{"claimsToAddOrOverride": claims},
	}}, ""
}

func (rc *receiver) customMessage(ev event) (map[string]any, string) {
	code, _ := ev.request()["codeParameter"].(string) // "{####}": Gatehouse puts the code in
	switch ev["triggerSource"] {
	case "CustomMessage_SignUp", "CustomMessage_ResendCode":
		return map[string]any{"emailSubject": "Welcome to " + rc.domain,
			"emailMessage": "<p>Welcome! Your confirmation code is <b>" + code + "</b>.</p>"}, ""
	}
	return map[string]any{}, "" // the pool's own message
}

func (rc *receiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/pre-sign-up", rc.handle(rc.preSignUp))
	mux.Handle("/pre-token-generation", rc.handle(rc.preTokenGeneration))
	mux.Handle("/custom-message", rc.handle(rc.customMessage))
	return mux
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	domain := flag.String("domain", "example.com", "the only email domain that may sign up")
	flag.Parse()
	rc, err := newReceiver(os.Getenv("GATEHOUSE_HOOK_SECRET"), *domain)
	if err != nil {
		log.Fatalf("GATEHOUSE_HOOK_SECRET: %v", err)
	}
	srv := &http.Server{Addr: *listen, Handler: rc.routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("trigger receiver on http://%s", *listen)
	log.Fatal(srv.ListenAndServe())
}
