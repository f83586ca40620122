package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/trigger"
)

// The receiver against Gatehouse's own webhook client: signed calls are
// answered, forged and replayed ones refused.
func TestReceiver(t *testing.T) {
	secret := trigger.NewSecret()
	rc, err := newReceiver(secret, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	var lastHeader http.Header
	var lastBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastHeader = r.Header.Clone()
		lastBody, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(lastBody))
		rc.routes().ServeHTTP(w, r)
	}))
	defer srv.Close()
	hooks, err := trigger.New([]trigger.Hook{
		{Kind: trigger.PreSignUp, URL: srv.URL + "/pre-sign-up", Secret: secret},
		{Kind: trigger.PreTokenGeneration, URL: srv.URL + "/pre-token-generation", Secret: secret, EventVersion: "2"},
	}, trigger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signUp := func(email string) (trigger.PreSignUpResponse, error) {
		var resp trigger.PreSignUpResponse
		err := hooks.Invoke(ctx, trigger.PreSignUp, &trigger.Event{TriggerSource: trigger.SourcePreSignUpSignUp,
			Request: trigger.PreSignUpRequest{UserAttributes: map[string]string{"email": email}}}, &resp)
		return resp, err
	}
	if resp, err := signUp("ann@example.com"); err != nil || !resp.AutoConfirmUser {
		t.Fatalf("allowed sign-up: %+v %v", resp, err)
	}
	_, err = signUp("eve@example.net")
	var te *trigger.Error
	if !errors.As(err, &te) || !te.Denied || !strings.Contains(te.Reason, "Only example.com") {
		t.Fatalf("denied sign-up: %v", err)
	}
	var tok trigger.PreTokenGenerationResponse
	if err := hooks.Invoke(ctx, trigger.PreTokenGeneration, &trigger.Event{TriggerSource: trigger.SourceTokenHostedAuth}, &tok); err != nil ||
		tok.ClaimsAndScopeOverrideDetails == nil || tok.ClaimsAndScopeOverrideDetails.IDTokenGeneration.ClaimsToAddOrOverride["tenant"] != "example.com" {
		t.Fatalf("pre token generation: %+v %v", tok, err)
	}

	// A replay of the last call (same id, signature and body) is refused,
	// and so is the call with its body altered.
	if err := rc.verify(lastHeader, lastBody); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("a replayed call: %v", err)
	}
	lastHeader.Set("webhook-id", "msg_other")
	if err := rc.verify(lastHeader, append(lastBody, ' ')); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("an altered call: %v", err)
	}
	// Signed with another secret: refused.
	other, _ := trigger.New([]trigger.Hook{{Kind: trigger.PreSignUp, URL: srv.URL + "/pre-sign-up", Secret: trigger.NewSecret()}}, trigger.Options{})
	err = other.Invoke(ctx, trigger.PreSignUp, &trigger.Event{TriggerSource: trigger.SourcePreSignUpSignUp}, nil)
	if !errors.As(err, &te) || te.Denied || !strings.Contains(te.Reason, "401") {
		t.Fatalf("forged call: %v", err)
	}
}
