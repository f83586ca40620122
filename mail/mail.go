// Package mail sends the messages of a user pool's account flows: the code
// that confirms an address, the code that resets a password, an invitation
// with a temporary password. It has one small interface, Mailer, and two
// senders behind it:
//
//   - SMTP delivers through a mail server (STARTTLS or implicit TLS, with
//     authentication), using github.com/wneessen/go-mail;
//   - Outbox writes each message to a folder as an .eml file and logs its
//     code, so a development setup needs no mail server.
//
// What a message says comes from Templates: a subject, a text body and an
// HTML body per kind of message, embedded in the binary (templates/mail/)
// and overridable file by file from a folder of the operator's.
//
//	m, err := mail.ParseURL("smtp://user:pass@smtp.example.com:587", mail.Options{
//		From: "Example <no-reply@example.com>",
//	})
//	...
//	msg, err := templates.Render(mail.KindVerifyEmail, mail.Data{Email: to, Code: "123456"})
//	msg.To = to
//	err = m.Send(ctx, msg)
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email to one recipient.
type Message struct {
	// To is the recipient's bare address.
	To string
	// Subject is one line; line breaks are replaced by spaces.
	Subject string
	// Text is the plain-text body, always sent.
	Text string
	// HTML is the HTML body, sent as an alternative to Text when set.
	HTML string

	// Kind names the template the message was made from ("verify_email").
	// Code is the one-time code the message carries, if any. Neither is
	// sent as such; the outbox logs them, so a developer can read a code
	// off the console.
	Kind string
	Code string
}

// Mailer sends messages. Send returns once the message was handed over
// (accepted by the mail server, written to the outbox) or failed; it gives
// up when ctx is done. Implementations are safe for concurrent use.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// DefaultTimeout bounds one delivery when Options.Timeout is zero: connect,
// TLS, authenticate and transfer together.
const DefaultTimeout = 10 * time.Second

// Options are what every sender needs besides where to send.
type Options struct {
	// From is the sender, a bare address or "Name <address>". Required.
	From string
	// Timeout bounds one delivery; 0 means DefaultTimeout.
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// checkFrom parses a From value once, so that a typo fails at start-up and
// not at the first sign-up.
func checkFrom(from string) (*mail.Address, error) {
	if strings.TrimSpace(from) == "" {
		return nil, errors.New("mail: a from address is required")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: from %q: %w", from, err)
	}
	return a, nil
}

// build makes the MIME message both senders deliver: multipart/alternative
// with the text first and the HTML second, as mail clients prefer the last
// part they can show.
func build(from *mail.Address, m *Message) (*gomail.Msg, error) {
	if m == nil {
		return nil, errors.New("mail: nil message")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		return nil, fmt.Errorf("mail: recipient %q is not a bare address", m.To)
	}
	msg := gomail.NewMsg()
	if err := msg.FromFormat(from.Name, from.Address); err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(to.Address); err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDate()
	msg.SetMessageID()
	// Automated mail: ask autoresponders and vacation replies to keep quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// oneLine keeps a subject on one header line whatever a template produced.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
	return strings.TrimSpace(s)
}
