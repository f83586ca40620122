// Package gatehouse holds the hosted UI's templates and static assets,
// embedded in the binary. The Caddy modules live in package module, the
// binary in cmd/gatehouse.
package gatehouse

import "embed"

// Templates holds templates/*.html: the hosted pages.
//
//go:embed templates
var Templates embed.FS

// Static holds static/: stylesheets, scripts and images for the hosted pages.
//
//go:embed static
var Static embed.FS

// Locales holds locales/<tag>.toml: the catalogue of each language the
// hosted pages and mails speak (package locale).
//
//go:embed locales
var Locales embed.FS
