// Package locale holds the catalogues of the texts the hosted pages and the
// mails show, one per language, and chooses a request's language.
//
// A catalogue is a TOML file, locales/<tag>.toml (go-i18n's format), that a
// translator edits without reading Go. The message ID is the English text
// itself, as the templates write it:
//
//	"Sign in" = "Anmelden"
//	"Continue with {{.Provider}}" = "Weiter mit {{.Provider}}"
//
//	["Don't ask for a code on this device for {{.Count}} days"]
//	one = "Auf diesem Gerät {{.Count}} Tag lang nicht nach einem Code fragen"
//	other = "Auf diesem Gerät {{.Count}} Tage lang nicht nach einem Code fragen"
//
// A placeholder named Count also picks the plural form. An operator may add
// or override languages per pool from a folder of such files (Load).
package locale

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/gatehouse-auth/gatehouse"
)

// English is the language of the message IDs, the one every other
// catalogue translates.
const English = "en"

// Language is one language a pool speaks.
type Language struct {
	// Tag is its BCP 47 tag as the catalogue's file names it ("pt-BR").
	Tag string
	// Name is its name in itself ("Deutsch"), for the language picker.
	Name string
	// Dir is "rtl" for a language written right to left, else "ltr".
	Dir string
	loc *i18n.Localizer
}

// T gives text in this language: text is the English message ID; pairs are
// name/value pairs for its placeholders ({{.Name}}), and a pair named Count
// also chooses the plural form. A text the catalogues do not know is given
// back as it is, with the pairs filled in as plain text: it is never run as
// a template, so a text that holds user input is safe here.
func (l *Language) T(text string, pairs ...any) string {
	if l == nil || l.loc == nil {
		return fill(text, pairs)
	}
	var data map[string]any
	var count any
	if len(pairs) > 1 {
		data = make(map[string]any, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			name, _ := pairs[i].(string)
			data[name] = pairs[i+1]
			if name == "Count" {
				count = pairs[i+1]
			}
		}
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: text, TemplateData: data, PluralCount: count})
	if s == "" && err != nil {
		return fill(text, pairs)
	}
	return s
}

// fill puts the pairs' values in place of their {{.Name}} placeholders.
func fill(text string, pairs []any) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		name, _ := pairs[i].(string)
		text = strings.ReplaceAll(text, "{{."+name+"}}", fmt.Sprint(pairs[i+1]))
	}
	return text
}

// Catalog is the languages of one pool, ready: the request path only
// matches and looks up.
type Catalog struct {
	langs   []*Language
	byTag   map[string]*Language
	matcher language.Matcher
	tags    []language.Tag
	def     *Language
}

// Languages lists the pool's languages: English first, then by tag.
func (c *Catalog) Languages() []*Language {
	if c == nil {
		return nil
	}
	return c.langs
}

// Default is the pool's default language.
func (c *Catalog) Default() *Language { return c.def }

// Lookup returns the language of tag exactly as Languages names it (a
// cookie's value), or nil.
func (c *Catalog) Lookup(tag string) *Language { return c.byTag[tag] }

