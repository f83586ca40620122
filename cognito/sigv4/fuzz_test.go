package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// FuzzVerify feeds Verify any Authorization header, date, path, query and
// body on a request otherwise like AWS's get-vanilla vector: it must not
// panic, must refuse with an *Error (the key source never fails), and may
// accept only what get-vanilla signed, in a form that canonicalises the
// same.
func FuzzVerify(f *testing.F) {
	const auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	f.Add(auth, "20150830T123600Z", "/", "", []byte(nil))
	f.Add(auth, "20150830T123600Z", "/a/..", "", []byte(nil))
	f.Add(auth, "20150830T123600Z", "/", "a=b", []byte("x"))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=a;b, Signature="+string(make([]byte, 64)), "x", "//", "%zz", []byte("{}"))
	f.Fuzz(func(t *testing.T, authz, date, path, query string, body []byte) {
		v, err := New(Config{
			Region: "us-east-1",
			Keys:   staticKeys{suiteKeyID: {secret: suiteSecret}},
			Replay: &memCounter{},
			Now:    func() time.Time { return suiteTime },
		})
		if err != nil {
			t.Fatal(err)
		}
		v.service = "service"
		r := &http.Request{Method: http.MethodGet, Host: "example.amazonaws.com", URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}}
		r.RequestURI = path
		if query != "" {
			r.RequestURI += "?" + query
		}
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		r = r.WithContext(context.Background())
		p, err := v.Verify(r, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("a refusal that is not an *Error: %v", err)
			}
			return
		}
		if p.AccessKeyID != suiteKeyID || authz != auth || date != "20150830T123600Z" || len(body) != 0 ||
			canonicalURI(wirePath(r)) != "/" || canonicalQuery(query) != "" {
			t.Fatalf("accepted %q %q %q %q %q", authz, date, path, query, body)
		}
	})
}
