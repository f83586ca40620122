package hostedui

import "net/http"

// HostPrefix is the cookie name prefix browsers take only from a cookie set
// Secure, with Path=/ and no Domain, by an HTTPS page (RFC 6265bis §4.1.3.2):
// a sibling subdomain or a plain-HTTP page can neither set nor overwrite
// such a cookie. With Config.CookiePrefix set to it, every cookie of the
// pages is so named and set, and only cookies so named are read, so one
// planted without the prefix is ignored.
const HostPrefix = "__Host-"

// cookieName is what the pages' cookie name is called on this site.
func (h *Handler) cookieName(name string) string { return h.cookiePrefix + name }

// cookiesNamed returns r's cookies of the pages called name on this site.
func (h *Handler) cookiesNamed(r *http.Request, name string) []*http.Cookie {
	return r.CookiesNamed(h.cookieName(name))
}

// setCookie sets one of the pages' cookies: named as on this site, Secure
// as r requires, and with the prefix, at Path=/ as the prefix requires.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, c *http.Cookie) {
	c.Name = h.cookieName(c.Name)
	c.Secure = h.secure(r)
	if h.cookiePrefix == HostPrefix {
		c.Path, c.Secure, c.Domain = "/", true, ""
	}
	http.SetCookie(w, c)
}
