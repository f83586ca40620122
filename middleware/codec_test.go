package middleware

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testCookieName = "gatehouse_session"

func newCookieKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, CookieKeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestCodec returns a codec for cookies called name on a fixed set of
// keys (each CookieKeyLen bytes, newest first: the first seals).
func newTestCodec(name string, keys [][]byte, maxAge time.Duration) (*Codec, error) {
	ck := make([]CookieKey, len(keys))
	for i, k := range keys {
		ck[i] = CookieKey{Material: k}
	}
	set, err := NewCookieKeys(ck)
	if err != nil {
		return nil, err
	}
	return NewCodec(name, set, maxAge)
}

func mustCodec(t testing.TB, maxAge time.Duration, keys ...[]byte) *Codec {
	t.Helper()
	c, err := newTestCodec(testCookieName, keys, maxAge)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func sampleSession() *Session {
	now := time.Now()
	return &Session{
		ID:            "sid-123",
		UserID:        "3f1c7c1e-0000-4000-8000-000000000001",
		Email:         "ada@example.com",
		EmailVerified: true,
		Name:          "Ada Lovelace",
		Groups:        []string{"admins", "dev"},
		AMR:           []string{"pwd"},
		AuthTime:      now.UnixNano(),
		IssuedAt:      now.UnixNano(),
		Expires:       now.Add(time.Hour).UnixNano(),
		RefreshAt:     now.Add(5 * time.Minute).UnixNano(),
		DataToken:     "header.payload.signature",
		AccessToken:   "access.token.here",
	}
}

// restamp rewrites the securecookie timestamp of value to ts and signs it
// again with hashKey, as a cookie made at ts would be.
func restamp(t *testing.T, value, name string, hashKey []byte, ts int64) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		t.Fatalf("cookie has %d parts", len(parts))
	}
	signed := fmt.Sprintf("%s|%d|%s", name, ts, parts[1])
	mac := hmac.New(sha256.New, hashKey)
	mac.Write([]byte(signed))
	out := signed[len(name)+1:] + "|" + string(mac.Sum(nil))
	return base64.URLEncoding.EncodeToString([]byte(out))
}

func TestCodecRoundTrip(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	if c.Name() != testCookieName || len(c.Codecs()) != 1 {
		t.Fatalf("Name %q, %d codecs", c.Name(), len(c.Codecs()))
	}
	s := sampleSession()
	v, err := c.Encode(s)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if strings.Contains(v, s.Email) || strings.Contains(v, s.DataToken) {
		t.Error("the cookie value shows the session in clear text")
	}
	got, err := c.Decode(v)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	// Everything round-trips but the signed data header, which the gateway
	// signs again rather than carry.
	want := *s
	want.DataToken = ""
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("Decode = %+v, want %+v", got, &want)
	}
	// Encryption uses a fresh IV: the same session never encodes the same.
	v2, _ := c.Encode(s)
	if v2 == v {
		t.Error("two encodings of one session are identical")
	}
}

func TestCodecDecodeRejects(t *testing.T) {
	key := newCookieKey(t)
	c := mustCodec(t, time.Hour, key)
	v, err := c.Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherName, err := newTestCodec("other_session", [][]byte{key}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fromOtherName, _ := otherName.Encode(sampleSession())
	noIDs, _ := c.Encode(&Session{Email: "ada@example.com"})
	noUser, _ := c.Encode(&Session{ID: "sid"})

	tests := []struct{ name, value string }{
		{"empty", ""},
		{"garbage", "not-a-cookie"},
		{"flipped in the middle", flip(v, len(v)/2)},
		{"flipped near the start", flip(v, 3)},
		{"truncated", v[:len(v)-10]},
		{"extended", v + "AAAA"},
		{"made for another cookie name", fromOtherName},
		{"made with another key", func() string {
			o, _ := mustCodec(t, time.Hour, newCookieKey(t)).Encode(sampleSession())
			return o
		}()},
		{"timestamp changed without the key", func() string {
			raw, _ := base64.URLEncoding.DecodeString(v)
			parts := strings.SplitN(string(raw), "|", 2)
			ts, _ := strconv.ParseInt(parts[0], 10, 64)
			return base64.URLEncoding.EncodeToString([]byte(strconv.FormatInt(ts+1, 10) + "|" + parts[1]))
		}()},
		{"session without ids", noIDs},
		{"session without user id", noUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := c.Decode(tt.value); err == nil || s != nil {
				t.Errorf("Decode = %+v, %v; want an error", s, err)
			}
		})
	}
	// The control: the untouched value decodes.
	if _, err := c.Decode(v); err != nil {
		t.Fatalf("Decode(untouched) = %v", err)
	}
}

