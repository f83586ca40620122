package hostedui

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestTemplatesDocumented: docs/templates.md names every field of every
// page's data under that page's heading, so the documented data of a
// template override stays the data it gets.
func TestTemplatesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/templates.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, part := range strings.Split(string(doc), "\n### ")[1:] {
		head, body, _ := strings.Cut(part, "\n")
		sections[head] = body
	}
	for file, data := range map[string]any{
		"signin.html": signInPage{}, "signup.html": signUpPage{}, "confirm.html": confirmPage{},
		"forgot.html": forgotPage{}, "reset.html": resetPage{}, "new_password.html": newPasswordPage{},
		"mfa.html": mfaPage{}, "mfa_setup.html": mfaSetupPage{}, "recovery_codes.html": recoveryCodesPage{},
		"account.html": accountPage{}, "continue.html": continuePage{}, "relay.html": relayPage{},
		"error.html": errorPage{},
	} {
		body, ok := sections[file]
		if !ok {
			t.Errorf("docs/templates.md has no section %q", "### "+file)
			continue
		}
		typ := reflect.TypeOf(data)
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() || f.Name == "DisplayName" {
				continue
			}
			if !strings.Contains(body, "`."+f.Name+"`") {
				t.Errorf("docs/templates.md, %s: %s's data has .%s, which it does not document", file, file, f.Name)
			}
		}
	}
}

// TestEveryPageOverridable: every templates/*.html is a page an operator
// may replace (pageFiles) and is listed in docs/templates.md.
func TestEveryPageOverridable(t *testing.T) {
	entries, err := os.ReadDir("../templates")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/templates.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		if _, ok := pageFiles[e.Name()]; !ok {
			t.Errorf("templates/%s is not in pageFiles (hostedui/overrides.go): templates_dir cannot replace it", e.Name())
		}
		if e.Name() != "layout.html" && e.Name() != "partials.html" && !slices.ContainsFunc((&pages{}).table(), func(pg pageSlot) bool { return pg.file == e.Name() }) {
			t.Errorf("templates/%s is not in pages.table (hostedui/render.go): it is neither parsed nor checked at start", e.Name())
		}
		if !strings.Contains(string(doc), "### "+e.Name()) && !strings.Contains(string(doc), ", "+e.Name()) {
			t.Errorf("docs/templates.md does not describe %s", e.Name())
		}
	}
}
