package middleware

import "net/http"

// Principal is who a request was authenticated as: the subject of a session
// or of a verified bearer token, the facts rules read about it, and the
// identity header values the upstream is given. It is made once per session
// (and refresh) or token, then shared read-only by every request presenting
// the same credentials, so that a request reads it without allocating.
//
// How long it is good for, which cookie keys opened it and its refresh are
// the caches' business (cacheEntry, bearerEntry), not the principal's.
type Principal struct {
	subject string
	facts   facts
	// The identity headers' values: one-element slices shared by every
	// request with this principal. Handlers replace header slices (Set, Del)
	// or append to them, which copies a full slice, so none is written in
	// place.
	identity []string
	data     []string
	access   []string   // nil: no access token to pass
	values   [][]string // one per configured plain header; nil when empty
}

// anonymous is the principal of a request without identity.
var anonymous = &Principal{}

// Authenticated reports whether p is an identity rather than anonymous.
func (p *Principal) Authenticated() bool { return p != nil && p != anonymous }

// Subject returns the `sub` of an authenticated principal.
func (p *Principal) Subject() string {
	if !p.Authenticated() {
		return ""
	}
	return p.subject
}

// String returns the subject, so that a principal in a log placeholder
// names the user and shows nothing else of the session.
func (p *Principal) String() string { return p.Subject() }

// verdict is a gateway's judgement of a principal it made: the principal's
// role and the first rule it fails. The gateway's caches keep it with the
// principal, so a request with a cached session or token evaluates nothing.
type verdict struct {
	role   *Role
	failed int // index of the first rule that does not hold; -1 for none
}

// judge evaluates g's roles and rules for f.
func (g *Gateway) judge(f *facts) verdict {
	role := g.pol.roleFor(f)
	return verdict{role: role, failed: g.pol.check(f, role)}
}

// principal makes the principal of s, which rules see through f: the
// header values are rendered from s once, here.
func (g *Gateway) principal(s *Session, f facts) *Principal {
	p := &Principal{
		subject:  s.UserID,
		facts:    f,
		identity: []string{s.UserID},
		data:     []string{s.DataToken},
		values:   make([][]string, len(g.headers)),
	}
	if s.AccessToken != "" {
		p.access = []string{s.AccessToken}
	}
	for i, h := range g.headers {
		if v := h.render(s); v != "" {
			p.values[i] = []string{v}
		}
	}
	return p
}

// inject adds the identity headers of p to h.
func (g *Gateway) inject(h http.Header, p *Principal) {
	h[HeaderIdentity] = p.identity
	h[HeaderData] = p.data
	if g.cfg.PassAccessToken && p.access != nil {
		h[HeaderAccessToken] = p.access
	}
	for i, t := range g.headers {
		if v := p.values[i]; v != nil {
			h[t.name] = v
		}
	}
}
