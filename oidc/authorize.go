package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// markerParam carries, through the sign-in page and back, the time the
// provider sent the browser to sign in. It is signed, and it only ever adds
// a requirement (a sign-in at or after that time), so a forged, stale or
// stripped marker cannot loosen anything.
const markerParam = "gh_login"

// markerMaxAge bounds how long a marker is honoured; an older one sends
// the browser to sign in again.
const markerMaxAge = time.Hour

// challengePattern is an S256 code_challenge: base64url of 32 bytes.
var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// authParams are the authorization request parameters that must not repeat
// (RFC 6749 §3.1).
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "login_hint", "response_mode", markerParam,
	idpParam, idpIdentifierParam,
}

// Cognito's parameters that send the browser straight to an outside
// provider of the pool (Config.Federate) instead of the sign-in page.
const (
	idpParam           = "identity_provider"
	idpIdentifierParam = "idp_identifier"
)

// authRequest is an authorization request whose client and redirect URI
// are known good, so errors may go back to the client.
type authRequest struct {
	client      *Client
	redirectURI string
	state       string
	scopes      []string
	nonce       string
	challenge   string
	method      string
	prompt      []string
	maxAge      time.Duration // -1: not asked
	loginHint   string
	marker      string
	// idp and idpIdentifier name an outside provider to sign in at.
	idp           string
	idpIdentifier string
	params        url.Values
}

func (a *authRequest) prompts(v string) bool { return slices.Contains(a.prompt, v) }

// authorize is the authorization endpoint (RFC 6749 §4.1.1, OpenID Connect
// Core §3.1.2). Until the client and its redirect URI are verified, errors
// are shown to the user; after, they go back to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ar, ok := p.readAuthRequest(w, r)
	if !ok {
		return
	}
	p.authorizeValid(w, r, ar)
}

// readAuthRequest reads and checks an authorization request; when it
// returns false it has answered: with an error page while the client or its
// redirect URI is in doubt, else with an error sent back to the client.
func (p *Provider) readAuthRequest(w http.ResponseWriter, r *http.Request) (*authRequest, bool) {
	noStore(w.Header())
	var q url.Values
	// Not HEAD: an authorization request can issue a code.
	switch r.Method {
	case http.MethodGet:
		q = r.URL.Query()
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err != nil || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			p.errorPage(w, r, http.StatusBadRequest, "Bad sign-in request", "The sign-in request could not be read.")
			return nil, false
		}
		q = r.PostForm
	default:
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
		return nil, false
	}
	if len(q["client_id"]) != 1 || q.Get("client_id") == "" {
		p.errorPage(w, r, http.StatusBadRequest, "Bad sign-in request",
			"The application that sent you here did not say which it is (client_id).")
		return nil, false
	}
	c, err := p.clients.lookup(r.Context(), q.Get("client_id"))
	if err != nil {
		if !errors.Is(err, errUnknownClient) {
			p.log.Error("client lookup failed", zap.Error(err))
			p.failurePage(w, r, err, "Something went wrong",
				"The server could not complete your request. Please try again in a moment.")
			return nil, false
		}
		p.errorPage(w, r, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is not registered with this service.")
		return nil, false
	}
	if len(q["redirect_uri"]) != 1 || !slices.Contains(c.RedirectURIs, q.Get("redirect_uri")) {
		p.log.Info("authorization refused: unregistered redirect_uri", zap.String("client_id", c.ID),
			zap.String("redirect_uri", clip(q.Get("redirect_uri"))))
		p.errorPage(w, r, http.StatusBadRequest, "Bad sign-in request",
			"The address the application asked to return to is not registered for it, so you were not sent there.")
		return nil, false
	}
	ar := &authRequest{client: c, redirectURI: q.Get("redirect_uri"), state: q.Get("state"), params: q}
	if oerr := ar.parse(q); oerr != nil {
		p.redirectError(w, ar, oerr)
		return nil, false
	}
	return ar, true
}

