package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
)

// wantCounts checks that reg holds each counter of want, at its value (0
// too: a series that should exist, unmoved), and returns counts(t, reg).
func wantCounts(t *testing.T, reg *prometheus.Registry, want map[string]float64) map[string]float64 {
	t.Helper()
	got := counts(t, reg)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	return got
}

// counts gathers reg's gatehouse counters as "name{v1,v2}" -> value.
func counts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[key(mf.GetName(), m)] = m.GetCounter().GetValue()
		}
	}
	return got
}

func key(name string, m *dto.Metric) string {
	k := name + "{"
	for i, l := range m.GetLabel() {
		if i > 0 {
			k += ","
		}
		k += l.GetValue()
	}
	return k + "}"
}

// Events are counted under bounded labels: a reason or grant outside the
// fixed sets is "other", and no user id or address is a label.
func TestObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := On(reg).Pool("main")
	On(reg).Pool("main") // a reload registers nothing twice
	for _, e := range []store.AuditEvent{
		{Type: pool.AuditSignIn, UserID: "u1", Login: "a@example.com", Detail: map[string]string{"amr": "pwd"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "pwd otp mfa"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "pwd mfa"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "pwd mfa", "method": "remembered_device"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "pwd mfa", "method": "second_factor"}}, // a recovery code
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "hwk mfa"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "fed"}},
		{Type: pool.AuditSignIn, Detail: map[string]string{"amr": "otp"}},
		{Type: pool.AuditSignInFailed, Login: "b@example.com", Reason: "invalid_credentials"},
		{Type: pool.AuditSignInFailed, Reason: "wrong_mfa_code"},
		{Type: pool.AuditSignInFailed, Reason: "something the future adds"},
		{Type: pool.AuditLockedOut, Login: "b@example.com"},
		{Type: pool.AuditRecoveryCodeUsed},
		{Type: pool.EventSignedUp},
		{Type: pool.EventConfirmed, UserID: "u2"},
		{Type: pool.AuditPasswordChanged},
	} {
		p.Observe(e)
	}
	p.TokenIssued(oidc.GrantAuthorizationCode)
	p.TokenIssued("urn:made:up")
	p.BearerChecked(middleware.BearerCached)
	got := wantCounts(t, reg, map[string]float64{
		"gatehouse_sign_ins_total{password,main}":                    5,
		"gatehouse_sign_ins_total{passkey,main}":                     1,
		"gatehouse_sign_ins_total{federated,main}":                   1,
		"gatehouse_sign_ins_total{email_otp,main}":                   1,
		"gatehouse_second_factors_total{main,ok}":                    1,
		"gatehouse_second_factors_total{main,remembered_device}":     2,
		"gatehouse_second_factors_total{main,failed}":                1,
		"gatehouse_second_factors_total{main,recovery_code}":         1,
		"gatehouse_sign_in_failures_total{main,invalid_credentials}": 1,
		"gatehouse_sign_in_failures_total{main,other}":               1,
		"gatehouse_lockouts_total{main}":                             1,
		"gatehouse_sign_ups_total{main}":                             1,
		"gatehouse_confirmations_total{main}":                        1,
		"gatehouse_tokens_issued_total{authorization_code,main}":     1,
		"gatehouse_tokens_issued_total{other,main}":                  1,
		"gatehouse_bearer_checks_total{main,cached}":                 1,
		"gatehouse_bearer_checks_total{main,verified}":               0,
	})
	for k := range got {
		for _, secret := range []string{"u1", "u2", "example.com", "future", "made"} {
			if strings.Contains(k, secret) {
				t.Errorf("a label holds %q: %s", secret, k)
			}
		}
	}
}

// Counting on a request's path allocates nothing.
func TestCountingAllocatesNothing(t *testing.T) {
	p := On(prometheus.NewRegistry()).Pool("main")
	if n := testing.AllocsPerRun(1000, func() { p.BearerChecked(middleware.BearerCached) }); n != 0 {
		t.Errorf("BearerChecked: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { p.TokenIssued(oidc.GrantRefreshToken) }); n != 0 {
		t.Errorf("TokenIssued: %v allocations, want 0", n)
	}
	p.StoreOperation("UserByID", time.Millisecond) // made at first use
	if n := testing.AllocsPerRun(1000, func() { p.StoreOperation("UserByID", time.Millisecond) }); n != 0 {
		t.Errorf("StoreOperation: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { p.ClaimsRefreshed(middleware.ClaimsRefreshOK) }); n != 0 {
		t.Errorf("ClaimsRefreshed: %v allocations, want 0", n)
	}
}

// A throttle's refusals are counted, its passes not.
func TestThrottleCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := On(reg).Pool("main")
	if p.Throttle(nil, SurfaceHostedPages) != nil {
		t.Fatal("no throttle became one")
	}
	shared := ratelimit.New(ratelimit.Limits{Rate: 0.001, Burst: 2})
	pages, api := p.Throttle(shared, SurfaceHostedPages), p.Throttle(shared, SurfaceCognitoAPI)
	for range 5 {
		pages.Allow(t.Context(), "client")
	}
	api.Allow(t.Context(), "client")
	p.Throttle(shared, "made up").Allow(t.Context(), "client")
	wantCounts(t, reg, map[string]float64{
		"gatehouse_throttled_total{main,hosted_pages}":     3,
		"gatehouse_throttled_total{main,cognito_api}":      1,
		"gatehouse_throttled_total{main,admin_signatures}": 0,
		"gatehouse_throttled_total{main,other}":            1,
	})
}
