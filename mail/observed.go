package mail

import (
	"context"
	"time"
)

// Observed returns m telling observe, after each Send, the message's kind,
// how long the send took and its error (nil when it was handed over):
// package metrics counts and times the pool's mail through it, whatever
// the sender (SMTP, the outbox, the custom email sender). observe must be
// quick and safe for concurrent use; it is never given the message.
func Observed(m Mailer, observe func(kind string, d time.Duration, err error)) Mailer {
	if observe == nil {
		return m
	}
	return observed{m, observe}
}

type observed struct {
	Mailer
	observe func(kind string, d time.Duration, err error)
}

func (o observed) Send(ctx context.Context, m *Message) error {
	start := time.Now()
	err := o.Mailer.Send(ctx, m)
	o.observe(m.Kind, time.Since(start), err)
	return err
}