// parse checks everything but the client and redirect URI.
func (a *authRequest) parse(q url.Values) *oauthError {
	for _, name := range authParams {
		if len(q[name]) > 1 {
			return newError(errInvalidRequest, "parameter "+name+" is repeated")
		}
	}
	if q.Has("request") {
		return newError(errRequestNotSupported, "request objects are not supported")
	}
	if q.Has("request_uri") {
		return newError(errRequestURINotSupp, "request_uri is not supported")
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		return newError(errInvalidRequest, "response_type is required")
	default:
		return newError(errUnsupportedResponse, "only response_type=code is supported")
	}
	if m := q.Get("response_mode"); m != "" && m != "query" {
		return newError(errInvalidRequest, "only response_mode=query is supported")
	}
	if !a.client.allows(GrantAuthorizationCode) {
		return newError(errUnauthorizedClient, "this client may not use the authorization code flow")
	}
	a.scopes = dedupe(strings.Fields(q.Get("scope")))
	if len(a.scopes) == 0 {
		return newError(errInvalidScope, "scope is required")
	}
	for _, s := range a.scopes {
		if !slices.Contains(a.client.Scopes, s) {
			return newError(errInvalidScope, "this client may not ask for scope "+clip(s))
		}
	}
	if len(a.state) > 2048 {
		return newError(errInvalidRequest, "state is too long")
	}
	if a.nonce = q.Get("nonce"); len(a.nonce) > 512 {
		return newError(errInvalidRequest, "nonce is too long")
	}
	a.challenge, a.method = q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case a.challenge == "" && a.method != "":
		return newError(errInvalidRequest, "code_challenge_method without code_challenge")
	case a.challenge == "" && a.client.Public:
		return newError(errInvalidRequest, "a public client must use PKCE (code_challenge with code_challenge_method=S256)")
	case a.challenge != "" && a.method != "S256":
		// A missing method means plain (RFC 7636 §4.3), which only
		// protects what S256 protects better.
		return newError(errInvalidRequest, "code_challenge_method must be S256; plain is not accepted")
	case a.challenge != "" && !challengePattern.MatchString(a.challenge):
		return newError(errInvalidRequest, "code_challenge is not an S256 challenge (43 base64url characters)")
	}
	if pr := q.Get("prompt"); pr != "" {
		a.prompt = dedupe(strings.Fields(pr))
		for _, v := range a.prompt {
			if v != "none" && v != "login" && v != "consent" && v != "select_account" {
				return newError(errInvalidRequest, "unknown prompt value "+clip(v))
			}
		}
		if a.prompts("none") && len(a.prompt) > 1 {
			return newError(errInvalidRequest, "prompt=none cannot be combined with other values")
		}
	}
	a.maxAge = -1
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.ParseUint(ma, 10, 32)
		if err != nil {
			return newError(errInvalidRequest, "max_age must be a whole number of seconds")
		}
		a.maxAge = time.Duration(n) * time.Second
	}
	if a.loginHint = q.Get("login_hint"); len(a.loginHint) > 256 {
		return newError(errInvalidRequest, "login_hint is too long")
	}
	a.marker = q.Get(markerParam)
	a.idp, a.idpIdentifier = q.Get(idpParam), q.Get(idpIdentifierParam)
	if len(a.idp) > 256 || len(a.idpIdentifier) > 256 {
		return newError(errInvalidRequest, "identity_provider or idp_identifier is too long")
	}
	return nil
}

