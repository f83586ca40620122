package mail

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/gatehouse-auth/gatehouse/locale"
)

// Duration says d in l, rounded up to its largest whole unit: "2 days",
// "24 hours", "10 minutes".
func Duration(l *locale.Language, d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return l.T("{{.Count}} days", "Count", int64(d/(24*time.Hour)))
	case d >= time.Hour:
		return l.T("{{.Count}} hours", "Count", int64((d+time.Hour-1)/time.Hour))
	case d >= time.Minute:
		return l.T("{{.Count}} minutes", "Count", int64((d+time.Minute-1)/time.Minute))
	}
	return l.T("{{.Count}} seconds", "Count", int64((d+time.Second-1)/time.Second))
}

// Kinds of message, each with its templates <kind>.txt and <kind>.html.
const (
	// KindVerifyEmail carries the code that confirms a new account's address.
	KindVerifyEmail = "verify_email"
	// KindResetPassword carries the code that sets a forgotten password.
	KindResetPassword = "reset_password"
	// KindInvitation tells an administrator-created user their temporary
	// password.
	KindInvitation = "invitation"
	// KindVerifyNewEmail carries the code that confirms a changed address,
	// sent to the new address.
	KindVerifyNewEmail = "verify_new_email"
	// KindAccountExists answers a sign-up for an address that already has
	// an account, so the page can answer as for a new one.
	KindAccountExists = "account_exists"
)

// KindMFACode carries a one-time code that is a sign-in's second step.
const KindMFACode = "mfa_code"

// Kinds lists every kind of message, for checks and docs.
var Kinds = []string{KindVerifyEmail, KindResetPassword, KindInvitation, KindVerifyNewEmail, KindAccountExists, KindMFACode}

// Data is what a template may use.
type Data struct {
	// DisplayName is the pool's name as the hosted pages show it.
	DisplayName string
	// Email is the recipient's address.
	Email string
	// Code is the one-time code, when the message carries one.
	Code string
	// Link opens the page where the code is entered, filled in; empty when
	// the pool has no address for links.
	Link string
	// Expires says how long the code or password is good for ("24 hours").
	Expires string
	// TemporaryPassword is an invitation's password.
	TemporaryPassword string
	// SignInURL is the sign-in page, when known.
	SignInURL string
	// Locale is the language to write in: the user's locale attribute,
	// else the language of the page that caused the message (a BCP 47
	// tag); "" or one the pool lacks is the pool's default.
	Locale string
	// TTL, when set, is how long the code or password is good for: Render
	// writes it into Expires in the message's language.
	TTL time.Duration
}

// Templates renders messages. The subject and text body are text/template,
// the HTML body html/template, so values are escaped where they land.
type Templates struct {
	locales *locale.Catalog
	langs   map[string]*langTemplates
}

// langTemplates are the templates of one language, parsed with t bound
// to it.
type langTemplates struct {
	lang *locale.Language
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the embedded templates/mail/, with any files of the
// same name in override (an operator's folder; nil for none) taking their
// place. The templates mark texts with t as the hosted pages do ({{t "Your
// confirmation code is:"}}) and are parsed once per language of locales
// (nil: the built-in catalogues). Every kind is rendered once with sample
// data in every language, so that a broken override fails at start-up,
// named, and not when a user signs up.
func LoadTemplates(override fs.FS, locales *locale.Catalog) (*Templates, error) {
	if locales == nil {
		var err error
		if locales, err = locale.Load(locale.Options{}); err != nil {
			return nil, err
		}
	}
	base, err := fs.Sub(gatehouse.Templates, "templates/mail")
	if err != nil {
		return nil, err
	}
	read := func(name string) (string, string, error) {
		if override != nil {
			b, err := fs.ReadFile(override, name)
			if err == nil {
				return string(b), "override " + name, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "", fmt.Errorf("mail templates: %w", err)
			}
		}
		b, err := fs.ReadFile(base, name)
		return string(b), name, err
	}
	t := &Templates{locales: locales, langs: map[string]*langTemplates{}}
	for _, l := range locales.Languages() {
		lt := &langTemplates{lang: l, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
		funcs := map[string]any{
			"t":    l.T,
			"lang": func() string { return l.Tag },
			"dir":  func() string { return l.Dir },
		}
		t.langs[l.Tag] = lt
		for _, kind := range Kinds {
			src, from, err := read(kind + ".txt")
			if err != nil {
				return nil, err
			}
			tt, err := texttemplate.New(kind).Funcs(funcs).Option("missingkey=error").Parse(src)
			if err != nil {
				return nil, fmt.Errorf("mail templates: %s: %w", from, err)
			}
			for _, name := range []string{"subject", "text"} {
				if tt.Lookup(name) == nil {
					return nil, fmt.Errorf("mail templates: %s defines no %q template", from, name)
				}
			}
			lt.text[kind] = tt
			src, from, err = read(kind + ".html")
			if err != nil {
				return nil, err
			}
			ht, err := htmltemplate.New(kind).Funcs(funcs).Option("missingkey=error").Parse(src)
			if err != nil {
				return nil, fmt.Errorf("mail templates: %s: %w", from, err)
			}
			lt.html[kind] = ht
			sample := Data{DisplayName: "Example", Email: "ada@example.com", Code: "123456",
				Link: "https://example.com/_gatehouse/confirm?code=123456", Expires: "24 hours", TTL: 24 * time.Hour,
				TemporaryPassword: "Sample-Password-1", SignInURL: "https://example.com/_gatehouse/signin", Locale: l.Tag}
			if _, err := t.Render(kind, sample); err != nil {
				return nil, fmt.Errorf("mail templates: %s (%s): %w", kind, l.Tag, err)
			}
		}
	}
	return t, nil
}

// LoadTemplatesDir is LoadTemplates with the override read from dir; ""
// means the embedded templates alone.
func LoadTemplatesDir(dir string, locales *locale.Catalog) (*Templates, error) {
	if dir == "" {
		return LoadTemplates(nil, locales)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mail templates: %s is not a folder", dir)
	}
	return LoadTemplates(os.DirFS(dir), locales)
}

// Render makes the message of a kind from d, in the language d.Locale
// names (else the pool's default). The caller sets To; Kind and Code are
// filled in from kind and d.
func (t *Templates) Render(kind string, d Data) (*Message, error) {
	lt := t.langs[t.locales.Pick(d.Locale).Tag]
	tt, ok := lt.text[kind]
	if !ok {
		return nil, fmt.Errorf("mail: no templates for %q", kind)
	}
	if d.TTL > 0 {
		d.Expires = Duration(lt.lang, d.TTL)
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", d); err != nil {
		return nil, err
	}
	if err := tt.ExecuteTemplate(&text, "text", d); err != nil {
		return nil, err
	}
	if err := lt.html[kind].Execute(&html, d); err != nil {
		return nil, err
	}
	s := oneLine(subject.String())
	if s == "" {
		return nil, fmt.Errorf("mail: %s: empty subject", kind)
	}
	return &Message{
		To:      d.Email,
		Subject: s,
		Text:    strings.TrimLeft(text.String(), "\n"),
		HTML:    strings.TrimSpace(html.String()),
		Kind:    kind,
		Code:    d.Code,
	}, nil
}
