// Package metrics holds Gatehouse's Prometheus collectors: sign-ins,
// second factors, lockouts, sign-ups, tokens issued and bearer-token
// checks. They are registered in the registry Caddy exposes (its metrics
// handler and admin /metrics), beside Caddy's own and the trigger calls.
//
// Labels are bounded: the pool's name (from the config), and values from
// fixed sets; never a user id, an address or anything a client chose.
// Every counter is made before traffic, so that counting on a request's
// path is a map read and an atomic add, with no allocation.
package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Label values. Any value outside these sets is counted as Other.
var (
	// SignInMethods are the first factors of a sign-in, named by its amr.
	SignInMethods = []string{"password", "passkey", "federated", "custom", "email_otp"}
	// FailureReasons are why a sign-in was refused (pool's audit reasons)
	// and the triggers that refused one.
	FailureReasons = []string{"invalid_credentials", "user_disabled", "not_confirmed", "locked_out",
		"wrong_mfa_code", "reset_required", "temporary_password_expired", "pre_authentication", "post_authentication"}
	// SecondFactorResults are the outcomes of a second factor.
	SecondFactorResults = []string{"ok", "failed", "recovery_code", "remembered_device"}
	// Grants are the token endpoint's grant types.
	Grants = []string{oidc.GrantAuthorizationCode, oidc.GrantRefreshToken, oidc.GrantClientCredentials}
	// BearerResults are the results of a bearer token's check.
	BearerResults = []string{middleware.BearerVerified, middleware.BearerCached, middleware.BearerRefused,
		middleware.BearerRevoked, middleware.BearerIssuerDown}
)

// Other is the label of a value outside its fixed set.
const Other = "other"

// Metrics is the collectors, shared by every pool of a config.
type Metrics struct {
	signIns, signInFailures, secondFactors, lockouts, signUps, confirmations,
	tokens, bearer, throttled *prometheus.CounterVec
}

// On registers the collectors in reg, or finds them there when an earlier
// config (a reload) registered them.
func On(reg prometheus.Registerer) *Metrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gatehouse", Name: name, Help: help}, labels)
		if err := reg.Register(v); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				return are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
		return v
	}
	return &Metrics{
		signIns:        c("sign_ins_total", "Sessions granted, by pool and first factor (password, passkey, federated, custom, email_otp, other).", "pool", "method"),
		signInFailures: c("sign_in_failures_total", "Sign-ins refused, by pool and reason.", "pool", "reason"),
		secondFactors:  c("second_factors_total", "Second factors, by pool and result (ok, failed, recovery_code, remembered_device).", "pool", "result"),
		lockouts:       c("lockouts_total", "Logins locked out after too many failures, by pool.", "pool"),
		signUps:        c("sign_ups_total", "Sign-ups stored (unconfirmed), by pool.", "pool"),
		confirmations:  c("confirmations_total", "Sign-ups confirmed with their code, by pool.", "pool"),
		tokens:         c("tokens_issued_total", "Token responses of the OIDC token endpoint, by pool and grant type.", "pool", "grant_type"),
		throttled:      c("throttled_total", "Hosted-page posts refused by the per-client throttle (429), by pool.", "pool"),
		bearer:         c("bearer_checks_total", "Bearer tokens presented to a gateway, by result (verified, cached, refused, revoked, issuer_down).", "pool", "result"),
	}
}

// counters is one label's counters, made before any traffic.
type counters map[string]prometheus.Counter

func makeCounters(v *prometheus.CounterVec, poolName string, values []string) counters {
	cs := counters{Other: v.WithLabelValues(poolName, Other)}
	for _, s := range values {
		cs[s] = v.WithLabelValues(poolName, s)
	}
	return cs
}

func (cs counters) inc(value string) {
	c, ok := cs[value]
	if !ok {
		c = cs[Other]
	}
	c.Inc()
}

