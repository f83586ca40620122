package hostedui

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template/parse"
)

// pageFiles are the templates an operator may replace, by file name, and
// the templates each must define.
var pageFiles = map[string][]string{
	"layout.html":         {"layout"},
	"partials.html":       {"field", "providers", "notice", "rules", "language-picker", "webauthn-script"},
	"signin.html":         {"title", "content"},
	"error.html":          {"title", "content"},
	"signup.html":         {"title", "content"},
	"confirm.html":        {"title", "content"},
	"forgot.html":         {"title", "content"},
	"reset.html":          {"title", "content"},
	"new_password.html":   {"title", "content"},
	"account.html":        {"title", "content"},
	"mfa.html":            {"title", "content"},
	"mfa_setup.html":      {"title", "content"},
	"recovery_codes.html": {"title", "content"},
	"continue.html":       {"title", "content"},
	"relay.html":          {"title", "content"},
	"reauth.html":         {"title", "content"},
}

// overlayFS is the embedded templates with an operator's files of the same
// names in their place (a pool's templates_dir), as mail templates are
// overridden (mail.LoadTemplates). Only the page files at its top are taken
// from override.
type overlayFS struct {
	base, override fs.FS
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if _, ok := pageFiles[name]; ok {
		f, err := o.override.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return o.base.Open(name)
}

// withOverrides checks an operator's templates and lays them over base:
// every .html file at its top must be named as a page, parse, and define
// what that page must. nil override: base.
func withOverrides(base, override fs.FS) (fs.FS, error) {
	if override == nil {
		return base, nil
	}
	entries, err := fs.ReadDir(override, ".")
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".html" {
			continue
		}
		want, ok := pageFiles[name]
		if !ok {
			names := make([]string, 0, len(pageFiles))
			for n := range pageFiles {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("page templates: %s names no page (want one of %s)", name, strings.Join(names, ", "))
		}
		f, err := override.Open(name)
		if err != nil {
			return nil, fmt.Errorf("page templates: %w", err)
		}
		src, err := io.ReadAll(io.LimitReader(f, 1<<20))
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("page templates: %w", err)
		}
		t, err := template.New(name).Funcs(pageFuncs(nil, nil)).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("page templates: override %w", err)
		}
		for _, block := range want {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("page templates: override %s defines no %q template", name, block)
			}
		}
	}
	return overlayFS{base: base, override: override}, nil
}

// checkPages fails when a page calls a template none of its files defines
// (an override of partials.html that dropped "field"), or when a page does
// not render with its data's zero value (a misspelt field): so a broken
// override stops Caddy from starting rather than a user's sign-in.
func checkPages(p *pages) error {
	for _, pg := range p.table() {
		for _, t := range (*pg.slot).Templates() {
			if t.Tree == nil {
				continue
			}
			if name, ok := undefinedCall(*pg.slot, t.Tree.Root); ok {
				return fmt.Errorf("page templates: %s: template %q calls %q, which no file defines", pg.file, t.Name(), name)
			}
		}
		c, err := (*pg.slot).Clone()
		if err != nil {
			return fmt.Errorf("page templates: %s: %w", pg.file, err)
		}
		if err := c.ExecuteTemplate(io.Discard, "layout", pg.data); err != nil {
			return fmt.Errorf("page templates: %s: %w", pg.file, err)
		}
	}
	return nil
}

// undefinedCall finds a {{template "name"}} in n that set does not define.
func undefinedCall(set *template.Template, n parse.Node) (string, bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return "", false
		}
		for _, c := range n.Nodes {
			if name, ok := undefinedCall(set, c); ok {
				return name, true
			}
		}
	case *parse.TemplateNode:
		if set.Lookup(n.Name) == nil {
			return n.Name, true
		}
	case *parse.IfNode:
		return undefinedInBranch(set, &n.BranchNode)
	case *parse.RangeNode:
		return undefinedInBranch(set, &n.BranchNode)
	case *parse.WithNode:
		return undefinedInBranch(set, &n.BranchNode)
	}
	return "", false
}

func undefinedInBranch(set *template.Template, b *parse.BranchNode) (string, bool) {
	if name, ok := undefinedCall(set, b.List); ok {
		return name, true
	}
	if b.ElseList != nil {
		return undefinedCall(set, b.ElseList)
	}
	return "", false
}
