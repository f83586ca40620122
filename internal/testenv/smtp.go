package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions shape a test mail server.
type SMTPOptions struct {
	// TLS offers STARTTLS with a certificate made for the test (see
	// SMTPServer.RootCAs); with Implicit, TLS starts at once (smtps).
	TLS      bool
	Implicit bool
	// User and Password, when set, are required (AUTH PLAIN, over TLS only
	// unless TLS is off, when the server allows it in the clear).
	User, Password string
}

// SMTPServer is a real SMTP server on loopback (github.com/emersion/go-smtp)
// that keeps every message it accepts, for tests that read a code out of a
// mail the way a person would.
type SMTPServer struct {
	// Addr is host:port.
	Addr string
	Host string
	Port int

	server  *smtp.Server
	roots   *x509.CertPool
	opts    SMTPOptions
	mu      sync.Mutex
	cond    *sync.Cond
	msgs    []*ReceivedMail
	delay   time.Duration
	hold    chan struct{} // while non-nil, DATA waits until it is closed
	holding int           // messages waiting on hold
	fail    error
	authed  int
	rejects int
}

// ReceivedMail is one accepted message, parsed.
type ReceivedMail struct {
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	Raw     []byte
	Header  mail.Header
	// TLS reports whether the message came over an encrypted connection.
	TLS bool
}

// StartSMTP starts a server on 127.0.0.1, stopped when the test ends.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s := &SMTPServer{opts: opts}
	s.cond = sync.NewCond(&s.mu)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.AllowInsecureAuth = !opts.TLS
	if opts.TLS {
		cert, roots := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.roots = roots
	}
	var l net.Listener
	var err error
	if opts.TLS && opts.Implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.server = srv
	s.Addr = l.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	return s
}

// URL is the smtp:// URL a pool's mail option takes for this server.
func (s *SMTPServer) URL() string {
	userinfo := ""
	if s.opts.User != "" {
		userinfo = s.opts.User + ":" + s.opts.Password + "@"
	}
	switch {
	case s.opts.TLS && s.opts.Implicit:
		return fmt.Sprintf("smtps://%s%s", userinfo, s.Addr)
	case s.opts.TLS:
		return fmt.Sprintf("smtp://%s%s", userinfo, s.Addr)
	}
	return fmt.Sprintf("smtp://%s%s?tls=none", userinfo, s.Addr)
}

// RootCAs trusts the server's certificate (nil without TLS).
func (s *SMTPServer) RootCAs() *x509.CertPool { return s.roots }

// SetDelay makes the server wait d before answering each DATA: a slow
// server.
func (s *SMTPServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hold makes the server keep every DATA waiting, unanswered, until
// Release: a mail server that has stopped answering. A handler that sends
// mail before it answers cannot answer while the server holds.
func (s *SMTPServer) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release answers the messages Hold kept waiting, and those after them.
func (s *SMTPServer) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Holding is how many messages wait on Hold right now.
func (s *SMTPServer) Holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding
}

// SetFailure makes the server refuse every message with a temporary error
// (451) while err is non-nil.
func (s *SMTPServer) SetFailure(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Messages returns what the server accepted so far, oldest first.
func (s *SMTPServer) Messages() []*ReceivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*ReceivedMail(nil), s.msgs...)
}

// Count returns how many messages were accepted so far.
func (s *SMTPServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Rejected returns how many messages the server refused (SetFailure).
func (s *SMTPServer) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejects
}

// Authenticated returns how many sessions logged in successfully.
func (s *SMTPServer) Authenticated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed
}

// WaitFor returns the n-th message (counting from 1) sent to the address
// to, waiting up to timeout for it; it fails the test if none comes.
func (s *SMTPServer) WaitFor(t testing.TB, to string, n int, timeout time.Duration) *ReceivedMail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		seen := 0
		for _, m := range s.msgs {
			for _, r := range m.To {
				if strings.EqualFold(r, to) {
					seen++
					if seen == n {
						return m
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message #%d to %s within %s (%d messages in all)", n, to, timeout, len(s.msgs))
		}
		s.cond.Wait()
	}
}

// CountTo returns how many messages were accepted for the address to.
func (s *SMTPServer) CountTo(to string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		for _, r := range m.To {
			if strings.EqualFold(r, to) {
				n++
			}
		}
	}
	return n
}

var sixDigits = regexp.MustCompile(`(?m)^\s+(\d{6})\s*$`)

// Code returns the 6-digit code of a message's text body: the number on a
// line of its own, as the templates put it. It fails the test if there is
// none.
func (m *ReceivedMail) Code(t testing.TB) string {
	t.Helper()
	c := sixDigits.FindStringSubmatch(m.Text)
	if c == nil {
		t.Fatalf("message %q has no code in its text:\n%s", m.Subject, m.Text)
	}
	return c[1]
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// Link returns the first URL in the text body, or "".
func (m *ReceivedMail) Link() string {
	return linkRE.FindString(m.Text)
}

type smtpSession struct {
	s      *SMTPServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.User || password != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.authed++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	delay, fail, hold := ss.s.delay, ss.s.fail, ss.s.hold
	if hold != nil {
		ss.s.holding++
	}
	ss.s.mu.Unlock()
	if hold != nil {
		<-hold
		ss.s.mu.Lock()
		ss.s.holding--
		ss.s.mu.Unlock()
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if fail != nil {
		ss.s.mu.Lock()
		ss.s.rejects++
		ss.s.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: fail.Error()}
	}
	m, err := parseMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	m.From, m.To = ss.from, append([]string(nil), ss.to...)
	_, m.TLS = ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.cond.Broadcast()
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// parseMail reads the headers and the text and HTML bodies, decoding
// quoted-printable and base64 parts.
func parseMail(raw []byte) (*ReceivedMail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	m := &ReceivedMail{Raw: raw, Header: msg.Header}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, err
	}
	err = walkParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, m)
	return m, err
}

func walkParts(contentType, encoding string, body io.Reader, m *ReceivedMail) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &lineJoiner{r: body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		m.Text = text
	case "text/html":
		m.HTML = text
	}
	return nil
}

// lineJoiner drops line breaks, which base64.NewDecoder does not skip.
type lineJoiner struct{ r io.Reader }

func (l *lineJoiner) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}
