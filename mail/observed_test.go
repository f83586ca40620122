package mail_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/mail"
)

type mailerFunc func(context.Context, *mail.Message) error

func (f mailerFunc) Send(ctx context.Context, m *mail.Message) error { return f(ctx, m) }

// Observed reports each send's kind, time and error, and passes the
// sender's answer through unchanged.
func TestObserved(t *testing.T) {
	refused := errors.New("550 no such mailbox")
	type seen struct {
		kind string
		d    time.Duration
		err  error
	}
	var got []seen
	m := mail.Observed(mailerFunc(func(_ context.Context, m *mail.Message) error {
		if m.To == "bounce@example.com" {
			return refused
		}
		return nil
	}), func(kind string, d time.Duration, err error) { got = append(got, seen{kind, d, err}) })
	if err := m.Send(t.Context(), &mail.Message{To: "a@example.com", Kind: mail.KindVerifyEmail}); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), &mail.Message{To: "bounce@example.com", Kind: mail.KindResetPassword}); !errors.Is(err, refused) {
		t.Fatalf("the sender's error became %v", err)
	}
	if len(got) != 2 || got[0].kind != mail.KindVerifyEmail || got[0].err != nil || got[0].d <= 0 ||
		got[1].kind != mail.KindResetPassword || !errors.Is(got[1].err, refused) {
		t.Errorf("observed %+v", got)
	}
	plain := mailerFunc(func(context.Context, *mail.Message) error { return nil })
	if _, ok := mail.Observed(plain, nil).(mailerFunc); !ok {
		t.Error("a nil observer still wrapped the mailer")
	}
}
