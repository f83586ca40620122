package oidc

import (
	"net/http"
	"net/url"
)

// Cognito's classic hosted UI has entry points of its own besides
// /oauth2/authorize, which apps and Amplify's older configurations link to
// with an authorization request's parameters (client_id, response_type,
// redirect_uri, scope, state, ...):
//
//	/login          the authorization endpoint itself (provider.go routes it
//	                to authorize): a signed-in browser gets its code, another
//	                the sign-in page
//	/signup         the sign-up page, continuing to the authorization request
//	/forgotPassword the password-reset page, likewise
//	/logout?response_type=code&... sign out, then this authorization request
//	                (logout.go's logoutAndSignIn)
//
// Each checks the request as the authorization endpoint does before going
// anywhere (the client, its exactly registered redirect URI, then the rest,
// whose errors go back to the client), so an entry point is never a way to
// send a browser where the authorization endpoint would not.

// hostedRoute is what answers a Cognito entry point, nil to leave the
// request to the site: these paths are taken only for an authorization
// request (client_id present), so an issuer site that also serves an app
// keeps the app's own /login; and /signup or /forgotPassword only where the
// hosted page exists.
func (p *Provider) hostedRoute(path string, r *http.Request) func(http.ResponseWriter, *http.Request) {
	if !r.URL.Query().Has("client_id") {
		return nil
	}
	page := p.forgotPath
	switch path {
	case LoginPath:
		return p.authorize
	case SignUpEntryPath:
		page = p.signUpPath
	}
	if page == "" {
		return nil
	}
	return func(w http.ResponseWriter, r *http.Request) { p.hostedEntry(w, r, page) }
}

// hostedEntry answers /signup and /forgotPassword: a valid authorization
// request is sent to page with `rd`, the same request at the authorization
// endpoint, to come back to once the user has signed up (or reset their
// password) and signed in.
func (p *Provider) hostedEntry(w http.ResponseWriter, r *http.Request, page string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		p.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept "+r.Method+" requests.")
		return
	}
	ar, rd, ok := p.resumableRequest(w, r, "the request is too long to resume after sign-up")
	if !ok {
		return
	}
	w.Header().Set("Location", page+"?rd="+url.QueryEscape(rd)+pageLanguage(ar))
	w.WriteHeader(http.StatusFound)
}

// pageLanguage carries the request's ui_locales (OpenID Connect Core
// 3.1.2.1), or Cognito's lang, to the hosted pages, which show the first
// of those languages they have and keep it for the rest of the flow;
// "" when the request has neither. The pages check the value.
func pageLanguage(ar *authRequest) string {
	for _, name := range []string{"ui_locales", "lang"} {
		if v := ar.params.Get(name); v != "" && len(v) <= 256 {
			return "&" + name + "=" + url.QueryEscape(v)
		}
	}
	return ""
}

// resumableRequest reads r's authorization request and the address that
// resumes it after the hosted pages; false when it has answered r itself
// (an error page, or tooLong to the client's redirect URI).
func (p *Provider) resumableRequest(w http.ResponseWriter, r *http.Request, tooLong string) (*authRequest, string, bool) {
	ar, ok := p.readAuthRequest(w, r)
	if !ok {
		return nil, "", false
	}
	rd, ok := p.resumeURL(ar)
	if !ok {
		p.redirectError(w, ar, newError(errInvalidRequest, tooLong))
		return nil, "", false
	}
	return ar, rd, true
}

// resumeURL is ar at the authorization endpoint, as the hosted pages take
// it in `rd`, false if the pages would refuse it (too long). A marker and an
// outside provider's name are dropped: the former only proves a sign-in the
// provider asked for, and the user chose the pool's own pages.
func (p *Provider) resumeURL(ar *authRequest) (string, bool) {
	v := url.Values{}
	for k, vs := range ar.params {
		v[k] = vs
	}
	v.Del(markerParam)
	v.Del(idpParam)
	v.Del(idpIdentifierParam)
	rd := p.base + AuthorizePath + "?" + v.Encode()
	if p.safeReturnTo != nil {
		if _, ok := p.safeReturnTo(rd); !ok {
			return "", false
		}
	}
	return rd, true
}
