package hostedui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// Signing in at an outside provider (package federation): the pages run
// the browser's round trip, the connector speaks the protocol, the pool
// finds, links or creates the user.
//
//	GET  /_gatehouse/federate/<provider>?rd=<return-to>   start: a flow cookie, then 302 to the provider
//	GET|POST <callback>                                    the provider's answer
//	GET  /_gatehouse/saml2/metadata/<provider>             a SAML provider's SP metadata
//	GET  /_gatehouse/static/idp/<provider>.svg             a provider's logo
//
// The callback is /_gatehouse/oauth2/idpresponse (OpenID, social) or
// /_gatehouse/saml2/idpresponse (SAML) on every site; on the issuer site
// (Config.IssuerSite) Cognito's own /oauth2/idpresponse and
// /saml2/idpresponse, so that a registration made for Cognito moves by
// changing the host, and the metadata is at /saml2/metadata/<provider>.
//
// Each round trip is a flow: its state, nonce, PKCE verifier, return-to
// and purpose (a sign-in, or linking the signed-in user) sealed in a
// cookie of its own (several tabs each keep theirs, at most maxFedFlows),
// HttpOnly, SameSite=Lax, for federation.FlowTTL. The callback finds the
// cookie by the answer's state (or SAML's RelayState), checks it, and
// spends the flow in the store (CountHit), so an answer is used once
// across every instance. A provider that answers with a cross-site POST
// (form_post, SAML) gets no Lax cookie: the callback then answers a page
// of this site (relay.html) whose form posts the same fields again to the
// same address, same-site, so the cookie comes along.
const (
	FederatePath       = PathPrefix + "federate/"
	siteMetadataPath   = PathPrefix + "saml2/metadata/"
	logoPath           = staticPath + "idp/"
	fedCookiePrefix    = "gatehouse_fed_"
	fedCookieNameLen   = 10
	maxFedFlows        = 4
	fedStateLen        = 43 // base64url of 32 bytes
	relayField         = "gh_relay"
	purposeSignIn      = "signin"
	purposeLink        = "link"
	maxCallbackBodyLen = 256 << 10 // a SAML response with an encrypted assertion and certificates
)

// fedProvider is one configured provider as the pages use it.
type fedProvider struct {
	conn federation.Connector
	info federation.Info
	logo []byte
}

// fedFlow is one round trip to a provider, sealed in its cookie.
type fedFlow struct {
	Provider    string `json:"p"`
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	RedirectURI string `json:"ru"`
	ReturnTo    string `json:"rd"`
	Purpose     string `json:"pu"`
	// UserID and SessionID are the signed-in user a link is for, and the
	// session that started it: the callback must come back to it.
	UserID    string `json:"u,omitempty"`
	SessionID string `json:"sid,omitempty"`
	RequestID string `json:"rq,omitempty"`
	LoginHint string `json:"lh,omitempty"`
	Created   int64  `json:"c"`
	Expires   int64  `json:"e"`
}

func (f *fedFlow) request() federation.Request {
	return federation.Request{State: f.State, Nonce: f.Nonce, Verifier: f.Verifier, RedirectURI: f.RedirectURI,
		LoginHint: f.LoginHint, RequestID: f.RequestID}
}

// providerButton is one provider's button on the pages.
type providerButton struct {
	Name  string
	Label string
	// Logo is the logo's path, "" without one.
	Logo string
}

// setProviders indexes the connectors, in button order.
func (h *Handler) setProviders(conns []federation.Connector, logo func(kind string) []byte) error {
	h.fedByName = map[string]*fedProvider{}
	for _, c := range conns {
		if c == nil {
			return errors.New("hostedui: Config.Providers holds a nil connector")
		}
		info := c.Info()
		if info.Name == "" {
			return errors.New("hostedui: a provider has no name")
		}
		if _, dup := h.fedByName[info.Name]; dup {
			return errors.New("hostedui: provider " + info.Name + " is configured twice")
		}
		p := &fedProvider{conn: c, info: info, logo: info.Logo}
		if p.logo == nil && logo != nil {
			p.logo = logo(info.Kind)
		}
		h.fedByName[info.Name] = p
		h.fedProviders = append(h.fedProviders, p)
	}
	return nil
}

