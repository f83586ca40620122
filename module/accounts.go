package module

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gatehouse-auth/gatehouse/customsender"
	"github.com/gatehouse-auth/gatehouse/hostedui"
	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// VerificationConfig tunes the codes a pool mails.
type VerificationConfig struct {
	// CodeTTL is how long an address confirmation code works. Default 24h.
	CodeTTL caddy.Duration `json:"code_ttl,omitempty"`
	// ResetCodeTTL is how long a password reset code works. Default 1h.
	ResetCodeTTL caddy.Duration `json:"reset_code_ttl,omitempty"`
	// MaxAttempts wrong codes use a code up. Default 5.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// ResendCooldown is how soon another code may be sent. Default 1m.
	ResendCooldown caddy.Duration `json:"resend_cooldown,omitempty"`
	// SignInUnverified lets users sign in before confirming their address,
	// with email_verified false.
	SignInUnverified bool `json:"sign_in_unverified,omitempty"`
}

// MailConfig is how a pool sends mail: through an SMTP server, or into an
// outbox folder for development.
type MailConfig struct {
	// SMTP is an smtp:// or smtps:// URL (see mail.ParseURL); placeholders
	// such as {env.SMTP_PASSWORD} work.
	SMTP string `json:"smtp,omitempty"`
	// Outbox is a folder to write messages to instead of sending them.
	Outbox string `json:"outbox,omitempty"`
	// From is the sender, "Name <address>" or a bare address. Required
	// with SMTP; default "Gatehouse <no-reply@localhost>" with Outbox.
	From string `json:"from,omitempty"`
	// Timeout bounds one sending. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// LinkBase is the site origin that links in messages point to, such as
	// https://app.example.com. Default: the pool's issuer. Without either,
	// messages carry codes only.
	LinkBase string `json:"link_base,omitempty"`
	// Templates is a folder whose files replace the embedded message
	// templates of the same name (templates/mail/<kind>.txt and .html).
	Templates string `json:"templates,omitempty"`
}

const defaultOutboxFrom = "Gatehouse <no-reply@localhost>"

// validateAccounts checks the account settings without opening anything.
func validateAccounts(c *PoolConfig) error {
	switch c.SignUp {
	case "", pool.SignUpInvite, pool.SignUpOff:
	case pool.SignUpOpen:
		if c.Mail == nil && !hasTrigger(c, trigger.CustomEmailSender) {
			return errors.New("signup open: a mail sender is needed for confirmation codes (for example: mail outbox ./data/outbox)")
		}
	default:
		return fmt.Errorf("signup %q: want open, invite or off", c.SignUp)
	}
	if err := pool.ValidateAttributes(c.Attributes); err != nil {
		return err
	}
	v := c.Verification
	if v.CodeTTL < 0 || v.ResetCodeTTL < 0 || v.ResendCooldown < 0 || c.TemporaryPasswordTTL < 0 {
		return errors.New("verification and temporary_password_ttl durations must be positive")
	}
	if c.ReauthWindow < 0 || time.Duration(c.ReauthWindow) > time.Hour {
		return fmt.Errorf("reauth_window %s: want a duration from 1s to 1h", time.Duration(c.ReauthWindow))
	}
	if c.ReauthClock != "" {
		if _, ok := clocks.Load(c.ReauthClock); !ok {
			return fmt.Errorf("reauth_clock %q: no clock of that name is registered (RegisterClock)", c.ReauthClock)
		}
	}
	if v.MaxAttempts < 0 || v.MaxAttempts > 100 {
		return fmt.Errorf("verification max_attempts %d: want 1 to 100", v.MaxAttempts)
	}
	if m := c.Mail; m != nil {
		switch {
		case (m.SMTP == "") == (m.Outbox == ""):
			return errors.New("mail: give either an smtp:// URL or outbox <folder>")
		case m.SMTP != "" && m.From == "":
			return errors.New(`mail: a from address is required (mail smtp://... { from "Example <no-reply@example.com>" })`)
		case m.Timeout < 0:
			return errors.New("mail timeout: must be positive")
		}
		if m.LinkBase != "" {
			u, err := url.Parse(m.LinkBase)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("mail link_base %q: must be a site origin such as https://app.example.com", m.LinkBase)
			}
		}
	}
	return nil
}

