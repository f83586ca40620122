package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-auth/gatehouse/trigger"
)

// triggerAnswer is a pre token generation answer of typical size.
var triggerAnswer = []byte(`{"version":"2","triggerSource":"TokenGeneration_HostedAuth","response":{"claimsAndScopeOverrideDetails":{` +
	`"idTokenGeneration":{"claimsToAddOrOverride":{"tenant":"acme","plan":"gold"},"claimsToSuppress":["phone_number"]},` +
	`"accessTokenGeneration":{"scopesToAdd":["orders/read"]}}}}`)

// triggerReceiver answers every POST with triggerAnswer after reading the
// body: the least a receiver does, so what is measured is the call.
func triggerReceiver(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(triggerAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func triggerEvent() *trigger.Event {
	return &trigger.Event{Version: "2", TriggerSource: trigger.SourceTokenHostedAuth, UserName: "3cf934c8-898c-48d9-8a11-2c6a2939ce46",
		CallerContext: trigger.CallerContext{ClientID: "webapp"},
		Request: trigger.PreTokenGenerationRequest{
			UserAttributes: map[string]string{"sub": "3cf934c8-898c-48d9-8a11-2c6a2939ce46", "email": "ada@example.com",
				"email_verified": "true", "name": "Ada Lovelace", "cognito:user_status": "CONFIRMED"},
			Scopes:             []string{"openid", "email", "profile"},
			GroupConfiguration: trigger.GroupConfiguration{GroupsToOverride: []string{"staff"}, IAMRolesToOverride: []string{}}},
		Response: trigger.PreTokenGenerationResponse{}}
}

// BenchmarkTriggerCall is one Webhooks.Invoke on loopback, connection
// kept alive: the event encoded, signed, POSTed, the answer read and its
// response decoded.
func BenchmarkTriggerCall(b *testing.B) {
	srv := triggerReceiver(b)
	w, err := trigger.New([]trigger.Hook{{Kind: trigger.PreTokenGeneration, URL: srv.URL, Secret: trigger.NewSecret(), EventVersion: "2"}}, trigger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var resp trigger.PreTokenGenerationResponse
		if err := w.Invoke(ctx, trigger.PreTokenGeneration, triggerEvent(), &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTriggerCallParallel is BenchmarkTriggerCall from every core.
func BenchmarkTriggerCallParallel(b *testing.B) {
	srv := triggerReceiver(b)
	w, err := trigger.New([]trigger.Hook{{Kind: trigger.PreTokenGeneration, URL: srv.URL, Secret: trigger.NewSecret(), EventVersion: "2"}}, trigger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var resp trigger.PreTokenGenerationResponse
			if err := w.Invoke(context.Background(), trigger.PreTokenGeneration, triggerEvent(), &resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLoopbackPOST is the floor under BenchmarkTriggerCall: a bare
// kept-alive POST of the same bytes to the same receiver, nothing signed
// or decoded.
func BenchmarkLoopbackPOST(b *testing.B) {
	srv := triggerReceiver(b)
	body := bytes.Repeat([]byte("x"), 560) // about the signed event's size
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// BenchmarkTriggerSign is the Standard Webhooks signature of one event.
func BenchmarkTriggerSign(b *testing.B) {
	s, _ := trigger.ParseSecret(trigger.NewSecret())
	body := bytes.Repeat([]byte("x"), 560)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, body)
	}
}
