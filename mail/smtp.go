package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP delivers messages through a mail server, one connection per message.
type SMTP struct {
	from    *mail.Address
	timeout time.Duration
	host    string
	port    int
	tls     tlsMode
	user    string
	pass    string
	// tlsConfig, when set, replaces the default (system roots, the host's
	// name): tests use it to trust their own server's certificate.
	tlsConfig *tls.Config
	// redacted names the server in errors without its password.
	redacted string
}

type tlsMode int

const (
	// tlsStartTLS upgrades a plain connection with STARTTLS and refuses a
	// server that does not offer it: the default for smtp://.
	tlsStartTLS tlsMode = iota
	// tlsImplicit speaks TLS from the first byte: smtps://, usually port 465.
	tlsImplicit
	// tlsNone sends in the clear: only for a relay on the same machine.
	tlsNone
)

// ParseURL makes an SMTP sender from a URL:
//
//	smtp://user:pass@smtp.example.com:587    STARTTLS, required (port default 587)
//	smtps://user:pass@smtp.example.com:465   TLS from the start (port default 465)
//	smtp://127.0.0.1:25?tls=none             no TLS: a relay on this machine only
//
// User and password are optional (a relay that needs no login) and must be
// percent-encoded when they hold '@', ':' or '/'. With credentials, the
// strongest mechanism the server offers is used, and PLAIN or LOGIN only
// over TLS. tls=none is refused for any host but a loopback one, so that
// codes and passwords never cross a network in the clear.
func ParseURL(raw string, opts Options) (*SMTP, error) {
	from, err := checkFrom(opts.From)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password and all: say less.
		return nil, errors.New("mail: the SMTP URL does not parse (percent-encode '@', ':' and '/' in the user and password)")
	}
	s := &SMTP{from: from, timeout: opts.timeout(), host: u.Hostname(), redacted: u.Redacted()}
	switch u.Scheme {
	case "smtp":
		s.tls, s.port = tlsStartTLS, 587
	case "smtps":
		s.tls, s.port = tlsImplicit, 465
	default:
		return nil, fmt.Errorf("mail: %s: scheme must be smtp or smtps", s.redacted)
	}
	if s.host == "" {
		return nil, fmt.Errorf("mail: %s: no host", s.redacted)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("mail: %s: bad port %q", s.redacted, p)
		}
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return nil, fmt.Errorf("mail: %s: a path or fragment means nothing here", s.redacted)
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return nil, fmt.Errorf("mail: %s: unknown parameter %q (known: tls)", s.redacted, k)
		}
	}
	switch q.Get("tls") {
	case "":
	case "none":
		if u.Scheme != "smtp" {
			return nil, fmt.Errorf("mail: %s: tls=none contradicts smtps", s.redacted)
		}
		if !isLoopback(s.host) {
			return nil, fmt.Errorf("mail: %s: tls=none is only allowed for a server on this machine (localhost, 127.0.0.1, ::1)", s.redacted)
		}
		s.tls = tlsNone
	default:
		return nil, fmt.Errorf("mail: %s: tls=%q (known: none)", s.redacted, q.Get("tls"))
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithTLSConfig returns a copy of s that verifies the server with cfg
// (its RootCAs, say) instead of the system's roots. The server name is
// still the URL's host unless cfg sets one.
func (s *SMTP) WithTLSConfig(cfg *tls.Config) *SMTP {
	c := *s
	c.tlsConfig = cfg.Clone()
	return &c
}

// String names the server without its password.
func (s *SMTP) String() string { return s.redacted }

// Send delivers m. It returns when the server accepted the message, on
// failure, or when ctx is done or the sender's timeout has passed,
// whichever is first: a slow server never holds up the caller for longer.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg, err := build(s.from, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	client, err := s.client()
	if err != nil {
		return err
	}
	// go-mail bounds each step of the conversation by the timeout, not
	// the whole of it: a server that answers every step just in time
	// could stretch it. The caller waits for the timeout at most; the
	// conversation ends on its own when a step times out.
	done := make(chan error, 1)
	go func() { done <- client.DialAndSendWithContext(ctx, msg) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("mail: sending through %s: %w", s.redacted, err)
	}
	return nil
}

func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		// Each read and write of the conversation; Send bounds the whole.
		gomail.WithTimeout(s.timeout),
	}
	switch s.tls {
	case tlsStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsImplicit:
		opts = append(opts, gomail.WithSSL())
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	tc := s.tlsConfig
	if tc == nil {
		tc = &tls.Config{}
	} else {
		tc = tc.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: %s: %w", s.redacted, err)
	}
	return c, nil
}

var _ Mailer = (*SMTP)(nil)
