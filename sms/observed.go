package sms

import (
	"context"
	"time"
)

// Observed returns s telling observe, after each Send, the message's kind,
// how long the send took and its error (nil when it was handed over), as
// mail.Observed does for mail. observe is never given the message.
func Observed(s Sender, observe func(kind string, d time.Duration, err error)) Sender {
	if observe == nil {
		return s
	}
	return observed{s, observe}
}

type observed struct {
	Sender
	observe func(kind string, d time.Duration, err error)
}

func (o observed) Send(ctx context.Context, m *Message) error {
	start := time.Now()
	err := o.Sender.Send(ctx, m)
	o.observe(m.Kind, time.Since(start), err)
	return err
}
