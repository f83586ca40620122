package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's own example: secret, id,
// timestamp and body, and the signature its reference libraries give.
func TestSignMatchesSpecificationVector(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{NewSecret(), ""},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with whsec_"},
		{"whsec_not*base64", "does not decode"},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "24 to 64"},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "24 to 64"},
	} {
		_, err := ParseSecret(tc.in)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseSecret(%q) = %v, want error containing %q", tc.in, err, tc.err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	raw := NewSecret()
	s, _ := ParseSecret(raw)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %s", s, s, s)} {
		if strings.Contains(out, strings.TrimPrefix(raw, "whsec_")) {
			t.Fatalf("the secret printed: %s", out)
		}
	}
}

func TestVerify(t *testing.T) {
	s, _ := ParseSecret(NewSecret())
	other, _ := ParseSecret(NewSecret())
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"a":1}`)
	headers := func(id string, ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, fmt.Sprint(ts))
		h.Set(HeaderSignature, sig)
		return h
	}
	good := s.Sign("msg_1", now.Unix(), body)
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"valid", headers("msg_1", now.Unix(), good), body, true},
		{"one of several", headers("msg_1", now.Unix(), "v1,AAAA "+other.Sign("msg_1", now.Unix(), body)+" "+good), body, true},
		{"tampered body", headers("msg_1", now.Unix(), good), []byte(`{"a":2}`), false},
		{"other id", headers("msg_2", now.Unix(), good), body, false},
		{"wrong secret", headers("msg_1", now.Unix(), other.Sign("msg_1", now.Unix(), body)), body, false},
		{"old", headers("msg_1", now.Unix()-301, s.Sign("msg_1", now.Unix()-301, body)), body, false},
		{"future", headers("msg_1", now.Unix()+301, s.Sign("msg_1", now.Unix()+301, body)), body, false},
		{"v2 prefix", headers("msg_1", now.Unix(), "v2,"+strings.TrimPrefix(good, "v1,")), body, false},
		{"missing", http.Header{}, body, false},
	} {
		err := s.Verify(tc.h, tc.body, now, DefaultTolerance)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v is not ErrSignature", tc.name, err)
		}
	}
}

// independentlyValid checks a signature the way a receiver without this
// package would: the spec's recipe written out with the standard library.
func independentlyValid(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("Webhook-Id") + "." + h.Get("Webhook-Timestamp") + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Split(h.Get("Webhook-Signature"), " ") {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
