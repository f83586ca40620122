package module

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// healthPath is the issuer site's health check: 200 {"status":"ok"} when
// the pool's store answers, 503 with Retry-After when it does not.
const healthPath = prefix + "health"

// healthDeadline bounds the store query of a health check: a load
// balancer's probe wants a quick answer, and a store slower than this is
// as good as down for sign-ins.
const healthDeadline = 2 * time.Second

// healthProbeID names no user: looking it up is the cheapest read that
// goes all the way to the store.
const healthProbeID = "gatehouse-health-probe"

// serveHealth answers a health check on s.
func serveHealth(w http.ResponseWriter, r *http.Request, s store.Store) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthDeadline)
	defer cancel()
	_, err := s.UserByID(ctx, healthProbeID)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	// The error is not shown: it may name hosts or files of the store.
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"status":"unavailable","reason":"the store does not answer"}` + "\n"))
}
