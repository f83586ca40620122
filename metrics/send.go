package metrics

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/sms"
)

// SendOutcomes are the outcomes of handing a mail or a text message to
// its sender.
var SendOutcomes = []string{"sent", "failed", "timeout"}

// SendBuckets are the send histograms' buckets, in seconds, up to the
// longest timeout a sender is given.
var SendBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// smsKinds are the kinds of text message.
var smsKinds = []string{sms.KindVerifyPhone, sms.KindMFACode, sms.KindResetPassword, sms.KindInvitation}

// sendCounters are one pool's counters by kind, then outcome (in the
// order of SendOutcomes).
type sendCounters map[string]*[3]prometheus.Counter

func makeSendCounters(v *prometheus.CounterVec, pool string, kinds []string) sendCounters {
	cs := sendCounters{}
	for _, kind := range slices.Concat(kinds, []string{Other}) {
		var byOutcome [3]prometheus.Counter
		for i, o := range SendOutcomes {
			byOutcome[i] = v.WithLabelValues(pool, kind, o)
		}
		cs[kind] = &byOutcome
	}
	return cs
}

func (cs sendCounters) count(kind string, err error) {
	byOutcome, ok := cs[kind]
	if !ok {
		byOutcome = cs[Other]
	}
	byOutcome[outcome(err)].Inc()
}

// outcome is err's index in SendOutcomes: sent, failed, or timeout when
// the sender ran out of time (the context's deadline, or a network
// timeout).
func outcome(err error) int {
	if err == nil {
		return 0
	}
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout() {
		return 2
	}
	return 1
}

// MailSent counts and times one mail (the observer of mail.Observed).
func (p *Pool) MailSent(kind string, d time.Duration, err error) {
	p.mails.count(kind, err)
	p.mailDuration.Observe(d.Seconds())
}

// TextSent counts and times one text message (the observer of
// sms.Observed).
func (p *Pool) TextSent(kind string, d time.Duration, err error) {
	p.texts.count(kind, err)
	p.textDuration.Observe(d.Seconds())
}
