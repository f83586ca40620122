package locale_test

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/pool"
)

var update = flag.Bool("update", false, "rewrite locales/en.toml with every text the templates and Go code use")

// tCall finds {{t "literal" ...}} in a template.
var tCall = regexp.MustCompile(`\{\{-?\s*t\s+("(?:[^"\\]|\\.)*")`)

// templateTexts returns every literal the page and mail templates give t.
func templateTexts(t *testing.T) map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob("../templates/*.html")
	mails, _ := filepath.Glob("../templates/mail/*")
	for _, f := range append(files, mails...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tCall.FindAllStringSubmatch(string(b), -1) {
			s, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", f, m[1], err)
			}
			out[s] = filepath.Base(f)
		}
	}
	return out
}

// skipCalls are calls whose string arguments no user reads.
var skipCalls = map[string]bool{"Info": true, "Warn": true, "Error": true, "Debug": true, "String": true, "New": true,
	"Errorf": true, "Set": true, "Add": true, "Get": true, "methodNotAllowed": true, "Has": true, "Del": true,
	"Sprintf": true, "Contains": true, "HasPrefix": true, "TrimPrefix": true, "Fatal": true, "Fatalf": true}

// shownFields are the fields of the pages' data whose text a user reads.
var shownFields = map[string]bool{"Label": true, "Hint": true, "Error": true, "Notice": true, "Title": true, "Message": true}

// pageText is what a Go literal a page shows looks like: a sentence, a
// label, or a text given to T.
var pageText = regexp.MustCompile(`^[A-Z({][^/]*[a-z]`)

// goTexts returns the Go-side page texts: string literals of the hosted
// pages' package (and the pool's password rules and attribute hints) that
// look like a text a user reads, outside logs and errors, and every
// literal given to T.
func goTexts(t *testing.T) map[string]string {
	out := map[string]string{}
	fset := token.NewFileSet()
	files, _ := filepath.Glob("../hostedui/*.go")
	files = append(files, "../pool/passwordpolicy.go", "../pool/attributes.go", "../pool/lifecycle.go", "../pool/mfa.go",
		"../pool/webauthn.go", "../mail/templates.go")
	oidcFiles, _ := filepath.Glob("../oidc/*.go")
	files = append(files, oidcFiles...)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pool := !strings.Contains(f, "/hostedui/")
		var stack []ast.Node
		ast.Inspect(file, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			// The nearest call decides.
			for i := len(stack) - 2; i >= 0; i-- {
				switch p := stack[i].(type) {
				case *ast.CallExpr:
					name := ""
					switch fn := p.Fun.(type) {
					case *ast.SelectorExpr:
						name = fn.Sel.Name
					case *ast.Ident:
						name = fn.Name
					}
					if name == "T" && len(p.Args) > 0 && p.Args[0] == lit {
						out[s] = filepath.Base(f)
						return true
					}
					// The OpenID provider's error pages (oidc) are the
					// hosted pages' error page: title and message.
					if (name == "errorPage" || name == "bad") && slices.Contains(p.Args, ast.Expr(lit)) && strings.Contains(f, "/oidc/") {
						out[s] = filepath.Base(f)
						return true
					}
					if skipCalls[name] {
						return true
					}
					i = -1
				case *ast.GenDecl, *ast.FuncDecl:
					i = -1
				}
			}
			if pool {
				// Only the rules and hints: keyed Rule fields and Hint's returns.
				if kv, ok := stack[len(stack)-2].(*ast.KeyValueExpr); ok {
					if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Rule" {
						out[s] = filepath.Base(f)
					}
				}
				// The texts the pool's API gives a form: attribute labels,
				// hints and checks, password policy messages, field errors.
				parent := stack[len(stack)-2]
				for _, p := range stack {
					if fd, ok := p.(*ast.FuncDecl); ok && (fd.Name.Name == "Hint" || fd.Name.Name == "Label" || fd.Name.Name == "Check" || fd.Name.Name == "policyMessage") {
						if _, ok := parent.(*ast.ReturnStmt); ok && s != "" {
							out[s] = filepath.Base(f)
						}
					}
				}
				if as, ok := parent.(*ast.AssignStmt); ok && len(as.Lhs) == 1 {
					if ix, ok := as.Lhs[0].(*ast.IndexExpr); ok {
						if id, ok := ix.X.(*ast.Ident); ok && id.Name == "fe" {
							out[s] = filepath.Base(f)
						}
					}
				}
				if kv, ok := parent.(*ast.KeyValueExpr); ok && kv.Value == lit && len(stack) > 2 {
					if cl, ok := stack[len(stack)-3].(*ast.CompositeLit); ok {
						if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "FieldErrors" {
							out[s] = filepath.Base(f)
						}
					}
				}
				return true
			}
			if kv, ok := stack[len(stack)-2].(*ast.KeyValueExpr); ok && s != "" {
				if id, ok := kv.Key.(*ast.Ident); ok && shownFields[id.Name] {
					out[s] = filepath.Base(f)
					return true
				}
			}
			if pageText.MatchString(s) && strings.Contains(s, " ") && !strings.Contains(s, "://") && !strings.HasSuffix(s, "\n") &&
				!strings.HasPrefix(s, "GET") && !strings.Contains(s, "hostedui:") {
				out[s] = filepath.Base(f)
			}
			return true
		})
	}
	// T given a named constant (T(layoutDate), T(msgNoEmail)): the
	// constant's text.
	consts := map[string]string{}
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || !strings.Contains(f, "/hostedui/") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, file)
		ast.Inspect(file, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								consts[name.Name] = v
							}
						}
					}
				}
			}
			return true
		})
	}
	for _, file := range parsed {
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) > 0 {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "T" {
					if id, ok := call.Args[0].(*ast.Ident); ok {
						if v, ok := consts[id.Name]; ok {
							out[v] = "hostedui (const " + id.Name + ")"
						}
					}
				}
			}
			return true
		})
	}
	for _, n := range pool.StandardAttributeNames() {
		out[pool.AttributeSpec{Name: n}.Label()] = "pool/attributes.go"
	}
	return out
}

