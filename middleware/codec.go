package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// CookieKeyLen is the length of a cookie key's material: a 64-byte HMAC key
// followed by a 32-byte AES-256 key.
const CookieKeyLen = 64 + 32

// shardSize keeps each cookie, with its name and attributes, under the
// 4096-byte limit browsers enforce per cookie.
const shardSize = 3800

// maxShards bounds how many numbered cookies a session may span, and so what
// a client can make the codec read.
const maxShards = 8

// ErrNoSession means the request carries no session cookie.
var ErrNoSession = errors.New("no session cookie")

// Codec turns sessions into encrypted, authenticated cookies and back, with
// gorilla/securecookie (AES-256-CTR, HMAC-SHA-256). The active key encodes;
// every key decodes, so rotated-out keys keep working until removed.
type Codec struct {
	name string
	ring *ringCodec
}

// NewCodec returns a codec for cookies called name on a set of keys that
// may change while it is in use (see CookieKeys), refusing cookies older
// than maxAge.
func NewCodec(name string, keys *CookieKeys, maxAge time.Duration) (*Codec, error) {
	if name == "" || strings.ContainsAny(name, "=;, \t\r\n") {
		return nil, fmt.Errorf("invalid cookie name %q", name)
	}
	if keys == nil {
		return nil, errors.New("no cookie keys")
	}
	// maxLength 0: sharding, not securecookie, bounds the size.
	return &Codec{name: name, ring: &ringCodec{keys: keys, maxAge: maxAge}}, nil
}

// Codecs returns a codec for other cookies sealed with the same keys (the
// hosted pages' CSRF cookie); it follows key rotation as the session does.
func (c *Codec) Codecs() []securecookie.Codec { return []securecookie.Codec{c.ring} }

// CodecsFor returns a codec like Codecs' that accepts values up to maxAge
// old, for a cookie that outlives the session (a remembered device).
func (c *Codec) CodecsFor(maxAge time.Duration) []securecookie.Codec {
	return []securecookie.Codec{&ringCodec{keys: c.ring.keys, maxAge: maxAge}}
}

// Name returns the cookie name.
func (c *Codec) Name() string { return c.name }

// Encode returns the cookie value for s.
func (c *Codec) Encode(s *Session) (string, error) {
	return c.ring.Encode(c.name, s)
}

// Decode verifies, decrypts and parses a cookie value.
func (c *Codec) Decode(value string) (*Session, error) {
	s := new(Session)
	if err := c.ring.Decode(c.name, value, s); err != nil {
		return nil, err
	}
	if s.ID == "" || s.UserID == "" {
		return nil, errors.New("session cookie lacks ids")
	}
	return s, nil
}

// ErrSessionTooLarge means a session needs more cookie shards than a
// request may carry (maxShards): typically a user in hundreds of groups.
var ErrSessionTooLarge = errors.New("session too large for its cookies")

// tooLarge reports whether a cookie value needs more than maxShards cookies.
func tooLarge(value string) bool {
	return (len(value)+shardSize-1)/shardSize > maxShards
}

// Write sets the cookie(s) for value on w: one cookie when it fits, numbered
// shards name-0, name-1, ... when it does not. Cookies left from an earlier,
// differently sharded value are cleared. A value Read could not reassemble
// is refused with ErrSessionTooLarge and nothing is written.
func (c *Codec) Write(w http.ResponseWriter, r *http.Request, value string, expires time.Time, secure bool) error {
	if tooLarge(value) {
		return ErrSessionTooLarge
	}
	maxAge := int(time.Until(expires) / time.Second)
	if maxAge <= 0 {
		maxAge = -1
	}
	if len(value) <= shardSize {
		http.SetCookie(w, c.cookie(c.name, value, maxAge, secure))
		c.clearShards(w, r, 0, secure)
		return nil
	}
	n := 0
	for ; len(value) > 0; n++ {
		part := value[:min(shardSize, len(value))]
		value = value[len(part):]
		http.SetCookie(w, c.cookie(c.shardName(n), part, maxAge, secure))
	}
	c.clearShards(w, r, n, secure)
	if _, ok := cookieValue(r, c.name); ok {
		http.SetCookie(w, c.cookie(c.name, "", -1, secure))
	}
	return nil
}

// Clear removes the session cookie and every shard the request carries.
func (c *Codec) Clear(w http.ResponseWriter, r *http.Request, secure bool) {
	http.SetCookie(w, c.cookie(c.name, "", -1, secure))
	c.clearShards(w, r, 0, secure)
}

// clearShards expires the shards from index from on that r carries.
func (c *Codec) clearShards(w http.ResponseWriter, r *http.Request, from int, secure bool) {
	for i := from; i < maxShards; i++ {
		name := c.shardName(i)
		if _, ok := cookieValue(r, name); !ok {
			break
		}
		http.SetCookie(w, c.cookie(name, "", -1, secure))
	}
}

func (c *Codec) cookie(name, value string, maxAge int, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

func (c *Codec) shardName(i int) string { return c.name + "-" + strconv.Itoa(i) }

// Read returns the raw session cookie value r carries: the single cookie if
// present, else its shards joined in order.
func (c *Codec) Read(r *http.Request) (string, error) {
	if v, ok := cookieValue(r, c.name); ok {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < maxShards; i++ {
		v, ok := cookieValue(r, c.shardName(i))
		if !ok {
			break
		}
		b.WriteString(v)
	}
	if b.Len() == 0 {
		return "", ErrNoSession
	}
	return b.String(), nil
}

// cookieValue finds one cookie by name in r's Cookie headers without parsing
// the others (http.Request.Cookie allocates for every cookie on the request;
// this runs on every request). It returns a substring of the header.
func cookieValue(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				v := strings.TrimRight(part[len(name)+1:], " \t")
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v, true
			}
		}
	}
	return "", false
}
