package middleware

import (
	"mime"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Guard runs for every request to the guarded site. It returns true when the
// request may go on to the upstream; otherwise it has answered it already.
// It is Authorize for a request no other gateway has seen.
func (g *Gateway) Guard(w http.ResponseWriter, r *http.Request) bool {
	_, ok := g.Authorize(w, r, Auth{})
	return ok
}

// Auth is what the gatehouse blocks a request has passed so far
// established. The first block authenticates the request; a block that
// runs after it (one inside a `handle` of a guarded site) is given its
// Auth, so that it neither reads the credentials again nor injects the
// identity headers twice: it applies its own rules and roles to the same
// principal.
type Auth struct {
	// Principal is the request's identity, or the anonymous principal;
	// nil while no gateway has run.
	Principal *Principal
	// Role is the request's role; nil for none.
	Role *Role
}

// Authorize decides whether r may go on. Given a zero prior it
// authenticates r first: strips client-sent identity headers, verifies a
// bearer token or the session cookie, and injects the identity headers;
// given the Auth of an earlier gateway, it takes that identity as is.
// Then it applies its rules. It returns the request's Auth and true when r
// may go on; otherwise it has answered r (sign-in redirect, 401 or 403).
//
// Evaluation allocates nothing: the gateway that authenticates r finds its
// verdict cached with the principal, and a later one's rules read only the
// principal's precomputed facts.
func (g *Gateway) Authorize(w http.ResponseWriter, r *http.Request, prior Auth) (Auth, bool) {
	p, role := prior.Principal, prior.Role
	first := p == nil
	var v verdict // this gateway's, cached with a principal it made
	if first {
		g.strip.stripRequest(r)
		if why := ambiguousPath(r.URL); why != "" {
			g.refusePath(w, r, why)
			return Auth{}, false
		}
		if p, v = g.authenticate(w, r); p == nil {
			return Auth{}, false
		}
		if g.cfg.StripSessionCookie {
			g.cfg.Codec.StripCookie(r.Header)
		}
	}
	if p == anonymous {
		if g.pol.guest != nil {
			role = g.pol.guest
		}
		pass := g.pol.allowAnonymous || g.pol.isPublic(r) ||
			g.cfg.Mode == ModeAllow && g.pol.check(nil, role) < 0
		if !pass {
			g.unauthenticated(w, r)
			return Auth{}, false
		}
	} else {
		failed := v.failed
		if first {
			if len(g.pol.roles) > 0 {
				role = v.role
			}
		} else {
			// Another gateway's principal: its verdict is not ours.
			if len(g.pol.roles) > 0 {
				role = g.pol.roleFor(&p.facts)
			}
			failed = g.pol.check(&p.facts, role)
		}
		if failed >= 0 && !g.pol.isPublic(r) {
			g.forbid(w, r, p, failed)
			return Auth{}, false
		}
		if first {
			g.inject(r.Header, p)
		}
	}
	if role != nil {
		r.Header[HeaderRole] = role.header
	} else if prior.Role != nil {
		delete(r.Header, HeaderRole)
	}
	return Auth{Principal: p, Role: role}, true
}

// authenticate returns r's principal with g's verdict on it: the bearer
// token's when r carries one, else the session's, else anonymous. It
// returns a nil principal when it has answered r (a refused token).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, verdict) {
	if g.bearer != nil {
		tok, ok, terr := bearerToken(r)
		if ok && terr == nil {
			var be *bearerEntry
			if be, terr = g.tokenEntry(r.Context(), tok); terr == nil {
				return be.p, be.v
			}
		}
		if terr != nil {
			g.refuseToken(w, r, terr)
			return nil, verdict{}
		}
	}
	if e := g.current(w, r); e != nil {
		return e.p, e.v
	}
	return anonymous, verdict{failed: -1}
}

// unauthenticated answers a request that needs an identity and has none:
// browsers are sent to sign in (unless the mode is deny), others get 401.
func (g *Gateway) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Mode != ModeDeny && canSignIn(r) {
		rd, _ := g.cfg.SafeReturnTo(r.URL.RequestURI())
		g.cfg.Source.SignIn(w, r, rd)
		return
	}
	if g.bearer != nil {
		// RFC 6750 §3: no error code, since no token was sent.
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	g.cfg.Unauthorized(w, r)
}

// forbid answers 403 to an authenticated request that fails rule i; a
// bearer request also gets the RFC 6750 challenge (insufficient_scope).
// Never a redirect: signing in again would not change the answer.
//
// The one exception is `require mfa` on a browser session, where a second
// factor would change it: with Config.StepUp set, a navigation is sent
// there to give one, and comes back with a session that has it.
func (g *Gateway) forbid(w http.ResponseWriter, r *http.Request, p *Principal, i int) {
	rl := &g.pol.rules[i]
	if rl.kind == ruleMFA && !p.facts.bearer && g.cfg.StepUp != nil && canSignIn(r) {
		rd, _ := g.cfg.SafeReturnTo(r.URL.RequestURI())
		g.cfg.Logger.Info("step-up to a second factor", zap.String("sub", p.subject), zap.String("path", r.URL.Path))
		g.cfg.StepUp(w, r, rd)
		return
	}
	g.cfg.Logger.Info("request refused by a rule",
		zap.String("rule", rl.text), zap.String("sub", p.subject), zap.Bool("bearer", p.facts.bearer), zap.String("path", r.URL.Path))
	if p.facts.bearer {
		w.Header().Set("WWW-Authenticate", rl.challenge)
	}
	g.renderError(w, r, http.StatusForbidden, "Access denied", rl.message)
}

// refusePath answers 400 to a request whose path an upstream could read as
// another path than the one Gatehouse and Caddy's matchers checked.
func (g *Gateway) refusePath(w http.ResponseWriter, r *http.Request, why string) {
	g.cfg.Logger.Info("ambiguous request path refused", zap.String("reason", why), zap.String("path", r.URL.EscapedPath()))
	g.renderError(w, r, http.StatusBadRequest, "Bad request",
		"This address contains "+why+", which the application behind this site could read as a different page than the one checked, so it is refused.")
}

func (g *Gateway) renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	if g.cfg.RenderError != nil {
		g.cfg.RenderError(w, r, status, title, message)
		return
	}
	http.Error(w, title+": "+message, status)
}

// canSignIn reports whether a sign-in round trip can serve r: a navigation
// (GET or HEAD) by something that takes HTML. An API call asking only for
// JSON gets 401 instead of a page it cannot use.
func canSignIn(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	accept := r.Header.Get("Accept")
	if accept == "" || strings.Contains(accept, "text/html") {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return false
		}
	}
	return true
}
