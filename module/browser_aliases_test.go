package module_test

import "testing"

// TestBrowserAliases runs testdata/browser/aliases.mjs: in a real Chromium,
// a pool with sign_in_with email username shows an "Email or username"
// text input, a user signs up with a username, confirms, and signs in by
// the username in capitals (a type=email input would have been refused by
// the browser). It skips, or fails under CI=true, as TestBrowserSignIn does.
func TestBrowserAliases(t *testing.T) {
	s := startMailSite(t, "Browser Aliases Corp", "sign_in_with email username")
	s.run(t, "aliases.mjs", "dorothy@example.com")
}
