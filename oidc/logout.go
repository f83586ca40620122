package oidc

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"go.uber.org/zap"
)

// logout ends the browser's session on the issuer site (OpenID Connect
// RP-Initiated Logout 1.0; Cognito's /logout with client_id and logout_uri
// works too) and sends it to a post-logout redirect URI registered for the
// client, or to the sign-in page. A request naming an address that is not
// registered is refused whole: no redirect, and no sign-out.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	var q url.Values
	switch r.Method {
	case http.MethodGet:
		q = r.URL.Query()
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err != nil || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			p.errorPage(w, r, http.StatusBadRequest, "Bad sign-out request", "The sign-out request could not be read.")
			return
		}
		q = r.PostForm
	default:
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
		return
	}
	bad := func(msg string) {
		p.errorPage(w, r, http.StatusBadRequest, "Bad sign-out request", msg)
	}
	for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "logout_uri", "state"} {
		if len(q[name]) > 1 {
			bad("The sign-out request repeats " + name + ".")
			return
		}
	}
	if q.Has("response_type") {
		p.logoutAndSignIn(w, r, q)
		return
	}
	clientID := q.Get("client_id")
	if hint := q.Get("id_token_hint"); hint != "" {
		// An expired ID token is still a fine hint of who asks.
		claims, err := p.parseOwn(r.Context(), hint, true)
		if err != nil || claims["token_use"] != useID {
			bad("The sign-out request carries an ID token this service did not issue.")
			return
		}
		aud, _ := claims.GetAudience()
		if len(aud) != 1 || (clientID != "" && clientID != aud[0]) {
			bad("The sign-out request's client_id does not match its ID token.")
			return
		}
		clientID = aud[0]
	}
	target := q.Get("post_logout_redirect_uri")
	if target == "" {
		target = q.Get("logout_uri")
	}
	var c *Client
	if clientID != "" {
		var err error
		if c, err = p.clients.lookup(r.Context(), clientID); err != nil {
			if !errors.Is(err, errUnknownClient) {
				p.log.Error("client lookup failed", zap.Error(err))
				p.failurePage(w, r, err, "Something went wrong",
					"The server could not complete your request. Please try again in a moment.")
				return
			}
			bad("The application that sent you here is not registered with this service.")
			return
		}
	}
	if target != "" && (c == nil || !slices.Contains(c.PostLogoutRedirectURIs, target)) {
		p.log.Info("sign-out refused: unregistered post_logout_redirect_uri", zap.String("client_id", clientID),
			zap.String("post_logout_redirect_uri", clip(target)))
		bad("The address the application asked to return to after signing out is not registered for it, so you were not signed out or sent there.")
		return
	}
	if err := p.sessions.End(w, r); err != nil {
		p.log.Error("sign-out failed", zap.Error(err))
		p.failurePage(w, r, err, "Sign-out failed",
			"Your session could not be ended. Please try again.")
		return
	}
	p.log.Info("signed out", zap.String("client_id", clientID))
	loc := p.signInPath
	if target != "" {
		v := url.Values{}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		var err error
		if loc, err = withParams(target, v); err != nil { // registered URIs were checked when configured
			http.Error(w, "bad redirect URI", http.StatusInternalServerError)
			return
		}
	}
	// A form's POST: the posting page's form-action applies to every
	// redirect that follows, so a page of this site continues instead.
	if r.Method == http.MethodPost && p.cont != nil {
		p.cont(w, r, "Signed out", loc)
		return
	}
	if target != "" {
		redirect(w, loc, nil)
		return
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// logoutAndSignIn is Cognito's other /logout form,
// `/logout?response_type=code&client_id=...&redirect_uri=...[&scope=...&state=...]`:
// sign out, then start that authorization request, which shows the
// sign-in page. The request is checked whole as the authorization endpoint
// checks it (the client, its exactly registered redirect URI, then the
// rest) before anyone is signed out, so a bad one signs nobody out and goes
// nowhere the authorization endpoint would not.
func (p *Provider) logoutAndSignIn(w http.ResponseWriter, r *http.Request, q url.Values) {
	bad := func(msg string) { p.errorPage(w, r, http.StatusBadRequest, "Bad sign-out request", msg) }
	if r.Method != http.MethodGet {
		bad("Signing out to sign in again is a link (GET), not a form.")
		return
	}
	if q.Has("logout_uri") || q.Has("post_logout_redirect_uri") || q.Has("id_token_hint") {
		bad("The sign-out request names both an address to return to after signing out and a new sign-in; give one.")
		return
	}
	ar, rd, ok := p.resumableRequest(w, r, "the request is too long")
	if !ok {
		return
	}
	if err := p.sessions.End(w, r); err != nil {
		p.log.Error("sign-out failed", zap.Error(err))
		p.failurePage(w, r, err, "Sign-out failed", "Your session could not be ended. Please try again.")
		return
	}
	p.log.Info("signed out, to sign in again", zap.String("client_id", ar.client.ID))
	w.Header().Set("Location", rd)
	w.WriteHeader(http.StatusSeeOther)
}