// accountConfig turns the pool's account settings into the pool's own,
// opening the mail sender and parsing the message templates. Errors say
// which setting is wrong; a password in an SMTP URL is never repeated.
// The custom sender triggers among hooks deliver in place of SMTP
// (custom_email_sender) and are the pool's only SMS (custom_sms_sender).
func accountConfig(ctx context.Context, name string, c *PoolConfig, hooks trigger.Invoker, locales *locale.Catalog) (pool.AccountConfig, error) {
	v := c.Verification
	acct := pool.AccountConfig{
		SignUp:               c.SignUp,
		Attributes:           c.Attributes,
		CodeTTL:              time.Duration(v.CodeTTL),
		ResetCodeTTL:         time.Duration(v.ResetCodeTTL),
		MaxAttempts:          v.MaxAttempts,
		ResendCooldown:       time.Duration(v.ResendCooldown),
		SignInUnverified:     v.SignInUnverified,
		TemporaryPasswordTTL: time.Duration(c.TemporaryPasswordTTL),
		AllowDelete:          c.AccountDeletion,
		SignInWith:           c.SignInWith,
		ReauthWindow:         time.Duration(c.ReauthWindow),
	}
	display := c.DisplayName
	if display == "" {
		display = name
	}
	logger, outboxLogger := mailLoggers(ctx)
	logger, outboxLogger = logger.With(zap.String("pool", name)), outboxLogger.With(zap.String("pool", name))
	if trigger.Configured(hooks, trigger.CustomSMSSender) {
		acct.SMS = &pool.Texter{Sender: customsender.SMS{Triggers: hooks}, DisplayName: display, Logger: logger}
	}
	hookMail := trigger.Configured(hooks, trigger.CustomEmailSender)
	m := c.Mail
	if m == nil && hookMail {
		m = &MailConfig{} // the hook delivers; the templates are the embedded ones
	}
	if m == nil {
		return acct, nil
	}
	repl := caddy.NewReplacer()
	opts := mail.Options{From: repl.ReplaceKnown(m.From, ""), Timeout: time.Duration(m.Timeout)}
	var (
		mailer mail.Mailer
		err    error
	)
	switch {
	case hookMail:
		// The hook replaces SMTP (and the outbox): nothing is sent
		// another way.
		mailer = customsender.Email{Triggers: hooks}
	case m.Outbox != "":
		if opts.From == "" {
			opts.From = defaultOutboxFrom
		}
		mailer, err = mail.NewOutbox(repl.ReplaceKnown(m.Outbox, ""), opts, outboxLogger)
	default:
		mailer, err = mail.ParseURL(repl.ReplaceKnown(m.SMTP, ""), opts)
	}
	if err != nil {
		return acct, err
	}
	tmpl, err := mail.LoadTemplatesDir(repl.ReplaceKnown(m.Templates, ""), locales)
	if err != nil {
		return acct, err
	}
	base := m.LinkBase
	if base == "" {
		if u, err := url.Parse(c.Issuer); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && (u.Path == "" || u.Path == "/") {
			base = u.Scheme + "://" + u.Host
		}
	}
	acct.Mail = &pool.Messenger{
		Mailer:      mailer,
		Templates:   tmpl,
		DisplayName: display,
		Link: func(purpose, email, code string) string {
			return hostedui.CodeLink(base, purpose, email, code)
		},
		SignInURL: hostedui.SignInURL(base),
		Timeout:   time.Duration(m.Timeout),
		Logger:    logger,
	}
	return acct, nil
}

// mailLoggers returns the loggers of the pool's messenger and of its
// outbox: Caddy's logger for both in the server. In the CLI, a failure is
// the command's one-line error, so the messenger logs nothing, and the
// outbox's line (with the code) goes to stderr, so that it is seen.
func mailLoggers(ctx context.Context) (messenger, outbox *zap.Logger) {
	if cc, ok := ctx.(caddy.Context); ok {
		return cc.Logger(), cc.Logger()
	}
	enc := zap.NewDevelopmentEncoderConfig()
	return zap.NewNop(), zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), zapcore.InfoLevel))
}

// hasTrigger reports whether the pool block names a hook of kind k.
func hasTrigger(c *PoolConfig, k trigger.Kind) bool {
	for _, tc := range c.Triggers {
		if trigger.Kind(tc.Kind) == k {
			return true
		}
	}
	return false
}
