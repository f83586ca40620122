package module_test

import (
	"strings"
	"testing"
)

// `srp on|off`: off by default, on only with the pool's Cognito pool id.
func TestSRPCaddyfile(t *testing.T) {
	pool := func(opts string) string {
		return `{
	gatehouse {
		pool default {
			store sqlite ` + t.TempDir() + `/gh.db
			` + opts + `
		}
	}
}
`
	}
	for _, tc := range []struct{ name, opts, want string }{
		{"not on or off", "srp maybe", "on or off"},
		{"no argument", "srp", "srp"},
		{"on without a cognito pool id", "srp on", "cognito block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := caddyconfigAdapt(pool(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("adapt error %v, want one containing %q", err, tc.want)
			}
		})
	}
	out, _, err := caddyconfigAdapt(pool("srp off"))
	if err != nil || strings.Contains(string(out), `"srp"`) {
		t.Fatalf("srp off: %v\n%s", err, out)
	}
	// The cognito block's pool_id is what the verifiers are made with.
	out, _, err = caddyconfigAdapt(pool("issuer https://auth.example.test\n\t\t\tcognito {\n\t\t\t\tpool_id us-east-1_GateHouse1\n\t\t\t}\n\t\t\tsrp on"))
	if err != nil || !strings.Contains(string(out), `"srp":true`) {
		t.Fatalf("srp on with a cognito block: %v\n%s", err, out)
	}
}