// buttons lists the providers' buttons.
func (h *Handler) buttons() []providerButton {
	out := make([]providerButton, 0, len(h.fedProviders))
	for _, p := range h.fedProviders {
		b := providerButton{Name: p.info.Name, Label: p.info.DisplayName}
		if len(p.logo) > 0 {
			b.Logo = logoPath + p.info.Name + ".svg"
		}
		out = append(out, b)
	}
	return out
}

// providerForEmail is the provider whose domains hold email's domain. It
// depends on the domain only, never on whether an account exists.
func (h *Handler) providerForEmail(email string) (*fedProvider, bool) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return nil, false
	}
	return h.providerForDomain(email[at+1:])
}

func (h *Handler) providerForDomain(domain string) (*fedProvider, bool) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" {
		return nil, false
	}
	for _, p := range h.fedProviders {
		for _, d := range p.info.Domains {
			if d == domain {
				return p, true
			}
		}
	}
	return nil, false
}

// routesDomains reports whether any provider takes email domains: the
// sign-in form's password is then not required by the browser, since an
// address of such a domain goes to its provider without it.
func (h *Handler) routesDomains() bool {
	for _, p := range h.fedProviders {
		if len(p.info.Domains) > 0 {
			return true
		}
	}
	return false
}

// FederationTarget is where an authorization request that names an outside
// provider goes instead of the sign-in page (the OpenID provider's
// identity_provider and idp_identifier): the start of a sign-in at the
// provider named, or at the one whose domains hold idpIdentifier (a domain,
// or an address in one), coming back to returnTo. ok is false for a name or
// identifier no provider of the pool has. identity_provider=COGNITO (as
// Cognito calls its own users) is the sign-in page.
func (h *Handler) FederationTarget(identityProvider, idpIdentifier, returnTo string) (target string, ok bool) {
	var p *fedProvider
	switch {
	case identityProvider == "COGNITO":
		return SignInPath + "?rd=" + url.QueryEscape(returnTo), true
	case identityProvider != "":
		p, ok = h.fedByName[identityProvider]
	case idpIdentifier != "":
		if _, ok = h.fedByName[idpIdentifier]; ok {
			p = h.fedByName[idpIdentifier]
		} else if at := strings.LastIndexByte(idpIdentifier, '@'); at >= 0 {
			p, ok = h.providerForDomain(idpIdentifier[at+1:])
		} else {
			p, ok = h.providerForDomain(idpIdentifier)
		}
	default:
		return SignInPath + "?rd=" + url.QueryEscape(returnTo), true
	}
	if !ok {
		return "", false
	}
	target = FederatePath + p.info.Name + "?rd=" + url.QueryEscape(returnTo)
	if strings.Contains(idpIdentifier, "@") {
		if hint, err := pool.NormalizeEmail(idpIdentifier); err == nil {
			target += "&login_hint=" + url.QueryEscape(hint)
		}
	}
	return target, true
}

