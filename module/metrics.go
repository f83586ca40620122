package module

import (
	"context"

	"github.com/caddyserver/caddy/v2"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/metrics"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/sms"
)

// poolMetrics returns the pool's counters in Caddy's metrics registry
// (package metrics), nil outside a server (the CLI).
func poolMetrics(ctx context.Context, name string) *metrics.Pool {
	cctx, ok := ctx.(caddy.Context)
	if !ok {
		return nil
	}
	reg := cctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	return metrics.On(reg).Pool(name)
}

// tokensIssued is m's counter of token grants for oidc.Config, nil
// without metrics.
func tokensIssued(m *metrics.Pool) func(string) {
	if m == nil {
		return nil
	}
	return m.TokenIssued
}

// bearerChecked is m's counter of bearer checks for middleware.Config,
// nil without metrics.
func bearerChecked(m *metrics.Pool) func(string) {
	if m == nil {
		return nil
	}
	return m.BearerChecked
}

// countThrottle is t counting its refusals in m under surface (one of
// metrics.Surfaces), t itself without metrics.
func countThrottle(m *metrics.Pool, surface string, t ratelimit.Throttle) ratelimit.Throttle {
	if m == nil {
		return t
	}
	return m.Throttle(t, surface)
}

// claimsRefreshed is m's counter of claims refreshes for
// middleware.Config, nil without metrics.
func claimsRefreshed(m *metrics.Pool) func(string) {
	if m == nil {
		return nil
	}
	return m.ClaimsRefreshed
}

// observeSends counts and times the pool's mail and text messages in m,
// whatever their sender.
func observeSends(m *metrics.Pool, acct *pool.AccountConfig) {
	if acct.Mail != nil {
		acct.Mail.Mailer = mail.Observed(acct.Mail.Mailer, m.MailSent)
	}
	if acct.SMS != nil {
		acct.SMS.Sender = sms.Observed(acct.SMS.Sender, m.TextSent)
	}
}