// authorizeValid decides between a code, a sign-in, and login_required.
func (p *Provider) authorizeValid(w http.ResponseWriter, r *http.Request, ar *authRequest) {
	now := p.now()
	if ar.idp != "" || ar.idpIdentifier != "" {
		if _, ok := p.federation(ar, ""); !ok {
			p.redirectError(w, ar, newError(errInvalidRequest, "identity_provider or idp_identifier names no provider of this pool"))
			return
		}
	}
	sess, signedIn := p.sessions.Current(r)
	fresh := false
	if ar.marker != "" {
		t, ok := p.checkMarker(ar.marker, ar.client.ID, now)
		fresh = ok && signedIn && !sess.AuthTime.Before(t)
	}
	// reauth: the browser must sign in (again) now, and prove it with a
	// marker on the way back.
	reauth := false
	if !fresh {
		switch {
		case ar.marker != "", ar.prompts("login"), ar.prompts("select_account"):
			reauth = true
		case ar.maxAge >= 0 && (!signedIn || now.Sub(sess.AuthTime) > ar.maxAge || ar.maxAge == 0):
			reauth = true
		case signedIn && ar.loginHint != "" && !p.hintMatches(r, ar.loginHint, sess.UserID):
			reauth = true
		}
	}
	if !signedIn || reauth {
		if ar.prompts("none") {
			p.redirectError(w, ar, newError(errLoginRequired, "the user must sign in"))
			return
		}
		p.toSignIn(w, ar, reauth, now)
		return
	}

	code := newOpaque()
	scope := strings.Join(ar.scopes, " ")
	method := ""
	if ar.challenge != "" {
		method = "S256"
	}
	err := p.store.SaveAuthCode(r.Context(), store.AuthCode{
		Hash:                hashOpaque(code),
		ClientID:            ar.client.ID,
		UserID:              sess.UserID,
		RedirectURI:         ar.redirectURI,
		Scope:               scope,
		Nonce:               ar.nonce,
		CodeChallenge:       ar.challenge,
		CodeChallengeMethod: method,
		SessionID:           sess.ID,
		AuthTime:            sess.AuthTime,
		AMR:                 sess.AMR,
		Expires:             now.Add(codeTTL),
	})
	if err != nil {
		p.log.Error("saving an authorization code failed", zap.Error(err))
		p.redirectError(w, ar, serverError(err))
		return
	}
	p.log.Info("authorization code issued", zap.String("client_id", ar.client.ID), zap.String("user_id", sess.UserID))
	v := url.Values{"code": {code}, "iss": {p.issuer}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	redirect(w, ar.redirectURI, v)
}

// hintMatches reports whether the signed-in user is the one login_hint
// names. Hints that are not email addresses are only hints: they match.
func (p *Provider) hintMatches(r *http.Request, hint, userID string) bool {
	email, err := pool.NormalizeEmail(hint)
	if err != nil {
		return true
	}
	u, err := p.pool.User(r.Context(), userID)
	if err != nil {
		return true // the token endpoint checks the user again
	}
	return u.Email == email
}

// toSignIn sends the browser to the hosted sign-in page, to come back to
// this same request. With reauth, prompt=login and select_account are
// replaced by a marker of now: the request is then satisfied only by a
// session that began at or after now.
func (p *Provider) toSignIn(w http.ResponseWriter, ar *authRequest, reauth bool, now time.Time) {
	v := url.Values{}
	for k, vs := range ar.params {
		v[k] = vs
	}
	v.Del(markerParam)
	v.Del(idpParam)
	v.Del(idpIdentifierParam)
	if reauth {
		var keep []string
		for _, pr := range ar.prompt {
			if pr != "login" && pr != "select_account" {
				keep = append(keep, pr)
			}
		}
		v.Del("prompt")
		if len(keep) > 0 {
			v.Set("prompt", strings.Join(keep, " "))
		}
		v.Set(markerParam, p.newMarker(ar.client.ID, now))
	}
	rd := p.base + AuthorizePath + "?" + v.Encode()
	if p.safeReturnTo != nil {
		if _, ok := p.safeReturnTo(rd); !ok {
			p.redirectError(w, ar, newError(errInvalidRequest, "the request is too long to resume after sign-in"))
			return
		}
	}
	target := p.signInPath + "?rd=" + url.QueryEscape(rd) + pageLanguage(ar)
	if ar.loginHint != "" {
		target += "&login_hint=" + url.QueryEscape(ar.loginHint)
	}
	if ar.idp != "" || ar.idpIdentifier != "" {
		fed, ok := p.federation(ar, rd)
		if !ok {
			p.redirectError(w, ar, newError(errInvalidRequest, "identity_provider or idp_identifier names no provider of this pool"))
			return
		}
		if fed != "" {
			target = fed
			if ar.loginHint != "" && !strings.Contains(fed, "login_hint=") {
				target += "&login_hint=" + url.QueryEscape(ar.loginHint)
			}
		}
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// redirectError sends an error to the client's (verified) redirect URI
// (RFC 6749 §4.1.2.1), with the issuer (RFC 9207).
func (p *Provider) redirectError(w http.ResponseWriter, ar *authRequest, e *oauthError) {
	v := url.Values{"error": {e.code}, "iss": {p.issuer}}
	if e.desc != "" {
		v.Set("error_description", e.desc)
	}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	redirect(w, ar.redirectURI, v)
}

// redirect sends the browser to target with params added to its query.
func redirect(w http.ResponseWriter, target string, params url.Values) {
	loc, err := withParams(target, params)
	if err != nil { // registered URIs were checked when configured
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	noStore(w.Header())
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

// withParams is target with params added to its query.
func withParams(target string, params url.Values) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// newMarker signs "sent to sign in at t, for this client".
func (p *Provider) newMarker(clientID string, t time.Time) string {
	ts := strconv.FormatInt(t.UnixNano(), 10)
	return ts + "." + b64(p.markerMAC(clientID, ts))
}

// checkMarker returns the time a marker names if it is genuine, for this
// client, and not older than markerMaxAge.
func (p *Provider) checkMarker(v, clientID string, now time.Time) (time.Time, bool) {
	ts, mac, ok := strings.Cut(v, ".")
	if !ok {
		return time.Time{}, false
	}
	got, err := decodeB64(mac)
	if err != nil || !hmac.Equal(got, p.markerMAC(clientID, ts)) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(0, n)
	if now.Sub(t) > markerMaxAge {
		return time.Time{}, false
	}
	return t, true
}

func (p *Provider) markerMAC(clientID, ts string) []byte {
	m := hmac.New(sha256.New, p.markerKey)
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	return m.Sum(nil)[:16]
}

// federation is where ar's identity_provider or idp_identifier sends the
// browser, coming back to returnTo: "" and true when no Federate is
// configured and the request names COGNITO (the pool's own users), false
// for a name the pool does not have.
func (p *Provider) federation(ar *authRequest, returnTo string) (string, bool) {
	if p.federate == nil {
		return "", ar.idpIdentifier == "" && ar.idp == "COGNITO"
	}
	return p.federate(ar.idp, ar.idpIdentifier, returnTo)
}
