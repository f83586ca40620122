// Package logos holds the small SVG logos shown on the hosted pages'
// provider buttons. They are drawn for Gatehouse (simple shapes in each
// brand's colours, no file copied from anywhere), embedded in the binary
// and served by Gatehouse, so a sign-in page never fetches a third party's
// image. Each is a complete SVG document with a viewBox, without script,
// event handlers or outside references (logos_test.go holds them to that).
package logos

import (
	"embed"
	"slices"
)

//go:embed *.svg
var files embed.FS

// Kinds of provider whose logo is their own; oidc and saml, whose providers
// are anyone's, get the generic key.
var own = []string{"google", "microsoft", "apple", "github", "facebook"}

// For returns the logo of a provider kind (a copy: callers may keep it),
// the generic one for "oidc" and "saml", and nil for any other kind (a
// plugin's), whose button then shows its name alone.
func For(kind string) []byte {
	name := ""
	switch {
	case slices.Contains(own, kind):
		name = kind
	case kind == "oidc" || kind == "saml":
		name = "generic"
	default:
		return nil
	}
	b, err := files.ReadFile(name + ".svg")
	if err != nil {
		panic("logos: " + name + ".svg is not embedded") // a build without the files
	}
	return b
}
