package module_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestCognitoOnlyOnIssuer: the Cognito API answers only on the pool's
// issuer site. The same X-Amz-Target POST to a guarded site meets the
// gateway (a sign-in is asked for), and to a site open to everyone goes
// to its upstream: never to the API, whose answers carry x-amzn-RequestId.
func TestCognitoOnlyOnIssuer(t *testing.T) {
	up := startEchoUpstream(t)
	idp, guarded, open := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	addr := strings.TrimPrefix(up.URL, "http://")
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s/gatehouse.db
			issuer http://127.0.0.1:%d
			%s
			cognito {
				pool_id us-east-1_Sites1
			}
			client spa {
				public
				redirect_uri https://spa.example.test/cb
				auth_flows ALLOW_USER_PASSWORD_AUTH
			}
		}
	}
}

http://127.0.0.1:%d {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}

http://127.0.0.1:%d {
	gatehouse
	reverse_proxy %s
}

http://127.0.0.1:%d {
	gatehouse {
		on_unauthenticated allow
	}
	reverse_proxy %s
}
`, t.TempDir(), idp, testenv.FastHash, idp, guarded, addr, open, addr)
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/.well-known/openid-configuration", idp), 5*time.Second)
	post := func(port int) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/", port),
			strings.NewReader(`{"ClientId":"spa","AuthFlow":"USER_PASSWORD_AUTH","AuthParameters":{"USERNAME":"a@example.com","PASSWORD":"x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post(idp)
	if resp.Header.Get("x-amzn-RequestId") == "" || !strings.Contains(body, "NotAuthorizedException") {
		t.Fatalf("the issuer site: %d %s", resp.StatusCode, body)
	}
	resp, body = post(guarded)
	if resp.Header.Get("x-amzn-RequestId") != "" || strings.Contains(body, "__type") || up.count() != 0 {
		t.Fatalf("the guarded site answered as the API or let it through: %d %s (upstream saw %d)", resp.StatusCode, body, up.count())
	}
	resp, body = post(open)
	if resp.Header.Get("x-amzn-RequestId") != "" || strings.Contains(body, "__type") || up.count() != 1 {
		t.Fatalf("the open site: %d %s (upstream saw %d)", resp.StatusCode, body, up.count())
	}
	if got := up.last().Header.Get("X-Amz-Target"); got != "AWSCognitoIdentityProviderService.InitiateAuth" {
		t.Errorf("the upstream saw X-Amz-Target %q", got)
	}
}
