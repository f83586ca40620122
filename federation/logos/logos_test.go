package logos

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEveryKindHasItsLogo(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, kind := range []string{"google", "microsoft", "apple", "github", "facebook", "oidc", "saml"} {
		b := For(kind)
		if len(b) == 0 {
			t.Fatalf("For(%q) is empty", kind)
		}
		seen[kind] = string(b)
	}
	for _, k := range own {
		for _, other := range own {
			if k != other && seen[k] == seen[other] {
				t.Errorf("%s and %s share a logo", k, other)
			}
		}
	}
	if seen["oidc"] != seen["saml"] {
		t.Error("oidc and saml should share the generic logo")
	}
	if seen["oidc"] == seen["google"] {
		t.Error("the generic logo is Google's")
	}
	for _, kind := range []string{"", "unknown", "GOOGLE", "../google", "generic"} {
		if b := For(kind); b != nil {
			t.Errorf("For(%q) = %d bytes, want nil", kind, len(b))
		}
	}
}

func TestForReturnsACopy(t *testing.T) {
	t.Parallel()
	a := For("github")
	a[0] = 'X'
	if b := For("github"); b[0] != '<' {
		t.Fatal("changing one caller's logo changed the embedded one")
	}
}

// TestLogosAreSafeSVG parses every logo as XML and refuses anything a
// browser could run or fetch: the pages serve these from their own origin.
func TestLogosAreSafeSVG(t *testing.T) {
	t.Parallel()
	for _, kind := range append(own, "oidc") {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			if err := checkSVG(For(kind)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCheckSVGRefuses shows the checker can fail: each document breaks one
// rule.
func TestCheckSVGRefuses(t *testing.T) {
	t.Parallel()
	const ns = `xmlns="http://www.w3.org/2000/svg"`
	for name, doc := range map[string]string{
		"not xml":       `<svg ` + ns + ` viewBox="0 0 1 1"><rect></svg>`,
		"no viewBox":    `<svg ` + ns + `><rect/></svg>`,
		"not svg":       `<html ` + ns + ` viewBox="0 0 1 1"/>`,
		"no namespace":  `<svg viewBox="0 0 1 1"/>`,
		"script":        `<svg ` + ns + ` viewBox="0 0 1 1"><script>alert(1)</script></svg>`,
		"handler":       `<svg ` + ns + ` viewBox="0 0 1 1" onload="alert(1)"/>`,
		"external href": `<svg ` + ns + ` viewBox="0 0 1 1"><image href="https://example.com/a.png"/></svg>`,
		"xlink href":    `<svg ` + ns + ` xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 1 1"><use xlink:href="//example.com/a.svg#x"/></svg>`,
		"css url":       `<svg ` + ns + ` viewBox="0 0 1 1"><rect style="fill:url(http://example.com/x)"/></svg>`,
		"foreign":       `<svg ` + ns + ` viewBox="0 0 1 1"><foreignObject/></svg>`,
		"doctype":       `<!DOCTYPE svg [<!ENTITY x "y">]><svg ` + ns + ` viewBox="0 0 1 1"/>`,
		"two roots":     `<svg ` + ns + ` viewBox="0 0 1 1"/><svg ` + ns + ` viewBox="0 0 1 1"/>`,
		"too large":     `<svg ` + ns + ` viewBox="0 0 1 1"><!--` + strings.Repeat("x", maxSize) + `--></svg>`,
	} {
		if err := checkSVG([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := checkSVG([]byte(`<svg ` + ns + ` viewBox="0 0 1 1"><use href="#a"/></svg>`)); err != nil {
		t.Errorf("a local reference was refused: %v", err)
	}
}

const maxSize = 4096

func checkSVG(doc []byte) error {
	if len(doc) > maxSize {
		return errors.New("larger than a button's logo needs")
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch tok := tok.(type) {
		case xml.Directive:
			return errors.New("has a directive (DOCTYPE, ENTITY)")
		case xml.ProcInst:
			if tok.Target != "xml" {
				return errors.New("has a processing instruction")
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return errors.New("more than one root element")
				}
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					return errors.New("the root is not an SVG element")
				}
				if attr(tok, "viewBox") == "" {
					return errors.New("no viewBox")
				}
			}
			depth++
			switch strings.ToLower(tok.Name.Local) {
			case "script", "foreignobject", "iframe", "image", "style", "a":
				return errors.New("has a <" + tok.Name.Local + "> element")
			}
			for _, a := range tok.Attr {
				name, v := strings.ToLower(a.Name.Local), strings.ToLower(a.Value)
				if strings.HasPrefix(name, "on") {
					return errors.New("has an event handler " + a.Name.Local)
				}
				if name == "href" && !strings.HasPrefix(v, "#") {
					return errors.New("refers outside itself: " + a.Value)
				}
				if strings.Contains(v, "url(") && !strings.Contains(v, "url(#") || strings.Contains(v, "http:") || strings.Contains(v, "https:") || strings.Contains(v, "javascript:") {
					if !(name == "xmlns" || a.Name.Space == "xmlns") {
						return errors.New("attribute " + a.Name.Local + " refers outside: " + a.Value)
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return errors.New("no root element")
	}
	return nil
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}