func TestCodecKeyRotation(t *testing.T) {
	oldKey, newKey := newCookieKey(t), newCookieKey(t)
	before := mustCodec(t, time.Hour, oldKey)
	after := mustCodec(t, time.Hour, newKey, oldKey)
	onlyNew := mustCodec(t, time.Hour, newKey)

	s := sampleSession()
	oldCookie, err := before.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := after.Decode(oldCookie)
	if err != nil {
		t.Fatalf("a cookie made with the old key does not decode after rotation: %v", err)
	}
	if got.ID != s.ID {
		t.Errorf("decoded session %q, want %q", got.ID, s.ID)
	}
	if _, err := onlyNew.Decode(oldCookie); err == nil {
		t.Error("a cookie made with a removed key still decodes")
	}
	// New cookies use the first key only.
	newCookie, err := after.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyNew.Decode(newCookie); err != nil {
		t.Errorf("a cookie made after rotation does not decode with the new key alone: %v", err)
	}
	if _, err := before.Decode(newCookie); err == nil {
		t.Error("a cookie made after rotation decodes with the old key: it was not made with the new one")
	}
}

func TestCodecMaxAge(t *testing.T) {
	key := newCookieKey(t)
	c := mustCodec(t, time.Minute, key)
	v, err := c.Encode(sampleSession())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tests := []struct {
		name string
		ts   int64
		ok   bool
	}{
		{"made now", now, true},
		{"made 50s ago", now - 50, true},
		{"made 2 minutes ago", now - 120, false},
		{"made a day ago", now - 86400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode(restamp(t, v, testCookieName, key[:64], tt.ts))
			if (err == nil) != tt.ok {
				t.Errorf("Decode error = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestNewCodecErrors(t *testing.T) {
	key := newCookieKey(t)
	tests := []struct {
		name       string
		cookieName string
		keys       [][]byte
	}{
		{"empty name", "", [][]byte{key}},
		{"name with =", "a=b", [][]byte{key}},
		{"name with ;", "a;b", [][]byte{key}},
		{"name with ,", "a,b", [][]byte{key}},
		{"name with space", "a b", [][]byte{key}},
		{"name with tab", "a\tb", [][]byte{key}},
		{"name with newline", "a\nb", [][]byte{key}},
		{"no keys", "s", nil},
		{"short key", "s", [][]byte{key[:64]}},
		{"long key", "s", [][]byte{append(append([]byte{}, key...), 0)}},
		{"second key short", "s", [][]byte{key, key[:32]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := newTestCodec(tt.cookieName, tt.keys, time.Hour); err == nil {
				t.Errorf("NewCodec = %v, want an error", c)
			}
		})
	}
}

// setCookies returns the response's cookies by name, in order.
func setCookies(rec *httptest.ResponseRecorder) ([]*http.Cookie, map[string]*http.Cookie) {
	list := rec.Result().Cookies()
	byName := map[string]*http.Cookie{}
	for _, c := range list {
		byName[c.Name] = c
	}
	return list, byName
}

// requestWith returns a request carrying cookies in one Cookie header, as a
// browser sends them.
func requestWith(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil)
	for _, c := range cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func randomValue(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func TestCodecWriteSingle(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	for _, secure := range []bool{true, false} {
		rec := httptest.NewRecorder()
		value := randomValue(shardSize)
		c.Write(rec, requestWith(), value, time.Now().Add(time.Hour), secure)
		list, _ := setCookies(rec)
		if len(list) != 1 {
			t.Fatalf("%d cookies set for a value of %d bytes, want 1", len(list), len(value))
		}
		got := list[0]
		if got.Name != testCookieName || got.Value != value {
			t.Errorf("cookie %s=%.20q..., want %s", got.Name, got.Value, testCookieName)
		}
		if got.Path != "/" || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Secure != secure {
			t.Errorf("attributes: path %q, httponly %v, samesite %v, secure %v (want secure %v)", got.Path, got.HttpOnly, got.SameSite, got.Secure, secure)
		}
		if got.MaxAge < 3590 || got.MaxAge > 3600 {
			t.Errorf("Max-Age = %d, want about 3600", got.MaxAge)
		}
	}

	// An expiry in the past deletes rather than sets.
	rec := httptest.NewRecorder()
	c.Write(rec, requestWith(), "v", time.Now().Add(-time.Minute), true)
	if _, byName := setCookies(rec); byName[testCookieName] == nil || byName[testCookieName].MaxAge >= 0 {
		t.Errorf("a cookie written with a past expiry is not deleted: %v", rec.Header()["Set-Cookie"])
	}
}

func TestCodecWriteShards(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	value := randomValue(2*shardSize + 1400)
	rec := httptest.NewRecorder()
	c.Write(rec, requestWith(), value, time.Now().Add(time.Hour), true)

	for _, line := range rec.Header()["Set-Cookie"] {
		if len(line) >= 4096 {
			t.Errorf("a Set-Cookie line has %d bytes, browsers keep at most 4096", len(line))
		}
	}
	list, byName := setCookies(rec)
	if len(list) != 3 {
		t.Fatalf("%d cookies set for %d bytes, want 3 shards", len(list), len(value))
	}
	var joined strings.Builder
	for i, ck := range list {
		if want := testCookieName + "-" + strconv.Itoa(i); ck.Name != want {
			t.Errorf("cookie %d is %q, want %q", i, ck.Name, want)
		}
		if ck.MaxAge <= 0 || !ck.HttpOnly || !ck.Secure || ck.Path != "/" {
			t.Errorf("shard %s attributes: %+v", ck.Name, ck)
		}
		joined.WriteString(ck.Value)
	}
	if joined.String() != value {
		t.Fatal("the shards do not join to the value")
	}
	if byName[testCookieName] != nil {
		t.Error("the unsharded cookie was set (or cleared) though the request had none")
	}

	// Read reassembles it, whatever order the browser sends the shards in.
	r := requestWith(list[2], list[0], list[1])
	got, err := c.Read(r)
	if err != nil || got != value {
		t.Fatalf("Read = %d bytes, %v; want the %d-byte value", len(got), err, len(value))
	}

	// A later small value replaces the shards and clears them.
	rec = httptest.NewRecorder()
	c.Write(rec, r, "small", time.Now().Add(time.Hour), true)
	list2, byName2 := setCookies(rec)
	if ck := byName2[testCookieName]; ck == nil || ck.Value != "small" || ck.MaxAge <= 0 {
		t.Fatalf("small value not set: %v", rec.Header()["Set-Cookie"])
	}
	for i := range 3 {
		name := testCookieName + "-" + strconv.Itoa(i)
		if ck := byName2[name]; ck == nil || ck.MaxAge >= 0 || ck.Value != "" {
			t.Errorf("leftover shard %s not cleared: %+v", name, ck)
		}
	}
	if len(list2) != 4 {
		t.Errorf("%d cookies in the response, want the value and 3 cleared shards: %v", len(list2), rec.Header()["Set-Cookie"])
	}

	// Fewer shards than before: the extra old ones are cleared, and so is
	// a single cookie the request still carries.
	big := randomValue(5*shardSize - 10)
	rec = httptest.NewRecorder()
	c.Write(rec, requestWith(), big, time.Now().Add(time.Hour), false)
	five, _ := setCookies(rec)
	if len(five) != 5 {
		t.Fatalf("%d shards for %d bytes, want 5", len(five), len(big))
	}
	carried := append(five, &http.Cookie{Name: testCookieName, Value: "stale"})
	rec = httptest.NewRecorder()
	c.Write(rec, requestWith(carried...), value, time.Now().Add(time.Hour), false)
	_, byName3 := setCookies(rec)
	for i := range 5 {
		name := testCookieName + "-" + strconv.Itoa(i)
		ck := byName3[name]
		if ck == nil {
			t.Errorf("shard %s not in the response", name)
			continue
		}
		if cleared := ck.MaxAge < 0; cleared != (i >= 3) {
			t.Errorf("shard %s: cleared %v, want %v", name, cleared, i >= 3)
		}
	}
	if ck := byName3[testCookieName]; ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the stale unsharded cookie was not cleared: %+v", ck)
	}
}

func TestCodecShardedSessionRoundTrip(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	s := sampleSession()
	for i := range 300 {
		s.Groups = append(s.Groups, fmt.Sprintf("group-with-a-longish-name-%03d", i))
	}
	v, err := c.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) <= shardSize {
		t.Fatalf("test session encodes to %d bytes, want more than %d", len(v), shardSize)
	}
	rec := httptest.NewRecorder()
	c.Write(rec, requestWith(), v, time.Unix(0, s.Expires), true)
	list, _ := setCookies(rec)
	if len(list) < 2 {
		t.Fatalf("%d cookies for %d bytes", len(list), len(v))
	}
	raw, err := c.Read(requestWith(list...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(raw)
	if err != nil {
		t.Fatalf("Decode(reassembled): %v", err)
	}
	want := *s
	want.DataToken = ""
	if !reflect.DeepEqual(got, &want) {
		t.Error("the sharded session does not round-trip")
	}
}

func TestCodecClear(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	r := requestWith(
		&http.Cookie{Name: testCookieName, Value: "v"},
		&http.Cookie{Name: testCookieName + "-0", Value: "a"},
		&http.Cookie{Name: testCookieName + "-1", Value: "b"},
		&http.Cookie{Name: "unrelated", Value: "keep"},
	)
	for _, secure := range []bool{true, false} {
		rec := httptest.NewRecorder()
		c.Clear(rec, r, secure)
		list, byName := setCookies(rec)
		if len(list) != 3 {
			t.Errorf("%d cookies cleared, want 3: %v", len(list), rec.Header()["Set-Cookie"])
		}
		for _, name := range []string{testCookieName, testCookieName + "-0", testCookieName + "-1"} {
			ck := byName[name]
			if ck == nil || ck.MaxAge >= 0 || ck.Value != "" || ck.Path != "/" || ck.Secure != secure {
				t.Errorf("%s not expired properly: %+v", name, ck)
			}
		}
		if byName["unrelated"] != nil {
			t.Error("an unrelated cookie was touched")
		}
	}
	// With no cookie at all, the session cookie is still expired (a
	// sign-out answers the same whatever the browser sent).
	rec := httptest.NewRecorder()
	c.Clear(rec, requestWith(), true)
	if list, _ := setCookies(rec); len(list) != 1 || list[0].Name != testCookieName || list[0].MaxAge >= 0 {
		t.Errorf("Clear without cookies: %v", rec.Header()["Set-Cookie"])
	}
}

func TestCodecRead(t *testing.T) {
	c := mustCodec(t, time.Hour, newCookieKey(t))
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr bool
	}{
		{"none", nil, "", true},
		{"unrelated only", []string{"a=1; b=2"}, "", true},
		{"single", []string{"gatehouse_session=abc"}, "abc", false},
		{"single wins over shards", []string{"gatehouse_session-0=x; gatehouse_session=abc; gatehouse_session-1=y"}, "abc", false},
		{"shards in order", []string{"gatehouse_session-0=ab; gatehouse_session-1=cd; gatehouse_session-2=ef"}, "abcdef", false},
		{"shards in two headers", []string{"gatehouse_session-1=cd", "gatehouse_session-0=ab"}, "abcd", false},
		{"shards stop at a gap", []string{"gatehouse_session-0=ab; gatehouse_session-2=ef"}, "ab", false},
		{"shards without the first", []string{"gatehouse_session-1=cd"}, "", true},
		{"a ninth shard is ignored", []string{func() string {
			var parts []string
			for i := range maxShards + 1 {
				parts = append(parts, fmt.Sprintf("gatehouse_session-%d=%d", i, i))
			}
			return strings.Join(parts, "; ")
		}()}, "01234567", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Cookie", h)
			}
			got, err := c.Read(r)
			if tt.wantErr {
				if !errors.Is(err, ErrNoSession) {
					t.Errorf("Read = %q, %v; want ErrNoSession", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Read = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	const name = "gatehouse_session"
	tests := []struct {
		name    string
		headers []string
		want    string
		found   bool
	}{
		{"no header", nil, "", false},
		{"empty header", []string{""}, "", false},
		{"alone", []string{"gatehouse_session=v1"}, "v1", true},
		{"first of several", []string{"gatehouse_session=v1; a=b"}, "v1", true},
		{"last of several", []string{"a=b; c=d; gatehouse_session=v1"}, "v1", true},
		{"no space after ;", []string{"a=b;gatehouse_session=v1;c=d"}, "v1", true},
		{"several spaces and tabs", []string{"a=b; \t gatehouse_session=v1  ;c=d"}, "v1", true},
		{"second Cookie header", []string{"a=b; c=d", "e=f; gatehouse_session=v2"}, "v2", true},
		{"first Cookie header wins", []string{"gatehouse_session=v1", "gatehouse_session=v2"}, "v1", true},
		{"quoted", []string{`a=b; gatehouse_session="v1"`}, "v1", true},
		{"lone quote kept", []string{`gatehouse_session="`}, `"`, true},
		{"empty value", []string{"gatehouse_session=; a=b"}, "", true},
		{"empty value at end", []string{"a=b; gatehouse_session="}, "", true},
		{"value with =", []string{"gatehouse_session=YWJj==; a=b"}, "YWJj==", true},
		{"name as a suffix", []string{"xgatehouse_session=evil"}, "", false},
		{"name as a suffix, then the real one", []string{"xgatehouse_session=evil; gatehouse_session=good"}, "good", true},
		{"name as a prefix", []string{"gatehouse_session2=evil; gatehouse_session-0=shard"}, "", false},
		{"name without =", []string{"gatehouse_session; a=b"}, "", false},
		{"name only in a value", []string{"a=gatehouse_session=evil"}, "", false},
		{"other case", []string{"Gatehouse_Session=v1"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}}
			for _, h := range tt.headers {
				r.Header.Add("Cookie", h)
			}
			got, found := cookieValue(r, name)
			if got != tt.want || found != tt.found {
				t.Errorf("cookieValue = %q, %v; want %q, %v", got, found, tt.want, tt.found)
			}
		})
	}
}

func TestCookieValueAllocatesNothing(t *testing.T) {
	r := &http.Request{Header: http.Header{"Cookie": {"_ga=GA1.2.3; theme=dark; gatehouse_session=" + strings.Repeat("x", 1500) + "; lang=en"}}}
	var v string
	allocs := testing.AllocsPerRun(100, func() { v, _ = cookieValue(r, testCookieName) })
	if allocs != 0 {
		t.Errorf("cookieValue allocates %.1f times per call, want 0", allocs)
	}
	if len(v) != 1500 {
		t.Fatalf("found %d bytes", len(v))
	}
}