// federateStart is GET /_gatehouse/federate/<provider>: a sign-in flow,
// then off to the provider. A GET, so that a button is a link; a page of
// another site can start one too, but only the browser's own account at
// the provider can come back into it.
func (h *Handler) federateStart(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.methodNotAllowed(w, r, "GET")
		return
	}
	p, ok := h.fedByName[strings.TrimPrefix(r.URL.Path, FederatePath)]
	if !ok {
		h.RenderError(w, r, http.StatusNotFound, "Unknown sign-in provider",
			"This site does not offer sign-in with that provider. Go back to the sign-in page and choose another way.")
		return
	}
	q := r.URL.Query()
	rd, _ := SafeReturnTo(q.Get("rd"))
	hint, err := pool.NormalizeEmail(q.Get("login_hint"))
	if err != nil {
		hint = ""
	}
	target, ok := h.beginFlow(w, r, p, &fedFlow{Purpose: purposeSignIn, ReturnTo: rd, LoginHint: hint})
	if !ok {
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// beginFlow fills in f, asks the connector where to go, and sets f's
// cookie; it returns the provider's URL, or has answered r.
func (h *Handler) beginFlow(w http.ResponseWriter, r *http.Request, p *fedProvider, f *fedFlow) (string, bool) {
	now := time.Now()
	f.Provider = p.info.Name
	f.State, f.Nonce, f.Verifier = randomToken(), randomToken(), randomToken()
	f.RedirectURI = h.origin(r) + h.callbackPath(p.info.Protocol)
	f.Created, f.Expires = now.Unix(), now.Add(federation.FlowTTL).Unix()
	start, err := p.conn.Begin(r.Context(), f.request())
	if err != nil {
		h.fedFailed(w, r, p.info, f.UserID, err)
		return "", false
	}
	f.RequestID = start.RequestID
	if checkRedirectTarget(start.URL) != nil {
		h.fedFailed(w, r, p.info, f.UserID, federation.Invalid("the connector's start URL %q is not an http(s) URL", clip(start.URL)))
		return "", false
	}
	value, err := h.sealJSON(fedCookiePrefix, f)
	if err != nil {
		h.internalError(w, r, "sealing a federation flow", err)
		return "", false
	}
	// Starting one more flow than maxFedFlows clears the ones held: a
	// browser keeps a few tabs' flows, not a growing pile.
	if held := h.heldFlows(r); len(held) >= maxFedFlows {
		for _, name := range held {
			h.setFlowCookie(w, r, name, "", -1)
		}
	}
	h.setFlowCookie(w, r, fedCookiePrefix+f.State[:fedCookieNameLen], value, int(federation.FlowTTL/time.Second))
	h.log.Info("federated sign-in started", zap.String("provider", p.info.Name), zap.String("purpose", f.Purpose),
		zap.String("remote_ip", h.clientIP(r)))
	return start.URL, true
}

// setFlowCookie sets a flow cookie (name without the site's prefix) where
// the callbacks are: /_gatehouse/ (so the upstream never gets it), or / on
// the issuer site, whose callbacks are Cognito's /oauth2/ and /saml2/ ones
// (and / for __Host- cookies, which must have it).
func (h *Handler) setFlowCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	path := PathPrefix
	if h.issuerSite {
		path = "/"
	}
	h.setCookie(w, r, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// heldFlows returns the names (without the site's prefix) of the flow
// cookies r carries.
func (h *Handler) heldFlows(r *http.Request) []string {
	var names []string
	for _, c := range r.Cookies() {
		name, ok := strings.CutPrefix(c.Name, h.cookiePrefix)
		if ok && strings.HasPrefix(name, fedCookiePrefix) {
			names = append(names, name)
		}
	}
	return names
}

// origin is this site's origin as the browser sees it: HTTPS when the
// request came over TLS, cookies must be Secure (behind a TLS-terminating
// proxy) or are __Host- ones, which only HTTPS sets.
func (h *Handler) origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || h.secure(r) || h.cookiePrefix == HostPrefix {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// callbackPath is where a provider of protocol answers on this site.
func (h *Handler) callbackPath(protocol string) string {
	switch {
	case protocol == federation.ProtocolSAML && h.issuerSite:
		return federation.SAMLCallbackPath
	case protocol == federation.ProtocolSAML:
		return federation.SiteSAMLCallbackPath
	case h.issuerSite:
		return federation.OIDCCallbackPath
	}
	return federation.SiteOIDCCallbackPath
}

// ServeIssuerPath serves the federation paths the issuer site answers
// outside /_gatehouse/ (Cognito's callbacks and the SAML metadata); false
// for any other path, or on a site that is not the issuer's.
func (h *Handler) ServeIssuerPath(w http.ResponseWriter, r *http.Request) bool {
	if !h.issuerSite || len(h.fedProviders) == 0 {
		return false
	}
	p := r.URL.Path
	switch {
	case p == federation.OIDCCallbackPath, p == federation.SAMLCallbackPath:
	case strings.HasPrefix(p, federation.SAMLMetadataPath):
	default:
		return false
	}
	r = r.WithContext(pool.WithClientIP(r.Context(), h.clientIP(r)))
	if r.Method == http.MethodPost && h.throttled(w, r) {
		return true
	}
	if strings.HasPrefix(p, federation.SAMLMetadataPath) {
		h.samlMetadata(w, r, strings.TrimPrefix(p, federation.SAMLMetadataPath))
		return true
	}
	h.federationCallback(w, r)
	return true
}

// federationCallback is a provider's answer: GET with the query, or POST
// with a form (form_post, SAML's HTTP-POST binding).
func (h *Handler) federationCallback(w http.ResponseWriter, r *http.Request) {
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		params = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxCallbackBodyLen)
		if err := r.ParseForm(); err != nil {
			h.fedRefused(w, r, "", "unreadable", "", http.StatusBadRequest, "Sign-in failed",
				"The answer from the sign-in provider could not be read. Go back to the sign-in page and try again.")
			return
		}
		params = r.PostForm
	default:
		h.methodNotAllowed(w, r, "GET, POST")
		return
	}
	state := params.Get("state")
	if state == "" {
		state = params.Get("RelayState")
	}
	name := flowCookieName(state)
	if name == "" && params.Get("SAMLResponse") != "" {
		// No RelayState of ours: an IdP-initiated sign-on (its RelayState,
		// if any, is the IdP's and is not followed).
		h.unsolicited(w, r, params)
		return
	}
	if name == "" {
		h.fedRefused(w, r, "", "bad_state", "", http.StatusBadRequest, "Sign-in failed",
			"This answer does not belong to a sign-in started here. Go back to the sign-in page and try again.")
		return
	}
	cookies := h.cookiesNamed(r, name)
	if len(cookies) == 0 {
		if r.Method == http.MethodPost && params.Get(relayField) == "" {
			h.relay(w, r, params)
			return
		}
		h.fedRefused(w, r, "", "no_flow", "", http.StatusBadRequest, "Sign-in failed",
			"This sign-in was not started in this browser, or was finished already. Go back to the sign-in page and try again.")
		return
	}
	h.setFlowCookie(w, r, name, "", -1) // a callback ends its flow, whatever it holds
	var f *fedFlow
	for _, c := range cookies {
		var cand fedFlow
		if h.openJSON(fedCookiePrefix, c.Value, &cand) && len(cand.State) == len(state) &&
			subtle.ConstantTimeCompare([]byte(cand.State), []byte(state)) == 1 {
			f = &cand
			break
		}
	}
	if f == nil {
		h.fedRefused(w, r, "", "bad_state", "", http.StatusBadRequest, "Sign-in failed",
			"This answer does not belong to a sign-in started in this browser. Go back to the sign-in page and try again.")
		return
	}
	p, ok := h.fedByName[f.Provider]
	if !ok {
		h.fedRefused(w, r, f.Provider, "unknown_provider", f.UserID, http.StatusBadRequest, "Sign-in failed",
			"This site no longer offers that provider. Go back to the sign-in page and choose another way.")
		return
	}
	if time.Now().Unix() > f.Expires {
		h.fedRefused(w, r, f.Provider, "expired", f.UserID, http.StatusBadRequest, "Sign-in took too long",
			h.lang(r).T("The sign-in at {{.Provider}} took too long. Go back to the sign-in page and try again.", "Provider", p.info.DisplayName))
		return
	}
	// One answer per flow, across every instance: the cookie is cleared
	// above, but a copy of it and of the answer could be sent again. The
	// mark's window starts after the flow's last good moment, so that
	// purging old windows (by their start) never forgets a live one.
	cur, _, err := h.pool.Store().CountHit(r.Context(), "federation-flow:"+stateKey(f.State), time.Unix(f.Expires, 0).Add(time.Second), time.Second)
	if err != nil {
		h.internalError(w, r, "spending a federation flow", err)
		return
	}
	if cur > 1 {
		h.fedRefused(w, r, f.Provider, "replayed", f.UserID, http.StatusBadRequest, "Sign-in failed",
			"This sign-in was finished already. Go back to the sign-in page and try again.")
		return
	}
	params.Del(relayField)
	id, err := p.conn.Complete(r.Context(), federation.Callback{Request: f.request(), Params: params})
	if err != nil {
		h.fedFailed(w, r, p.info, f.UserID, err)
		return
	}
	if id.Provider == "" {
		id.Provider = p.info.Name
	}
	if id.Type == "" {
		id.Type = p.info.Type
	}
	if id.Provider != p.info.Name || id.Subject == "" {
		h.fedFailed(w, r, p.info, f.UserID, federation.Invalid("the connector returned an identity of %q without a subject", id.Provider))
		return
	}
	if f.Purpose == purposeLink {
		h.finishLink(w, r, p, f, id)
		return
	}
	h.fedSignIn(w, r, p, id, f.ReturnTo)
}

// unsolicited is a SAML response no flow asked for (IdP-initiated sign-on):
// taken only by a connector that implements it and has it turned on.
func (h *Handler) unsolicited(w http.ResponseWriter, r *http.Request, params url.Values) {
	for _, p := range h.fedProviders {
		u, ok := p.conn.(federation.IdPInitiated)
		if !ok || p.info.Protocol != federation.ProtocolSAML {
			continue
		}
		id, err := u.CompleteUnsolicited(r.Context(), params, h.origin(r)+h.callbackPath(federation.ProtocolSAML))
		if err != nil {
			continue
		}
		if id.Provider == "" {
			id.Provider = p.info.Name
		}
		if id.Type == "" {
			id.Type = p.info.Type
		}
		if id.Provider != p.info.Name || id.Subject == "" {
			continue
		}
		h.fedSignIn(w, r, p, id, "/")
		return
	}
	h.fedRefused(w, r, "", "unsolicited", "", http.StatusBadRequest, "Sign-in failed",
		"This site takes sign-ins only when they start here. Go back to the sign-in page and try again.")
}

// fedSignIn hands id to the pool's sign-in machine and goes on as every
// sign-in does: a second factor the user has, or done.
func (h *Handler) fedSignIn(w http.ResponseWriter, r *http.Request, p *fedProvider, id *federation.Identity, rd string) {
	step, err := h.pool.InitiateFederatedAuth(r.Context(), pool.FederatedAuth{
		Identity: externalIdentity(id), CreateUsers: p.info.CreateUsers, LinkByEmail: p.info.LinkByEmail,
		Client: h.client(r), Device: h.deviceClaim(r),
	})
	if err != nil && (step == nil || step.Challenge == nil) && h.poolRefused(w, r, p.info, err) {
		return
	}
	h.next(w, r, atSignIn, id.Email, rd, step, err)
}

// poolRefused answers the pool's refusals of a federated sign-in or link
// (true); any other error is the caller's. The pool audited them itself.
func (h *Handler) poolRefused(w http.ResponseWriter, r *http.Request, info federation.Info, err error) bool {
	label := info.DisplayName
	switch {
	case errors.Is(err, pool.ErrFederatedNotAllowed):
		h.refusedPage(w, r, info.Name, "not_allowed", http.StatusForbidden, "No account",
			h.lang(r).T("There is no account here for this {{.Provider}} sign-in, and this site does not create one from it. Ask your administrator.", "Provider", label))
	case errors.Is(err, pool.ErrFederatedEmailTaken):
		h.refusedPage(w, r, info.Name, "email_taken", http.StatusConflict, "Account already exists",
			h.lang(r).T("An account with this email address already exists. Sign in as you usually do, then link {{.Provider}} on your account page.", "Provider", label))
	case errors.Is(err, pool.ErrFederatedNoEmail):
		h.refusedPage(w, r, info.Name, "no_email", http.StatusForbidden, "Email address needed", h.lang(r).T(msgNoEmail, "Provider", label))
	case errors.Is(err, pool.ErrIdentityLinked):
		h.refusedPage(w, r, info.Name, "identity_linked", http.StatusConflict, "Already linked",
			h.lang(r).T("This {{.Provider}} account is already linked to an account here, or yours has a {{.Provider}} account linked already.", "Provider", label))
	case errors.Is(err, pool.ErrUserDisabled):
		h.refusedPage(w, r, info.Name, "user_disabled", http.StatusForbidden, "Cannot sign in", msgUserDisabled)
	default:
		return false
	}
	return true
}

const msgNoEmail = "{{.Provider}} did not share a verified email address, which an account here needs. Check your settings there, or sign in another way."

// fedFailed answers a connector's error: what the provider or its answer
// did, never a 5xx but for a provider that cannot be reached.
func (h *Handler) fedFailed(w http.ResponseWriter, r *http.Request, info federation.Info, userID string, err error) {
	label := info.DisplayName
	h.log.Info("federated sign-in refused", zap.String("provider", info.Name), zap.Error(err))
	switch {
	case errors.Is(err, federation.ErrDenied):
		h.fedRefused(w, r, info.Name, "denied", userID, http.StatusForbidden, "Sign-in cancelled",
			h.lang(r).T("The sign-in at {{.Provider}} was cancelled or declined. Go back to the sign-in page to try again or choose another way.", "Provider", label))
	case errors.Is(err, federation.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "30")
		h.fedRefused(w, r, info.Name, "unavailable", userID, http.StatusServiceUnavailable, label+" is not answering",
			label+" cannot be reached just now. Try again in a moment, or sign in another way.")
	case errors.Is(err, federation.ErrNoEmail):
		h.fedRefused(w, r, info.Name, "no_email", userID, http.StatusForbidden, "Email address needed", h.lang(r).T(msgNoEmail, "Provider", label))
	default:
		h.fedRefused(w, r, info.Name, "invalid", userID, http.StatusBadRequest, "Sign-in failed",
			h.lang(r).T("The answer from {{.Provider}} could not be accepted. Go back to the sign-in page and try again.", "Provider", label))
	}
}

// fedRefused audits a failed round trip and shows why (refusedPage).
func (h *Handler) fedRefused(w http.ResponseWriter, r *http.Request, provider, reason, userID string, status int, title, msg string) {
	h.pool.FederationFailed(r.Context(), provider, reason, userID)
	h.refusedPage(w, r, provider, reason, status, title, msg)
}

// refusedPage logs a failed round trip and shows why, with the way back to
// sign in (the error page's).
func (h *Handler) refusedPage(w http.ResponseWriter, r *http.Request, provider, reason string, status int, title, msg string) {
	h.log.Info("federated sign-in failed", zap.String("provider", provider), zap.String("reason", reason),
		zap.String("remote_ip", h.clientIP(r)))
	h.RenderError(w, r, status, title, msg)
}

// relayPage is what templates/relay.html shows.
type relayPage struct {
	DisplayName string
	Action      string
	Fields      []relayInput
}

// relayInput is one field posted again.
type relayInput struct{ Name, Value string }

// relay answers a cross-site POST that came without its flow cookie: a
// page of this site whose form posts the same fields to the same address,
// now same-site, so the SameSite=Lax cookie comes; static/relay.js submits
// it, the button is for a browser without scripts. The second POST carries
// relayField, and is refused if the cookie is still missing: no loop.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, params url.Values) {
	p := relayPage{DisplayName: h.displayName, Action: r.URL.Path}
	for name, vs := range params {
		for _, v := range vs {
			p.Fields = append(p.Fields, relayInput{Name: name, Value: v})
		}
	}
	p.Fields = append(p.Fields, relayInput{Name: relayField, Value: "1"})
	h.render(w, r, http.StatusOK, h.pages.relay, p)
}

