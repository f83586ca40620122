package locale_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-auth/gatehouse/locale"
)

func TestMatch(t *testing.T) {
	c, err := locale.Load(locale.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in     string
		accept bool
		want   string // "" for no match
	}{
		{"de-DE,de;q=0.9,en;q=0.5", true, "de"},
		{"zh-CN,zh;q=0.9", true, "zh-Hans"},
		{"pt", true, "pt-BR"},
		{"pt-BR", true, "pt-BR"},
		{"ja-JP", true, "ja"},
		{"fr-CA", true, "fr"},
		{"es-419", true, "es"},
		{"sw", true, ""},
		{"garbage;;q=x", true, ""},
		{"fr de", false, "fr"},
		{"xx fr", false, "fr"},
		{"pt_BR", false, "pt-BR"},
	} {
		l := c.Match(tc.in, tc.accept)
		got := ""
		if l != nil {
			got = l.Tag
		}
		if got != tc.want {
			t.Errorf("Match(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if c.Default().Tag != "en" || c.Pick("") != c.Default() || c.Pick("ja") != c.Lookup("ja") {
		t.Error("default or Pick wrong")
	}
	names := map[string]string{}
	for _, l := range c.Languages() {
		names[l.Tag] = l.Name
		if l.Dir != "ltr" {
			t.Errorf("%s: dir %q", l.Tag, l.Dir)
		}
	}
	if names["de"] != "Deutsch" || names["ja"] != "日本語" || names["fr"] != "Français" {
		t.Errorf("names %v", names)
	}
}

func TestTranslate(t *testing.T) {
	c, err := locale.Load(locale.Options{Default: "de"})
	if err != nil {
		t.Fatal(err)
	}
	de, en, ja := c.Lookup("de"), c.Lookup("en"), c.Lookup("ja")
	if c.Default() != de {
		t.Fatal("default_language de not taken")
	}
	for _, tc := range []struct {
		l    *locale.Language
		text string
		args []any
		want string
	}{
		{de, "Sign in", nil, "Anmelden"},
		{ja, "Sign in", nil, "サインイン"},
		{de, "Continue with {{.Provider}}", []any{"Provider", "Google"}, "Weiter mit Google"},
		{en, "{{.Count}} unused recovery codes left.", []any{"Count", 1}, "1 unused recovery code left."},
		{en, "{{.Count}} unused recovery codes left.", []any{"Count", 3}, "3 unused recovery codes left."},
		{de, "{{.Count}} minutes", []any{"Count", 1}, "1 Minute"},
		{de, "{{.Count}} minutes", []any{"Count", 5}, "5 Minuten"},
		{ja, "{{.Count}} minutes", []any{"Count", 5}, "5 分"},
		// A text no catalogue has comes back as is, never run as a
		// template: user input with {{ }} stays inert.
		{de, "Hello {{.Secret}} {{printf \"%s\" 1}}", nil, "Hello {{.Secret}} {{printf \"%s\" 1}}"},
		{de, "Not a message {{.X}}", []any{"X", "<b>"}, "Not a message <b>"},
	} {
		if got := tc.l.T(tc.text, tc.args...); got != tc.want {
			t.Errorf("%s.T(%q) = %q, want %q", tc.l.Tag, tc.text, got, tc.want)
		}
	}
}

func TestOperatorDir(t *testing.T) {
	ok := fstest.MapFS{
		"de.toml": {Data: []byte(`"Sign in" = "Einloggen"` + "\n" + `"Seats" = "Plätze"` + "\n")},
		"ar.toml": {Data: []byte(`"Sign in" = "تسجيل الدخول"` + "\n" + `"Continue with {{.Provider}}" = "المتابعة باستخدام {{.Provider}}"` + "\n")},
	}
	c, err := locale.Load(locale.Options{Dir: ok, DirName: "/etc/gh", Default: "ar"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup("de").T("Sign in"); got != "Einloggen" {
		t.Errorf("override: %q", got)
	}
	if got := c.Lookup("de").T("Seats"); got != "Plätze" {
		t.Errorf("an operator's own text: %q", got)
	}
	if got := c.Lookup("de").T("Create an account"); got != "Konto erstellen" {
		t.Errorf("the rest of German: %q", got)
	}
	ar := c.Lookup("ar")
	if ar == nil || ar.Dir != "rtl" || c.Default() != ar {
		t.Fatalf("ar: %+v", ar)
	}
	if got := ar.T("Create an account"); got != "Create an account" {
		t.Errorf("an added language falls back to English: %q", got)
	}
	for name, tc := range map[string]struct {
		file, want string
	}{
		"unparsable":                    {`"Sign in" = `, "fr.toml"},
		"unknown placeholder":           {`"Continue with {{.Provider}}" = "Weiter mit {{.Anbieter}}"`, "{{.Anbieter}}"},
		"bad template":                  {`"Continue with {{.Provider}}" = "Weiter mit {{.Provider"`, "fr.toml"},
		"own text, unknown placeholder": {`"Seats for {{.Team}}" = "Plätze für {{.Mannschaft}}"`, "{{.Mannschaft}}"},
	} {
		_, err := locale.Load(locale.Options{Dir: fstest.MapFS{"fr.toml": {Data: []byte(tc.file)}}, DirName: "/etc/gh"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "locales_dir /etc/gh") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := locale.Load(locale.Options{Dir: fstest.MapFS{"not a tag!.toml": {Data: []byte("")}}}); err == nil {
		t.Error("a file name that is no language tag was accepted")
	}
	if _, err := locale.Load(locale.Options{Default: "tlh"}); err == nil {
		t.Error("default_language of no catalogue was accepted")
	}
}

func BenchmarkT(b *testing.B) {
	c, err := locale.Load(locale.Options{})
	if err != nil {
		b.Fatal(err)
	}
	de := c.Lookup("de")
	b.Run("constant", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = de.T("Forgot your password?")
		}
	})
	b.Run("placeholder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = de.T("Continue with {{.Provider}}", "Provider", "Google")
		}
	})
	b.Run("match Accept-Language", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = c.Match("fr-CH,fr;q=0.9,en;q=0.8,de;q=0.7", true)
		}
	})
}

// TestConcurrentT: pages render in parallel with one Language each.
func TestConcurrentT(t *testing.T) {
	c, err := locale.Load(locale.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := range 8 {
		go func() {
			l := c.Languages()[i%len(c.Languages())]
			var s string
			for range 50 {
				s = l.T("{{.Count}} minutes", "Count", i) + l.T("Continue with {{.Provider}}", "Provider", "X")
			}
			done <- s
		}()
	}
	for range 8 {
		if s := <-done; s == "" {
			t.Error("empty text")
		}
	}
}