func readCatalog(t *testing.T, tag string) map[string]*i18n.Message {
	b, err := os.ReadFile("../locales/" + tag + ".toml")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := i18n.ParseMessageFileBytes(b, tag+".toml", map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
	if err != nil {
		t.Fatalf("%s.toml: %v", tag, err)
	}
	out := map[string]*i18n.Message{}
	for _, m := range msgs.Messages {
		out[m.ID] = m
	}
	return out
}

// TestEnglishHasEveryText fails when a template gives t a text, or the Go
// code shows a text, that locales/en.toml lacks: every new text must be
// added there (go test ./locale -run TestEnglishHasEveryText -update)
// and then translated.
func TestEnglishHasEveryText(t *testing.T) {
	used := templateTexts(t)
	for s, f := range goTexts(t) {
		used[s] = f
	}
	if *update {
		writeEnglish(t, used)
	}
	en := readCatalog(t, locale.English)
	var missing []string
	for s, f := range used {
		if en[s] == nil {
			missing = append(missing, f+": "+strconv.Quote(s))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("locales/en.toml lacks %d texts (run with -update, then translate them):\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

// TestEveryLanguageHasEveryMessage fails when a built-in language misses a
// message English has, or lacks a plural form its language needs.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	en := readCatalog(t, locale.English)
	files, _ := filepath.Glob("../locales/*.toml")
	if len(files) < 7 {
		t.Fatalf("want at least 7 languages, have %d", len(files))
	}
	for _, f := range files {
		tag := strings.TrimSuffix(filepath.Base(f), ".toml")
		if tag == locale.English {
			continue
		}
		cat := readCatalog(t, tag)
		var missing []string
		for id, em := range en {
			m := cat[id]
			if m == nil {
				missing = append(missing, strconv.Quote(id))
				continue
			}
			if m.Other == "" {
				missing = append(missing, strconv.Quote(id)+" (no other form)")
			}
			if em.One != "" && needsOne(tag) && m.One == "" {
				missing = append(missing, strconv.Quote(id)+" (no one form)")
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s.toml misses %d of English's messages:\n%s", tag, len(missing), strings.Join(missing, "\n"))
		}
	}
}

// needsOne: the languages whose plurals have a "one" form.
func needsOne(tag string) bool {
	b, _ := language.MustParse(tag).Base()
	return !slices.Contains([]string{"ja", "zh", "ko", "th", "vi", "id"}, b.String())
}

// TestLoadBuiltIn checks the built-in catalogues as Caddy does at start.
func TestLoadBuiltIn(t *testing.T) {
	c, err := locale.Load(locale.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, l := range c.Languages() {
		tags = append(tags, l.Tag)
	}
	for _, want := range []string{"en", "de", "fr", "es", "pt-BR", "ja", "zh-Hans"} {
		if !slices.Contains(tags, want) {
			t.Errorf("languages %v lack %s", tags, want)
		}
	}
}

func writeEnglish(t *testing.T, used map[string]string) {
	old := readCatalog(t, locale.English)
	ids := make([]string, 0, len(used))
	for s := range used {
		ids = append(ids, s)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString("# English: the message IDs are the texts themselves. Generated and kept by\n" +
		"# go test ./locale -run TestEnglishHasEveryText -update; edit only the plural forms.\n\n")
	var plural []string
	for _, id := range ids {
		if strings.Contains(id, "{{.Count}}") {
			plural = append(plural, id)
			continue
		}
		b.WriteString(strconv.Quote(id) + " = " + strconv.Quote(id) + "\n")
	}
	for _, id := range plural {
		one, other := id, id
		if m := old[id]; m != nil && m.One != "" {
			one, other = m.One, m.Other
		}
		b.WriteString("\n[" + strconv.Quote(id) + "]\none = " + strconv.Quote(one) + "\nother = " + strconv.Quote(other) + "\n")
	}
	if err := os.WriteFile("../locales/en.toml", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