// Pool is the counters of one pool.
type Pool struct {
	signIns, failures, secondFactors, tokens, bearer counters
	lockouts, signUps, confirmations, throttled      prometheus.Counter
}

// Pool makes the counters of the pool named name.
func (m *Metrics) Pool(name string) *Pool {
	return &Pool{
		signIns:       makeCounters(m.signIns, name, SignInMethods),
		failures:      makeCounters(m.signInFailures, name, FailureReasons),
		secondFactors: makeCounters(m.secondFactors, name, SecondFactorResults),
		tokens:        makeCounters(m.tokens, name, Grants),
		bearer:        makeCounters(m.bearer, name, BearerResults),
		lockouts:      m.lockouts.WithLabelValues(name),
		signUps:       m.signUps.WithLabelValues(name),
		confirmations: m.confirmations.WithLabelValues(name),
		throttled:     m.throttled.WithLabelValues(name),
	}
}

// Observe counts a pool event (pool.Config.Observe).
func (p *Pool) Observe(e store.AuditEvent) {
	switch e.Type {
	case pool.AuditSignIn:
		amr := e.Detail["amr"]
		p.signIns.inc(method(amr))
		if r := secondFactor(amr); r != "" {
			p.secondFactors.inc(r)
		}
	case pool.AuditSignInFailed:
		p.failures.inc(e.Reason)
		if e.Reason == "wrong_mfa_code" {
			p.secondFactors.inc("failed")
		}
	case pool.AuditRecoveryCodeUsed:
		p.secondFactors.inc("recovery_code")
	case pool.AuditLockedOut:
		p.lockouts.Inc()
	case pool.EventSignedUp:
		p.signUps.Inc()
	case pool.EventConfirmed:
		p.confirmations.Inc()
	}
}

// secondFactor is the second factor's result in a sign-in's amr: "ok"
// for a code or key after a first factor, "remembered_device" when the
// device stood in for one, "" when there was none (a passkey alone is
// both factors at once).
func secondFactor(amr string) string {
	if !hasWord(amr, pool.AMRMFA) || !hasWord(amr, pool.AMRPassword) && !hasWord(amr, pool.AMRFederated) {
		return ""
	}
	if hasWord(amr, pool.AMROTP) || hasWord(amr, pool.AMRHardwareKey) {
		return "ok"
	}
	return "remembered_device"
}

// method names a sign-in's first factor from its amr (space separated).
func method(amr string) string {
	switch {
	case hasWord(amr, pool.AMRFederated):
		return "federated"
	case hasWord(amr, pool.AMRCustom):
		return "custom"
	case hasWord(amr, pool.AMRHardwareKey) && !hasWord(amr, pool.AMRPassword):
		return "passkey"
	case hasWord(amr, pool.AMRPassword):
		return "password"
	case hasWord(amr, pool.AMROTP):
		return "email_otp"
	}
	return Other
}

func hasWord(list, w string) bool {
	for f := range strings.FieldsSeq(list) {
		if f == w {
			return true
		}
	}
	return false
}

// TokenIssued counts a token response (oidc.Config.TokensIssued).
func (p *Pool) TokenIssued(grantType string) { p.tokens.inc(grantType) }

// BearerChecked counts a bearer token's check
// (middleware.Config.BearerChecked). It does not allocate.
func (p *Pool) BearerChecked(result string) { p.bearer.inc(result) }

// Throttle returns t counting its refusals; nil for nil (no throttle).
func (p *Pool) Throttle(t ratelimit.Throttle) ratelimit.Throttle {
	if t == nil {
		return nil
	}
	return countedThrottle{t, p.throttled}
}

type countedThrottle struct {
	ratelimit.Throttle
	refused prometheus.Counter
}

func (t countedThrottle) Allow(ctx context.Context, key string) (bool, time.Duration) {
	ok, wait := t.Throttle.Allow(ctx, key)
	if !ok {
		t.refused.Inc()
	}
	return ok, wait
}
