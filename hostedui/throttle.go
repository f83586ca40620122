package hostedui

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/ratelimit"
)

// throttled answers 429 and reports true when r's client has posted to the
// pages faster than h.throttle allows. It runs before anything else looks
// at the request, so a refused one costs no form parsing and no password
// hashing.
func (h *Handler) throttled(w http.ResponseWriter, r *http.Request) bool {
	if h.throttle == nil {
		return false
	}
	ip := h.clientIP(r)
	key := ratelimit.ClientKey(ip)
	ok, wait := h.throttle.Allow(r.Context(), key)
	if ok {
		return false
	}
	secs := retryAfterSeconds(wait)
	h.log.Info("request throttled", zap.String("key", key), zap.String("remote_ip", ip),
		zap.String("path", r.URL.Path), zap.Int64("retry_after_s", secs))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	l := h.lang(r)
	h.RenderError(w, r, http.StatusTooManyRequests, "Too many attempts",
		l.T("There have been too many attempts from your network. Wait {{.Wait}} and try again.", "Wait", l.T("{{.Count}} seconds", "Count", secs)))
	return true
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, as the
// Retry-After header counts them.
func retryAfterSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
