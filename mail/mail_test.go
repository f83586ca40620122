package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/mail"
)

const from = "Example Corp <no-reply@example.com>"

func message(t *testing.T, kind, to, code string) *mail.Message {
	t.Helper()
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(kind, mail.Data{DisplayName: "Example Corp", Email: to, Code: code,
		Link: "https://app.example.com/_gatehouse/confirm?code=" + code, Expires: "24 hours"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSMTPDelivery sends through a real SMTP server in each way a pool can
// be set up to, and reads the code back out of what arrived.
func TestSMTPDelivery(t *testing.T) {
	cases := []struct {
		name    string
		opts    testenv.SMTPOptions
		wantTLS bool
	}{
		{"plain on loopback", testenv.SMTPOptions{}, false},
		{"STARTTLS", testenv.SMTPOptions{TLS: true}, true},
		{"STARTTLS with AUTH", testenv.SMTPOptions{TLS: true, User: "gatehouse", Password: "s3cret:/@"}, true},
		{"implicit TLS with AUTH", testenv.SMTPOptions{TLS: true, Implicit: true, User: "gatehouse", Password: "s3cret"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartSMTP(t, tc.opts)
			raw := srv.URL()
			if tc.opts.User != "" {
				// Percent-encode as an operator would have to.
				raw = strings.Replace(raw, tc.opts.Password, "s3cret%3A%2F%40", 1)
				if tc.opts.Implicit {
					raw = srv.URL()
				}
			}
			s, err := mail.ParseURL(raw, mail.Options{From: from, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if roots := srv.RootCAs(); roots != nil {
				s = s.WithTLSConfig(&tls.Config{RootCAs: roots})
			}
			if strings.Contains(s.String(), tc.opts.Password) && tc.opts.Password != "" {
				t.Errorf("String() %q shows the password", s.String())
			}
			if err := s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "482913")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.WaitFor(t, "ada@example.com", 1, 5*time.Second)
			if code := got.Code(t); code != "482913" {
				t.Errorf("code in the text body = %s, want 482913", code)
			}
			if !strings.Contains(got.HTML, "482913") || !strings.Contains(got.HTML, "<a href=\"https://app.example.com/_gatehouse/confirm?code=482913\"") {
				t.Errorf("HTML body lacks the code or the link:\n%s", got.HTML)
			}
			if !strings.Contains(got.Subject, "Example Corp") || !strings.Contains(got.Subject, "482913") {
				t.Errorf("subject %q", got.Subject)
			}
			if got.From != "no-reply@example.com" {
				t.Errorf("envelope from %q", got.From)
			}
			if got.TLS != tc.wantTLS {
				t.Errorf("over TLS = %v, want %v", got.TLS, tc.wantTLS)
			}
			if got.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", got.Header.Get("Auto-Submitted"))
			}
			if tc.opts.User != "" && srv.Authenticated() != 1 {
				t.Errorf("authenticated sessions = %d, want 1", srv.Authenticated())
			}
		})
	}
}

func TestSMTPRefusals(t *testing.T) {
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := testenv.StartSMTP(t, testenv.SMTPOptions{})
		s, err := mail.ParseURL("smtp://"+srv.Addr, mail.Options{From: from, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111")); err == nil {
			t.Fatal("sent without TLS to a server that offers no STARTTLS")
		}
		if srv.Count() != 0 {
			t.Errorf("server accepted %d messages", srv.Count())
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := testenv.StartSMTP(t, testenv.SMTPOptions{TLS: true})
		s, err := mail.ParseURL(srv.URL(), mail.Options{From: from, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111")); err == nil {
			t.Fatal("sent to a server whose certificate nobody vouches for")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := testenv.StartSMTP(t, testenv.SMTPOptions{TLS: true, User: "u", Password: "right"})
		s, err := mail.ParseURL("smtp://u:wrong@"+srv.Addr, mail.Options{From: from, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s = s.WithTLSConfig(&tls.Config{RootCAs: srv.RootCAs()})
		err = s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111"))
		if err == nil {
			t.Fatal("sent with a wrong password")
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("error repeats the password: %v", err)
		}
	})
	t.Run("server refuses the message", func(t *testing.T) {
		srv := testenv.StartSMTP(t, testenv.SMTPOptions{})
		srv.SetFailure(errors.New("mailbox busy"))
		s, err := mail.ParseURL(srv.URL(), mail.Options{From: from, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111")); err == nil {
			t.Fatal("Send succeeded though the server refused the message")
		}
		if srv.Rejected() != 1 {
			t.Errorf("rejected = %d, want 1", srv.Rejected())
		}
	})
}

// TestSMTPTimeout: a server that never answers holds Send up for the
// timeout, not longer.
func TestSMTPTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, then say nothing at all
		}
	}()
	s, err := mail.ParseURL("smtp://"+l.Addr().String()+"?tls=none", mail.Options{From: from, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111"))
	took := time.Since(start)
	if err == nil {
		t.Fatal("Send succeeded against a silent server")
	}
	if took > 2*time.Second {
		t.Errorf("Send took %s with a 300ms timeout", took)
	}

	// A slow server that does answer, but after the timeout: the same.
	srv := testenv.StartSMTP(t, testenv.SMTPOptions{})
	srv.SetDelay(3 * time.Second)
	s, err = mail.ParseURL(srv.URL(), mail.Options{From: from, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := s.Send(context.Background(), message(t, mail.KindVerifyEmail, "ada@example.com", "111111")); err == nil {
		t.Fatal("Send succeeded though the server answered after the timeout")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send took %s with a 300ms timeout", took)
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		url     string
		wantErr string
	}{
		{"smtp://smtp.example.com", ""},
		{"smtp://user:pass@smtp.example.com:587", ""},
		{"smtps://user:pass@smtp.example.com", ""},
		{"smtp://127.0.0.1:25?tls=none", ""},
		{"smtp://localhost:1025?tls=none", ""},
		{"smtp://[::1]:25?tls=none", ""},
		{"smtp://smtp.example.com:25?tls=none", "only allowed for a server on this machine"},
		{"smtps://127.0.0.1?tls=none", "contradicts"},
		{"smtp://smtp.example.com?tls=maybe", "tls="},
		{"smtp://smtp.example.com?insecure=1", "unknown parameter"},
		{"http://smtp.example.com", "scheme"},
		{"smtp://", "no host"},
		{"smtp://smtp.example.com:99999", "bad port"},
		{"smtp://smtp.example.com/path", "path"},
		{"smtp://user:p@ss@smtp.example.com", ""}, // Go's parser takes the last '@'
		{"smtp://us er:secret@smtp.example.com\x7f", "does not parse"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			_, err := mail.ParseURL(tc.url, mail.Options{From: from})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
	for _, f := range []string{"", "not an address", "a@b.c, d@e.f"} {
		if _, err := mail.ParseURL("smtp://smtp.example.com", mail.Options{From: f}); err == nil {
			t.Errorf("from %q accepted", f)
		}
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	core, logs := observer.New(zapcore.InfoLevel)
	o, err := mail.NewOutbox(dir, mail.Options{From: from}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("outbox folder: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	m := message(t, mail.KindResetPassword, "grace@example.com", "654321")
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), "-reset_password-"+entries[0].Name()[len(entries[0].Name())-12:]) {
		t.Fatalf("outbox holds %v, want one reset_password .eml", entries)
	}
	path := filepath.Join(dir, entries[0].Name())
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("message file mode %v, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"To: <grace@example.com>", "multipart/alternative", "text/plain", "text/html", "654321"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf(".eml lacks %q", want)
		}
	}
	entriesLogged := logs.FilterMessageSnippet("outbox").All()
	if len(entriesLogged) != 1 {
		t.Fatalf("logged %d outbox lines, want 1", len(entriesLogged))
	}
	fields := entriesLogged[0].ContextMap()
	if fields["code"] != "654321" || fields["to"] != "grace@example.com" || fields["file"] != path {
		t.Errorf("log fields %v", fields)
	}

	if err := o.Send(context.Background(), &mail.Message{To: "Grace <grace@example.com>", Subject: "x", Text: "x"}); err == nil {
		t.Error("a display name in To was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Send(ctx, m); err == nil {
		t.Error("Send with a cancelled context succeeded")
	}
}

func TestTemplates(t *testing.T) {
	tmpl, err := mail.LoadTemplates(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range mail.Kinds {
		t.Run(kind, func(t *testing.T) {
			m, err := tmpl.Render(kind, mail.Data{DisplayName: "Acme <Staff> & Co", Email: "ada@example.com",
				Code: "123456", Link: "https://x.example/_gatehouse/confirm?email=ada%40example.com&code=123456",
				Expires: "1 hour", TemporaryPassword: "Temp-<b>-Pass", SignInURL: "https://x.example/_gatehouse/signin"})
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != kind || m.To != "ada@example.com" || m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("message %+v", m)
			}
			if strings.Contains(m.HTML, "<Staff>") || strings.Contains(m.HTML, "<b>") {
				t.Errorf("HTML body does not escape values:\n%s", m.HTML)
			}
			if !strings.Contains(m.Subject+m.Text, "Acme <Staff> & Co") {
				t.Errorf("text body escapes values it should not:\n%s", m.Text)
			}
		})
	}

	// An override replaces one file and leaves the rest.
	over := fstest.MapFS{
		"verify_email.txt": {Data: []byte(`{{define "subject"}}Code {{.Code}}{{end}}{{define "text"}}Your code: {{.Code}}{{end}}`)},
	}
	tmpl, err = mail.LoadTemplates(over, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(mail.KindVerifyEmail, mail.Data{Email: "a@example.com", Code: "999999"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Code 999999" || m.Text != "Your code: 999999" {
		t.Errorf("override not used: %q / %q", m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, "999999") {
		t.Errorf("embedded HTML not kept beside the override")
	}

	bad := []struct {
		name string
		fs   fstest.MapFS
	}{
		{"syntax", fstest.MapFS{"invitation.html": {Data: []byte(`{{if}}`)}}},
		{"no subject", fstest.MapFS{"invitation.txt": {Data: []byte(`{{define "text"}}x{{end}}`)}}},
		{"unknown field", fstest.MapFS{"invitation.txt": {Data: []byte(`{{define "subject"}}{{.Nope}}{{end}}{{define "text"}}x{{end}}`)}}},
		{"empty subject", fstest.MapFS{"invitation.txt": {Data: []byte(`{{define "subject"}} {{end}}{{define "text"}}x{{end}}`)}}},
	}
	for _, tc := range bad {
		if _, err := mail.LoadTemplates(tc.fs, nil); err == nil || !strings.Contains(err.Error(), "invitation") {
			t.Errorf("%s: error %v, want one naming invitation", tc.name, err)
		}
	}
	if _, err := mail.LoadTemplatesDir(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("a missing override folder was accepted")
	}
}
