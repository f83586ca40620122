package sms

import (
	"context"
	"errors"
	"testing"
	"time"
)

type senderFunc func(context.Context, *Message) error

func (f senderFunc) Send(ctx context.Context, m *Message) error { return f(ctx, m) }

// Observed reports each send's kind, time and error, never the message,
// and passes the sender's answer through unchanged.
func TestObserved(t *testing.T) {
	refused := errors.New("receiver refused")
	var kinds []string
	var errs []error
	s := Observed(senderFunc(func(_ context.Context, m *Message) error {
		if m.Kind == KindInvitation {
			return refused
		}
		return nil
	}), func(kind string, d time.Duration, err error) {
		if d <= 0 {
			t.Errorf("%s: duration %v", kind, d)
		}
		kinds, errs = append(kinds, kind), append(errs, err)
	})
	if err := s.Send(t.Context(), &Message{To: "+15555550100", Kind: KindMFACode, Code: "123456"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), &Message{To: "+15555550100", Kind: KindInvitation}); !errors.Is(err, refused) {
		t.Fatalf("the sender's error became %v", err)
	}
	if len(kinds) != 2 || kinds[0] != KindMFACode || errs[0] != nil || kinds[1] != KindInvitation || !errors.Is(errs[1], refused) {
		t.Errorf("observed %v %v", kinds, errs)
	}
	if _, ok := Observed(senderFunc(nil), nil).(senderFunc); !ok {
		t.Error("a nil observer still wrapped the sender")
	}
}
