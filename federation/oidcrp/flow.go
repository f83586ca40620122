package oidcrp

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"
)

// FlowTTL is how long a sign-in at the issuer may take, from the redirect
// to the callback.
const FlowTTL = 10 * time.Minute

// Flow cookies are named per flow, flowCookiePrefix + the state's first
// flowNameLen characters, so that sign-ins started in two tabs (or by a
// page and its favicon) do not overwrite each other's. A browser holds at
// most maxFlows at once: starting one more clears those it has.
const (
	flowCookiePrefix = "gatehouse_flow_"
	flowNameLen      = 10
	flowCookiePath   = "/_gatehouse/"
	maxFlows         = 4
)

// flow is what the callback needs to finish one sign-in, sealed in its
// cookie: the browser holds it, but can neither read nor change it.
type flow struct {
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	ReturnTo    string `json:"r"`
	RedirectURI string `json:"u"`
	// Expires is checked here as well as by securecookie's own age limit,
	// against the RP's clock.
	Expires int64 `json:"e"`
}

func (rp *RP) newFlow(r *http.Request, returnTo string) (*flow, error) {
	rd, _ := rp.safeReturnTo(returnTo)
	return &flow{
		State:       rand.Text(),
		Nonce:       rand.Text(),
		Verifier:    oauth2.GenerateVerifier(),
		ReturnTo:    rd,
		RedirectURI: rp.redirectURI(r),
		Expires:     rp.now().Add(FlowTTL).Unix(),
	}, nil
}

// flowCookieName names the cookie of the flow with this state; "" for a
// state no flow of ours can have.
func flowCookieName(state string) string {
	if len(state) < flowNameLen || len(state) > 64 {
		return ""
	}
	for i := 0; i < len(state); i++ {
		c := state[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') { // rand.Text's alphabet
			return ""
		}
	}
	return flowCookiePrefix + state[:flowNameLen]
}

// writeFlow seals f into its cookie: HttpOnly, SameSite=Lax (the callback is
// a top-level GET from the issuer, which Lax lets through), sent only under
// /_gatehouse/, gone after FlowTTL.
func (rp *RP) writeFlow(w http.ResponseWriter, r *http.Request, f *flow) error {
	name := rp.cookiePrefix + flowCookieName(f.State)
	value, err := securecookie.EncodeMulti(name, f, rp.codecs...)
	if err != nil {
		return err
	}
	secure := rp.secure(r)
	if held := rp.heldFlows(r); len(held) >= maxFlows {
		for _, old := range held {
			http.SetCookie(w, rp.flowCookie(old, "", -1, secure))
		}
	}
	http.SetCookie(w, rp.flowCookie(name, value, int(FlowTTL/time.Second), secure))
	return nil
}

// flowCookie is a flow cookie; with the __Host- prefix at Path=/, which the
// prefix requires (it is then sent on every path of the site, not only under
// /_gatehouse/).
func (rp *RP) flowCookie(name, value string, maxAge int, secure bool) *http.Cookie {
	path := flowCookiePath
	if rp.cookiePrefix != "" {
		path, secure = "/", true
	}
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// heldFlows returns the names of the flow cookies r carries.
func (rp *RP) heldFlows(r *http.Request) []string {
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, rp.cookiePrefix+flowCookiePrefix) {
			names = append(names, c.Name)
		}
	}
	return names
}

// Reasons a callback's flow is refused, for the logs and the tests.
var (
	errNoFlow        = errors.New("no flow cookie for this state")
	errBadFlow       = errors.New("flow cookie does not verify")
	errStateMismatch = errors.New("state does not match the flow cookie")
	errFlowExpired   = errors.New("flow expired")
	errReplayed      = errors.New("callback already used")
)

// readFlow finds, opens and checks the flow cookie for the callback's state,
// and expires the cookie on w whatever it holds: a callback ends its flow.
func (rp *RP) readFlow(w http.ResponseWriter, r *http.Request, state string) (*flow, error) {
	name := flowCookieName(state)
	if name == "" {
		return nil, errNoFlow
	}
	name = rp.cookiePrefix + name
	c, err := r.Cookie(name)
	if err != nil {
		return nil, errNoFlow
	}
	http.SetCookie(w, rp.flowCookie(name, "", -1, rp.secure(r)))
	f := new(flow)
	if err := securecookie.DecodeMulti(name, c.Value, f, rp.codecs...); err != nil {
		return nil, errBadFlow
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return nil, errStateMismatch
	}
	if rp.now().Unix() >= f.Expires {
		return nil, errFlowExpired
	}
	return f, nil
}

// maxConsumed bounds the memory of used states: at most this many sign-ins
// per FlowTTL are remembered, far more than one gateway sees.
const maxConsumed = 100000

// consumedStates remembers the states of callbacks already used, until
// their flow would have expired anyway, so a captured callback URL and flow
// cookie cannot be played again to this process. (The issuer's one-time
// codes stop it across processes too.)
type consumedStates struct {
	mu  sync.Mutex
	m   map[string]int64 // state -> unix expiry
	max int
}

func newConsumedStates(max int) *consumedStates {
	return &consumedStates{m: map[string]int64{}, max: max}
}

// consume marks state used and reports whether it was unused.
func (c *consumedStates) consume(state string, expires, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.m[state]; ok && exp > now {
		return false
	}
	if len(c.m) >= c.max {
		for k, exp := range c.m {
			if exp <= now {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[state] = expires
	return true
}
