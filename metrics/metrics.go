// Package metrics holds Gatehouse's Prometheus collectors: sign-ins,
// second factors, lockouts, throttles, sign-ups, tokens issued, bearer-token
// checks, claims refreshes, store latency, mail and text messages, and the
// signing keys' ages. They are registered in the registry Caddy exposes (its metrics
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

	"github.com/gatehouse-auth/gatehouse/mail"
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
	// ClaimsRefreshResults are the outcomes of a gateway's claims refresh.
	ClaimsRefreshResults = []string{middleware.ClaimsRefreshOK, middleware.ClaimsRefreshEnded, middleware.ClaimsRefreshFailed}
	// Surfaces are where a throttle refuses: the hosted pages' posts, the
	// Cognito API's calls, the Cognito admin API's failed signatures.
	Surfaces = []string{SurfaceHostedPages, SurfaceCognitoAPI, SurfaceAdminSignatures}
)

// Throttled surfaces.
const (
	SurfaceHostedPages     = "hosted_pages"
	SurfaceCognitoAPI      = "cognito_api"
	SurfaceAdminSignatures = "admin_signatures"
)

// Other is the label of a value outside its fixed set.
const Other = "other"

// Metrics is the collectors, shared by every pool of a config.
type Metrics struct {
	signIns, signInFailures, secondFactors, lockouts, signUps, confirmations,
	tokens, bearer, throttled, claims, mails, texts *prometheus.CounterVec
	storeLatency, mailDuration, textDuration *prometheus.HistogramVec
	keys                                     *keyAges
}

// On registers the collectors in reg, or finds them there when an earlier
// config (a reload) registered them.
func On(reg prometheus.Registerer) *Metrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gatehouse", Name: name, Help: help}, labels))
	}
	h := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "gatehouse", Name: name, Help: help, Buckets: buckets}, labels))
	}
	return &Metrics{
		claims:         c("claims_refreshes_total", "Gateway claims refreshes (a session's claims re-read from the pool and re-signed), by pool and result (ok, ended, failed).", "pool", "result"),
		storeLatency:   h("store_operation_duration_seconds", "Time of a store operation (one store.Store method, one transaction), failed ones included, by pool and operation.", StoreBuckets, "pool", "operation"),
		mails:          c("mails_total", "Mail handed to the pool's sender (SMTP, outbox or custom email sender), by pool, kind and outcome (sent, failed, timeout).", "pool", "kind", "outcome"),
		mailDuration:   h("mail_send_duration_seconds", "Time of one mail's delivery to the sender, failed ones included, by pool.", SendBuckets, "pool"),
		texts:          c("text_messages_total", "Text messages handed to the custom SMS sender, by pool, kind and outcome (sent, failed, timeout).", "pool", "kind", "outcome"),
		textDuration:   h("text_message_send_duration_seconds", "Time of one text message's delivery to the sender, by pool.", SendBuckets, "pool"),
		keys:           register(reg, newKeyAges()),
		signIns:        c("sign_ins_total", "Sessions granted, by pool and first factor (password, passkey, federated, custom, email_otp, other).", "pool", "method"),
		signInFailures: c("sign_in_failures_total", "Sign-ins refused, by pool and reason.", "pool", "reason"),
		secondFactors:  c("second_factors_total", "Second factors, by pool and result (ok, failed, recovery_code, remembered_device).", "pool", "result"),
		lockouts:       c("lockouts_total", "Logins locked out after too many failures, by pool.", "pool"),
		signUps:        c("sign_ups_total", "Sign-ups stored (unconfirmed), by pool.", "pool"),
		confirmations:  c("confirmations_total", "Sign-ups confirmed with their code, by pool.", "pool"),
		tokens:         c("tokens_issued_total", "Token responses of the OIDC token endpoint, by pool and grant type.", "pool", "grant_type"),
		throttled:      c("throttled_total", "Requests refused by a per-client throttle (429), by pool and surface (hosted_pages, cognito_api, admin_signatures).", "pool", "surface"),
		bearer:         c("bearer_checks_total", "Bearer tokens presented to a gateway, by result (verified, cached, refused, revoked, issuer_down).", "pool", "result"),
	}
}

// register registers c in reg, or returns the collector an earlier config
// registered under the same name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
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
	name                                                                string
	m                                                                   *Metrics
	signIns, failures, secondFactors, tokens, bearer, claims, throttled counters
	lockouts, signUps, confirmations                                    prometheus.Counter
	storeOps                                                            map[string]*lazyObserver
	mails, texts                                                        sendCounters
	mailDuration, textDuration                                          prometheus.Observer
}

// Pool makes the counters of the pool named name.
func (m *Metrics) Pool(name string) *Pool {
	return &Pool{
		name:          name,
		m:             m,
		claims:        makeCounters(m.claims, name, ClaimsRefreshResults),
		throttled:     makeCounters(m.throttled, name, Surfaces),
		storeOps:      storeObservers(m.storeLatency, name),
		mails:         makeSendCounters(m.mails, name, mail.Kinds),
		texts:         makeSendCounters(m.texts, name, smsKinds),
		mailDuration:  m.mailDuration.WithLabelValues(name),
		textDuration:  m.textDuration.WithLabelValues(name),
		signIns:       makeCounters(m.signIns, name, SignInMethods),
		failures:      makeCounters(m.signInFailures, name, FailureReasons),
		secondFactors: makeCounters(m.secondFactors, name, SecondFactorResults),
		tokens:        makeCounters(m.tokens, name, Grants),
		bearer:        makeCounters(m.bearer, name, BearerResults),
		lockouts:      m.lockouts.WithLabelValues(name),
		signUps:       m.signUps.WithLabelValues(name),
		confirmations: m.confirmations.WithLabelValues(name),
	}
}

// Observe counts a pool event (pool.Config.Observe).
func (p *Pool) Observe(e store.AuditEvent) {
	switch e.Type {
	case pool.AuditSignIn:
		amr := e.Detail["amr"]
		p.signIns.inc(method(amr))
		if r := secondFactor(amr, e.Detail["method"]); r != "" {
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

// secondFactor is the second factor's result in a sign-in's amr and the
// step that ended it (pool's Detail "method"): "ok" for a code or key
// after a first factor, "remembered_device" when the device stood in for
// one, "" when there was none (a passkey alone is both factors at once) or
// it was a recovery code (counted by its own event). Without a method (an
// older event) amr "pwd mfa" is taken for a remembered device.
func secondFactor(amr, how string) string {
	if !hasWord(amr, pool.AMRMFA) || !hasWord(amr, pool.AMRPassword) && !hasWord(amr, pool.AMRFederated) {
		return ""
	}
	switch {
	case hasWord(amr, pool.AMROTP) || hasWord(amr, pool.AMRHardwareKey):
		return "ok"
	case how == "remembered_device" || how == "":
		return "remembered_device"
	}
	return ""
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

// Throttle returns t counting its refusals under surface (one of
// Surfaces); nil for nil (no throttle). Wrap each user of a shared
// throttle apart, and keep the throttle itself for what needs its type.
func (p *Pool) Throttle(t ratelimit.Throttle, surface string) ratelimit.Throttle {
	if t == nil {
		return nil
	}
	c, ok := p.throttled[surface]
	if !ok {
		c = p.throttled[Other]
	}
	return countedThrottle{t, c}
}

// ClaimsRefreshed counts a gateway's claims refresh
// (middleware.Config.ClaimsRefreshed).
func (p *Pool) ClaimsRefreshed(result string) { p.claims.inc(result) }

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
