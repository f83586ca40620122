package hostedui

import (
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// deviceCookie remembers, on one browser, that its user gave a second
// factor there: a sealed token naming the user, their factors and
// password as they were (pool.DeviceFingerprint), and an expiry. Nothing
// is kept on the server; changing a factor or the password forgets every
// remembered device at once.
const deviceCookie = "gatehouse_device"

type deviceToken struct {
	UserID      string `json:"u"`
	Fingerprint string `json:"f"`
	Expires     int64  `json:"e"`
}

// rememberDays is how many days a remembered device skips the second
// factor, for the page's checkbox; 0 when the pool remembers none.
func (h *Handler) rememberDays() int {
	d := h.pool.MFA().RememberDevice
	if d <= 0 {
		return 0
	}
	return max(1, int(d/(24*time.Hour)))
}

// remembered reports whether r comes from a browser where u gave a second
// factor within the pool's remember_device time, with the same factors
// and password as now.
func (h *Handler) remembered(r *http.Request, u *store.User) bool {
	if h.pool.MFA().RememberDevice <= 0 {
		return false
	}
	cks := h.cookiesNamed(r, deviceCookie)
	if len(cks) == 0 {
		return false
	}
	ck := cks[0]
	var tok deviceToken
	if securecookie.DecodeMulti(deviceCookie, ck.Value, &tok, h.deviceCodecs...) != nil ||
		tok.UserID != u.ID || time.Now().Unix() > tok.Expires {
		return false
	}
	fp, err := h.pool.DeviceFingerprint(r.Context(), u)
	return err == nil && fp == tok.Fingerprint
}

// remember sets the device cookie for u after a second factor.
func (h *Handler) remember(w http.ResponseWriter, r *http.Request, u *store.User) {
	ttl := h.pool.MFA().RememberDevice
	fp, err := h.pool.DeviceFingerprint(r.Context(), u)
	if err != nil {
		h.log.Warn("remembering a device failed", zap.String("user_id", u.ID), zap.Error(err))
		return
	}
	exp := time.Now().Add(ttl)
	v, err := securecookie.EncodeMulti(deviceCookie, deviceToken{UserID: u.ID, Fingerprint: fp, Expires: exp.Unix()}, h.deviceCodecs...)
	if err != nil {
		h.log.Warn("remembering a device failed", zap.String("user_id", u.ID), zap.Error(err))
		return
	}
	h.setCookie(w, r, &http.Cookie{
		Name: deviceCookie, Value: v, Path: PathPrefix, Expires: exp, MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// amrRemembered is how a sign-in that skipped the second factor on a
// remembered device is recorded: the password, and a second factor given
// on this browser earlier.
var amrRemembered = []string{pool.AMRPassword, pool.AMRMFA}
