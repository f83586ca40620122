package hostedui

import (
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

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

// deviceToken opens the remembered-device cookie r carries, if any and
// not expired; whether it still counts for its user is the pool's to say
// (PasswordAuth.Device).
func (h *Handler) deviceToken(r *http.Request) (deviceToken, bool) {
	var tok deviceToken
	if h.pool.MFA().RememberDevice <= 0 {
		return tok, false
	}
	cks := h.cookiesNamed(r, deviceCookie)
	if len(cks) == 0 {
		return tok, false
	}
	if securecookie.DecodeMulti(deviceCookie, cks[0].Value, &tok, h.deviceCodecs...) != nil || time.Now().Unix() > tok.Expires {
		return tok, false
	}
	return tok, true
}

// remember sets the device cookie for u after a second factor: fp is the
// pool's fingerprint of u's factors and password (Authentication.RememberDevice).
func (h *Handler) remember(w http.ResponseWriter, r *http.Request, u *store.User, fp string) {
	ttl := h.pool.MFA().RememberDevice
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
