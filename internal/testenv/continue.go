package testenv

import "github.com/gatehouse-auth/gatehouse/internal/testenv/web"

// ContinueTarget returns where a hosted page's continue page sends the
// browser, and whether status and body are one (web.ContinueTarget).
func ContinueTarget(status int, body string) (string, bool) { return web.ContinueTarget(status, body) }
