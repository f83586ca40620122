package customsender

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// receiver is a real HTTP receiver behind real trigger webhooks; status
// 0 answers the event back.
type receiver struct {
	mu     sync.Mutex
	events []map[string]any
	status int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	rc.mu.Lock()
	rc.events = append(rc.events, ev)
	status := rc.status
	rc.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"message":"provider down"}`))
		return
	}
	_, _ = w.Write(body)
}

func hooks(t *testing.T, rc *receiver) trigger.Invoker {
	t.Helper()
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	w, err := trigger.New([]trigger.Hook{
		{Kind: trigger.CustomSMSSender, URL: srv.URL + "/sms", Secret: trigger.NewSecret(), Timeout: 2 * time.Second},
		{Kind: trigger.CustomEmailSender, URL: srv.URL + "/email", Secret: trigger.NewSecret(), Timeout: 2 * time.Second},
	}, trigger.Options{UserPoolID: "us-east-1_Test"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestEventsAsCognitoSendsThem(t *testing.T) {
	rc := &receiver{}
	inv := hooks(t, rc)
	ctx := t.Context()
	for kind, src := range smsSources {
		if err := (SMS{Triggers: inv}).Send(ctx, &sms.Message{To: "+15555550100", Kind: kind, Code: "123456", Text: "t", UserID: "u1", Login: "ada@example.com"}); err != nil {
			t.Fatalf("SMS %s: %v", kind, err)
		}
		ev := rc.events[len(rc.events)-1]
		req, _ := ev["request"].(map[string]any)
		attrs, _ := req["userAttributes"].(map[string]any)
		if ev["triggerSource"] != src || req["type"] != "customSMSSenderRequestV1" || req["code"] != "123456" ||
			attrs["phone_number"] != "+15555550100" || attrs["sub"] != "u1" || ev["userPoolId"] != "us-east-1_Test" {
			t.Errorf("SMS %s: event %v", kind, ev)
		}
	}
	for kind, src := range emailSources {
		if err := (Email{Triggers: inv}).Send(ctx, &mail.Message{To: "ada@example.com", Kind: kind, Code: "654321", Subject: "s", Text: "t"}); err != nil {
			t.Fatalf("email %s: %v", kind, err)
		}
		ev := rc.events[len(rc.events)-1]
		req, _ := ev["request"].(map[string]any)
		msg, _ := req["message"].(map[string]any)
		if ev["triggerSource"] != src || req["type"] != "customEmailSenderRequestV1" || req["code"] != "654321" || msg["subject"] != "s" {
			t.Errorf("email %s: event %v", kind, ev)
		}
	}
}

func TestRefusalIsAnError(t *testing.T) {
	rc := &receiver{status: http.StatusBadGateway}
	inv := hooks(t, rc)
	err := (SMS{Triggers: inv}).Send(t.Context(), &sms.Message{To: "+15555550100", Kind: sms.KindMFACode, Code: "123456"})
	if _, ok := errors.AsType[*trigger.Error](err); !ok {
		t.Fatalf("a refusing receiver: %v (%T), want a *trigger.Error", err, err)
	}
	if err := (SMS{}).Send(t.Context(), &sms.Message{Kind: sms.KindMFACode}); err == nil {
		t.Error("no trigger configured, and no error")
	}
	if err := (Email{Triggers: inv}).Send(t.Context(), &mail.Message{To: "a@example.com", Kind: "nope"}); err == nil {
		t.Error("an unknown kind, and no error")
	}
}