// Match returns the pool's language that best serves a list of BCP 47 tags
// (ui_locales is space-separated, Accept-Language comma-separated with
// weights, a user's locale attribute one tag), or nil when none is close.
func (c *Catalog) Match(tags string, acceptLanguage bool) *Language {
	if c == nil || tags == "" {
		return nil
	}
	var want []language.Tag
	if acceptLanguage {
		ts, _, err := language.ParseAcceptLanguage(tags)
		if err != nil {
			return nil
		}
		want = ts
	} else {
		for _, s := range strings.Fields(strings.ReplaceAll(tags, "_", "-")) {
			if t, err := language.Parse(s); err == nil {
				want = append(want, t)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	_, i, conf := c.matcher.Match(want...)
	if conf == language.No {
		return nil
	}
	// The matcher falls back to English with confidence for a language it
	// cannot serve ("sw"): only a match of a wanted language counts, so
	// that the next source (a cookie, the default) decides instead.
	gotBase, _ := c.tags[i].Base()
	for _, w := range want {
		if b, _ := w.Base(); b == gotBase {
			return c.langs[i]
		}
	}
	return nil
}

// Pick returns the language for a user's locale attribute or another
// single preference, or the default.
func (c *Catalog) Pick(tag string) *Language {
	if l := c.Match(tag, false); l != nil {
		return l
	}
	return c.def
}

// Options are what Load reads besides the built-in catalogues.
type Options struct {
	// Dir, when set, holds <tag>.toml files that override the built-in
	// messages of that language or add a language.
	Dir fs.FS
	// DirName names Dir in errors.
	DirName string
	// Default is the tag of the pool's default language; "" is English.
	Default string
}

// Load reads the built-in catalogues and opts.Dir's. Every message of
// every language is checked against English: it may use only the
// placeholders the English text has, so a typo in an operator's file fails
// when Caddy starts, named, not on a page. A built-in message must be one
// of English's; an operator's may add a text of its own (a custom
// attribute's label: "Seats" = "Plätze").
func Load(opts Options) (*Catalog, error) {
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	builtin, err := fs.Sub(gatehouse.Locales, "locales")
	if err != nil {
		return nil, err
	}
	english, err := readFile(bundle, builtin, English+".toml", "built-in")
	if err != nil {
		return nil, err
	}
	placeholders := map[string]map[string]bool{}
	for _, m := range english.Messages {
		ph, err := messageFields(m)
		if err != nil {
			return nil, fmt.Errorf("locale: built-in en.toml: %q: %w", m.ID, err)
		}
		for f := range fieldsOf(m.ID) {
			ph[f] = true
		}
		placeholders[m.ID] = ph
	}
	tags := map[string]bool{English: true}
	load := func(fsys fs.FS, from string) error {
		names, err := fs.Glob(fsys, "*.toml")
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			tag := strings.TrimSuffix(name, ".toml")
			if from == "built-in" && tag == English {
				continue
			}
			if _, err := language.Parse(tag); err != nil {
				return fmt.Errorf("locale: %s %s: the file name is not a language tag (such as de or pt-BR)", from, name)
			}
			mf, err := readFile(bundle, fsys, name, from)
			if err != nil {
				return err
			}
			for _, m := range mf.Messages {
				want, ok := placeholders[m.ID]
				if !ok {
					if from == "built-in" {
						return fmt.Errorf("locale: %s %s: %q is no English message of the pages or mails (the ID is the English text, exactly)", from, name, m.ID)
					}
					// An operator's own text (a custom attribute's label,
					// a replaced mail template's): its placeholders are
					// those its English ID has.
					want = fieldsOf(m.ID)
				}
				got, err := messageFields(m)
				if err != nil {
					return fmt.Errorf("locale: %s %s: %q: %w", from, name, m.ID, err)
				}
				for f := range got {
					if !want[f] {
						return fmt.Errorf("locale: %s %s: %q uses the placeholder {{.%s}}, which the English text does not have", from, name, m.ID, f)
					}
				}
			}
			tags[tag] = true
		}
		return nil
	}
	if err := load(builtin, "built-in"); err != nil {
		return nil, err
	}
	if opts.Dir != nil {
		if err := load(opts.Dir, "locales_dir "+opts.DirName); err != nil {
			return nil, err
		}
	}
	order := slices.Sorted(maps.Keys(tags))
	order = slices.DeleteFunc(order, func(s string) bool { return s == English })
	order = append([]string{English}, order...)
	c := &Catalog{byTag: map[string]*Language{}}
	var matchTags []language.Tag
	for _, tag := range order {
		lt := language.MustParse(tag)
		l := &Language{Tag: tag, Name: selfName(lt), Dir: direction(lt), loc: i18n.NewLocalizer(bundle, tag)}
		c.langs = append(c.langs, l)
		c.byTag[tag] = l
		matchTags = append(matchTags, lt)
	}
	c.matcher, c.tags = language.NewMatcher(matchTags), matchTags
	c.def = c.langs[0]
	if opts.Default != "" {
		if c.def = c.Match(opts.Default, false); c.def == nil {
			return nil, fmt.Errorf("locale: default_language %q: not one of the pool's languages (%s)", opts.Default, strings.Join(order, ", "))
		}
	}
	return c, nil
}

func readFile(bundle *i18n.Bundle, fsys fs.FS, name, from string) (*i18n.MessageFile, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("locale: %s %s: %w", from, name, err)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("locale: %s %s: not UTF-8", from, name)
	}
	mf, err := bundle.ParseMessageFileBytes(b, path.Base(name))
	if err != nil {
		return nil, fmt.Errorf("locale: %s %s: %w", from, name, err)
	}
	return mf, nil
}

// messageFields returns the placeholders every form of m uses, failing on
// a form that is no valid template.
func messageFields(m *i18n.Message) (map[string]bool, error) {
	out := map[string]bool{}
	for _, form := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		if form == "" {
			continue
		}
		t, err := template.New("").Parse(form)
		if err != nil {
			return nil, err
		}
		if t.Tree == nil {
			continue
		}
		walk(t.Tree.Root, out)
	}
	return out, nil
}

// fieldsOf returns the placeholders of an English ID; an ID that is no
// valid template has none.
func fieldsOf(id string) map[string]bool {
	out := map[string]bool{}
	if t, err := template.New("").Parse(id); err == nil && t.Tree != nil {
		walk(t.Tree.Root, out)
	}
	return out
}

func walk(n parse.Node, out map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, out)
		}
	case *parse.ActionNode:
		walk(n.Pipe, out)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, out)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, out)
		}
	case *parse.FieldNode:
		if len(n.Ident) > 0 {
			out[n.Ident[0]] = true
		}
	case *parse.IfNode:
		walk(n.Pipe, out)
		walk(n.List, out)
		walk(n.ElseList, out)
	case *parse.RangeNode:
		walk(n.Pipe, out)
		walk(n.List, out)
		walk(n.ElseList, out)
	case *parse.WithNode:
		walk(n.Pipe, out)
		walk(n.List, out)
		walk(n.ElseList, out)
	}
}

// selfName is a language's name in itself, capitalised as a picker shows
// it ("Français", "日本語").
func selfName(t language.Tag) string {
	n := display.Self.Name(t)
	if n == "" {
		return t.String()
	}
	r, size := utf8.DecodeRuneInString(n)
	return string(unicode.ToUpper(r)) + n[size:]
}

// rtlScripts are the scripts written right to left.
var rtlScripts = map[string]bool{"Arab": true, "Hebr": true, "Thaa": true, "Syrc": true, "Nkoo": true,
	"Adlm": true, "Rohg": true, "Mand": true, "Samr": true, "Yezi": true}

func direction(t language.Tag) string {
	if s, _ := t.Script(); rtlScripts[s.String()] {
		return "rtl"
	}
	return "ltr"
}

type ctxKey struct{}

// NewContext returns ctx carrying l, the language of the page request
// that may cause a mail.
func NewContext(ctx context.Context, l *Language) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the language NewContext put in ctx, or nil.
func FromContext(ctx context.Context) *Language {
	l, _ := ctx.Value(ctxKey{}).(*Language)
	return l
}
