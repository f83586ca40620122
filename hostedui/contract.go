package hostedui

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Sessions is how the hosted pages start and end a browser session on the
// site they are served on. The gateway (package middleware) implements it;
// the pages never see cookie formats or keys.
type Sessions interface {
	// Start signs u in on this site: it sets the session cookie(s) on w.
	// amr lists the authentication methods used ("pwd", ...).
	Start(w http.ResponseWriter, r *http.Request, u *store.User, amr []string) error
	// End clears the session cookie(s) and revokes the session r carries,
	// if any, so a copy of the cookie stops working too.
	End(w http.ResponseWriter, r *http.Request) error
}
