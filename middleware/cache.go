package middleware

import (
	"strings"
	"sync"
	"time"
)

// cacheEntry is a verified, decrypted session with its principal ready.
type cacheEntry struct {
	s *Session
	// p is who the session is, and v the gateway's verdict on p.
	p *Principal
	v verdict
	// keys is the cookie keys' removal count when the cookie was opened
	// (see CookieKeys.Set); an entry from before a removal is opened again.
	keys uint64
	// renew is this session's claims refresh, shared by every request
	// that shows its cookie once it is due (renew.go).
	renew renewals
}

// sessionCache maps raw cookie values to their decoded sessions, so a
// session's cookie is verified and decrypted once per process rather than
// once per request. Keys are whole authenticated cookie values, so an entry
// can only be reached by presenting the exact cookie that was verified.
type sessionCache struct {
	mu  sync.RWMutex
	m   map[string]*cacheEntry
	max int
}

func newSessionCache(max int) *sessionCache {
	return &sessionCache{m: make(map[string]*cacheEntry), max: max}
}

func (c *sessionCache) get(raw string) *cacheEntry {
	c.mu.RLock()
	e := c.m[raw]
	c.mu.RUnlock()
	return e
}

// put adds an entry. When full, it drops expired sessions, and if that frees
// too little, an arbitrary eighth of the rest (Go's map order is random).
func (c *sessionCache) put(raw string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		now := time.Now().UnixNano()
		for k, v := range c.m {
			if now >= v.s.Expires || now >= v.s.RefreshAt {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, k)
		}
	}
	// The raw value is usually a slice of a request's Cookie header; copy it
	// so the cache does not keep whole headers alive.
	c.m[strings.Clone(raw)] = e
}

func (c *sessionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// tokenCache maps token hashes to verified tokens, bounded in size; an
// entry is used only until its token expires.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*bearerEntry
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]*bearerEntry), max: max}
}

func (c *tokenCache) get(k [32]byte) *bearerEntry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	return e
}

// put adds an entry. When full it drops expired tokens, and if that frees
// too little, an arbitrary eighth of the rest (Go's map order is random).
func (c *tokenCache) put(k [32]byte, e *bearerEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		now := time.Now().UnixNano()
		for key, v := range c.m {
			if now >= v.expires {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
