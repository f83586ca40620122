package oidc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv/oauthtest"
	"github.com/gatehouse-auth/gatehouse/internal/testenv/web"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// federatedSignInPath stands in, on the test issuer, for the hosted pages'
// callback from an outside provider: it does what that callback does once
// a connector has checked the provider's answer (pool.InitiateFederatedAuth,
// then the session), for the identity its query names. The connectors and
// the callback itself are tested with them.
const federatedSignInPath = "/_test/federated-signin"

func federatedSignIn(w http.ResponseWriter, r *http.Request, pl *pool.Pool, gw *middleware.Gateway) {
	q := r.URL.Query()
	step, err := pl.InitiateFederatedAuth(r.Context(), pool.FederatedAuth{
		Identity: pool.ExternalIdentity{Provider: q.Get("provider"), ProviderType: q.Get("type"), Issuer: q.Get("issuer"),
			Subject: q.Get("sub"), Email: q.Get("email"), EmailVerified: true,
			Attributes: map[string]string{"name": q.Get("name")}},
		CreateUsers: true, Client: r.Host,
	})
	if err != nil || step.Auth == nil {
		http.Error(w, "federated sign-in did not finish", http.StatusForbidden)
		return
	}
	if err := gw.Start(w, r, step.Auth.User, step.Auth.AMR); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// federated is the issuer as a relying party sees it when its users sign
// in at the outside provider id (who, by email).
func (s *issuer) federated(id pool.ExternalIdentity) *oauthtest.Issuer {
	return &oauthtest.Issuer{URL: s.url, OP: s.op, SignIn: func(t *testing.T, c *http.Client, rd, email string) {
		t.Helper()
		q := url.Values{"provider": {id.Provider}, "type": {id.ProviderType}, "issuer": {id.Issuer},
			"sub": {id.Subject}, "email": {email}, "name": {"Ada Lovelace"}}
		if resp, body := web.Get(t, c, s.url+federatedSignInPath+"?"+q.Encode(), nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("federated sign-in: %d %s", resp.StatusCode, body)
		}
	}}
}

// identitiesOf decodes the identities claim as a relying party would.
func identitiesOf(t *testing.T, claims map[string]any) []map[string]any {
	t.Helper()
	raw, ok := claims["identities"]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(raw)
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("identities claim %s: %v", b, err)
	}
	return out
}

// TestFederatedUserTokens: a user a provider created gets Cognito's
// identities claim and the <provider>_<subject> username, in tokens the
// relying party verifies, at sign-in and after a refresh.
func TestFederatedUserTokens(t *testing.T) {
	t.Parallel()
	s := startIssuer(t, issuerOptions{})
	google := pool.ExternalIdentity{Provider: "google", ProviderType: "Google", Issuer: "https://accounts.google.com", Subject: "1098765"}
	c := web.Browser(t)
	rp := s.webapp()
	got, n := s.federated(google).Login(t, c, rp, adaEmail)
	if n != 1 {
		t.Fatalf("signed in %d times", n)
	}
	u, err := s.store.UserByEmail(context.Background(), adaEmail)
	if err != nil || u.Status != store.StatusExternalProvider || len(u.Identities) != 1 {
		t.Fatalf("the federated user: %+v, %v", u, err)
	}
	check := func(t *testing.T, what string, id map[string]any, access string) {
		t.Helper()
		if id["sub"] != u.ID || id["cognito:username"] != "google_1098765" || id["email"] != adaEmail || id["name"] != "Ada Lovelace" {
			t.Errorf("%s: ID token sub %v, cognito:username %v, email %v, name %v", what, id["sub"], id["cognito:username"], id["email"], id["name"])
		}
		if amr, _ := json.Marshal(id["amr"]); string(amr) != `["fed"]` {
			t.Errorf("%s: amr %s, want [\"fed\"]", what, amr)
		}
		ids := identitiesOf(t, id)
		want := map[string]any{"userId": "1098765", "providerName": "google", "providerType": "Google",
			"issuer": "https://accounts.google.com", "primary": "true",
			"dateCreated": strconv.FormatInt(u.Identities[0].CreatedAt.UnixMilli(), 10)}
		if len(ids) != 1 || !sameJSON(ids[0], want) {
			t.Errorf("%s: identities %v, want [%v]", what, ids, want)
		}
		ac := jwtClaims(t, access)
		if ac["username"] != "google_1098765" || ac["sub"] != u.ID {
			t.Errorf("%s: access token username %v, sub %v", what, ac["username"], ac["sub"])
		}
	}
	check(t, "sign-in", got.Claim, got.Tok.AccessToken)

	tok, err := rp.Refresh(got.Tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	refreshed := oauthtest.VerifyTokens(t, rp, tok, "")
	check(t, "refresh", refreshed.Claim, tok.AccessToken)

	// userinfo names the user alike.
	resp, body := web.Get(t, http.DefaultClient, s.url+"/oauth2/userInfo", http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	var info map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &info) != nil || info["username"] != "google_1098765" {
		t.Errorf("userinfo: %d %s", resp.StatusCode, body)
	}
}

// TestLinkedNativeUserTokens: a native user keeps their username (their
// id) and gets the identities claim once they link a provider, with
// issuer null for a provider that names none; without identities there is
// no claim at all.
func TestLinkedNativeUserTokens(t *testing.T) {
	t.Parallel()
	s, ada, c, first := signedInAda(t)
	if _, ok := first.Claim["identities"]; ok {
		t.Errorf("a user without identities has the claim: %v", first.Claim["identities"])
	}
	if err := s.pool.LinkIdentity(context.Background(), ada, pool.ExternalIdentity{Provider: "corp", ProviderType: "SAML", Subject: "ada@corp"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Login(t, c, s.webapp(), adaEmail)
	if got.Claim["cognito:username"] != ada.ID {
		t.Errorf("cognito:username %v, want the user's id %s", got.Claim["cognito:username"], ada.ID)
	}
	ids := identitiesOf(t, got.Claim)
	if len(ids) != 1 || ids[0]["providerName"] != "corp" || ids[0]["providerType"] != "SAML" || ids[0]["userId"] != "ada@corp" ||
		ids[0]["primary"] != "false" || ids[0]["issuer"] != nil {
		t.Errorf("identities %v", ids)
	}
	if v, ok := ids[0]["issuer"]; !ok || v != nil {
		t.Errorf("issuer %v (present %v), want null", v, ok)
	}
	if ac := jwtClaims(t, got.Tok.AccessToken); ac["username"] != ada.ID {
		t.Errorf("access token username %v", ac["username"])
	}
}

func sameJSON(got, want map[string]any) bool {
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	if !slices.Equal(keys(got), keys(want)) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
