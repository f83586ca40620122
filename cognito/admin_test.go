package cognito_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito"
)

// The admin seam, tested with actions and a verifier of the test's own:
// the real verifier is SigV4's (cognito/sigv4), the real actions cog-admin's.

func init() {
	echo := func(_ *cognito.Handler, req cognito.AdminRequest) (any, error) {
		var in struct{ Say string }
		if err := req.Decode(&in); err != nil {
			return nil, err
		}
		if in.Say == "fail" {
			return nil, cognito.NewError("UserNotFoundException", "User does not exist.")
		}
		return map[string]string{"Said": in.Say, "By": req.Caller.AccessKeyID}, nil
	}
	cognito.RegisterAdmin("GatehouseTestWrite", cognito.AdminAction{Run: echo})
	cognito.RegisterAdmin("GatehouseTestRead", cognito.AdminAction{ReadOnly: true, Run: echo})
}

// keyHeader stands in for a signature: which key "signed".
type keyHeader struct{}

func (keyHeader) VerifyAdmin(r *http.Request, _ []byte) (cognito.AdminCaller, error) {
	switch r.Header.Get("X-Test-Key") {
	case "rw":
		return cognito.AdminCaller{AccessKeyID: "AKIDRW"}, nil
	case "ro":
		return cognito.AdminCaller{AccessKeyID: "AKIDRO", ReadOnly: true}, nil
	case "expired":
		return cognito.AdminCaller{}, cognito.NewError("InvalidSignatureException", "Signature expired")
	}
	return cognito.AdminCaller{}, errors.New("no signature")
}

func TestAdminSeam(t *testing.T) {
	inProcessAPI(t)
	cfg := apiConfig
	cfg.AdminVerifier = keyHeader{}
	withVerifier, err := cognito.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	without, _ := inProcessAPI(t)
	send := func(h http.Handler, action, key, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target(action))
		r.Header.Set("Content-Type", amzJSON)
		if key != "" {
			r.Header.Set("X-Test-Key", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	wantError(t, send(without, "GatehouseTestRead", "rw", `{}`), 400, "NotAuthorizedException")
	wantError(t, send(withVerifier, "GatehouseTestRead", "", `{}`), 400, "NotAuthorizedException")
	wantError(t, send(withVerifier, "GatehouseTestRead", "expired", `{}`), 400, "InvalidSignatureException")
	wantError(t, send(withVerifier, "GatehouseTestWrite", "ro", `{"Say":"x"}`), 400, "AccessDeniedException")
	wantError(t, send(withVerifier, "GatehouseTestWrite", "rw", `{"Say":`), 400, "SerializationException")
	wantError(t, send(withVerifier, "GatehouseTestWrite", "rw", `{"Say":"fail"}`), 400, "UserNotFoundException")
	for _, tc := range []struct{ action, key, by string }{
		{"GatehouseTestWrite", "rw", "AKIDRW"}, {"GatehouseTestRead", "ro", "AKIDRO"}, {"GatehouseTestRead", "rw", "AKIDRW"},
	} {
		w := send(withVerifier, tc.action, tc.key, `{"Say":"hi"}`)
		if w.Code != 200 || w.Body.String() != `{"By":"`+tc.by+`","Said":"hi"}` {
			t.Errorf("%s with %s: %d %s", tc.action, tc.key, w.Code, w.Body)
		}
	}
	for _, name := range []string{"GatehouseTestRead", "InitiateAuth"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %s again did not panic", name)
				}
			}()
			cognito.RegisterAdmin(name, cognito.AdminAction{Run: func(*cognito.Handler, cognito.AdminRequest) (any, error) { return nil, nil }})
		}()
	}
}