// samlMetadata serves a SAML provider's service-provider metadata, with
// the assertion consumer service of this host.
func (h *Handler) samlMetadata(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	p, ok := h.fedByName[name]
	mp, isSAML := metadataProvider(p, ok)
	if !isSAML {
		h.notFound(w, r)
		return
	}
	doc, err := mp.Metadata(r.Context(), h.origin(r)+h.callbackPath(federation.ProtocolSAML))
	if err != nil {
		h.internalError(w, r, "making SAML metadata", err)
		return
	}
	hdr := w.Header()
	setSecurityHeaders(hdr)
	hdr.Set("Cache-Control", "public, max-age=300")
	hdr.Set("Content-Type", "application/samlmetadata+xml")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc)
	}
}

// metadataSource is what a SAML connector offers (federation's
// MetadataProvider), declared here so the pages need no SAML package.
type metadataSource interface {
	Metadata(ctx context.Context, acsURL string) ([]byte, error)
}

func metadataProvider(p *fedProvider, ok bool) (metadataSource, bool) {
	if !ok {
		return nil, false
	}
	mp, isSAML := p.conn.(metadataSource)
	return mp, isSAML
}

// serveLogo serves a provider's logo, from memory: never fetched, and
// under a policy that lets the SVG run nothing if opened on its own.
func (h *Handler) serveLogo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, logoPath), ".svg")
	p, known := h.fedByName[name]
	if !ok || !known || len(p.logo) == 0 {
		h.notFound(w, r)
		return
	}
	hdr := w.Header()
	setSecurityHeaders(hdr)
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	hdr.Set("Content-Type", "image/svg+xml")
	hdr.Set("Cache-Control", "public, max-age=3600")
	sum := sha256.Sum256(p.logo)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	hdr.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(p.logo)
	}
}

// externalIdentity is id as the pool takes it.
func externalIdentity(id *federation.Identity) pool.ExternalIdentity {
	return pool.ExternalIdentity{
		Provider: id.Provider, ProviderType: id.Type, Issuer: id.Issuer, Subject: id.Subject,
		Email: id.Email, EmailVerified: id.EmailVerified, Attributes: id.Attributes,
	}
}

// flowCookieName names the cookie of the flow with state; "" for a state
// no flow of ours can have.
func flowCookieName(state string) string {
	if len(state) != fedStateLen {
		return ""
	}
	for i := 0; i < len(state); i++ {
		c := state[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return fedCookiePrefix + state[:fedCookieNameLen]
}

// stateKey is what the store keeps of a spent state: a hash, so that a
// reader of the store cannot finish a flow still open.
func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
