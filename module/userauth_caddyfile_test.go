package module_test

import (
	"strings"
	"testing"
)

// `first_auth_factors` and the cognito block's `webauthn_origin`: Cognito's
// names, PASSWORD always among them, EMAIL_OTP only with mail and never
// with `mfa required`, a passkey origin browsers offer passkeys on.
func TestUserAuthCaddyfile(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + t.TempDir() + `/gh.db
			issuer https://auth.example.test
			` + opts + `
		}
	}
}
`
	}
	const cognitoBlock = "cognito {\n\t\t\t\tpool_id us-east-1_GateHouse1\n\t\t\t\t%s\n\t\t\t}"
	const mail = "mail outbox /tmp/gh-outbox-test {\n\t\t\t\tfrom no-reply@example.com\n\t\t\t}"
	for _, tc := range []struct{ name, opts, want string }{
		{"no factor", "first_auth_factors", "first_auth_factors"},
		{"unknown factor", "first_auth_factors PASSWORD SMS_OTP", "want PASSWORD, EMAIL_OTP or WEB_AUTHN"},
		{"no password", "first_auth_factors WEB_AUTHN", "PASSWORD must be one"},
		{"email without mail", "first_auth_factors PASSWORD EMAIL_OTP", "sends no mail"},
		{"email with mfa required", "mfa required\n" + mail + "\nfirst_auth_factors PASSWORD EMAIL_OTP", "requires MFA"},
		{"plain http origin", strings.Replace(cognitoBlock, "%s", "webauthn_origin http://app.example.test", 1), "webauthn_origin"},
		{"origin with a path", strings.Replace(cognitoBlock, "%s", "webauthn_origin https://app.example.test/x", 1), "webauthn_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
	out, _, err := caddyconfigAdapt(pool(mail + "\nfirst_auth_factors PASSWORD EMAIL_OTP WEB_AUTHN\n" +
		strings.Replace(cognitoBlock, "%s", "webauthn_origin https://app.example.test", 1)))
	if err != nil || !strings.Contains(string(out), `"first_auth_factors":["PASSWORD","EMAIL_OTP","WEB_AUTHN"]`) ||
		!strings.Contains(string(out), `"webauthn_origin":"https://app.example.test"`) {
		t.Fatalf("every factor: %v\n%s", err, out)
	}
}
