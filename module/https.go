package module

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/hostedui"
)

// HSTS is the Strict-Transport-Security header a site's hosted pages send
// over HTTPS; never over plain HTTP, where browsers ignore it (RFC 6797
// §7.2). The zero value (and nil) sends it with a max-age of one year.
type HSTS struct {
	// Off sends no header.
	Off bool `json:"off,omitempty"`
	// MaxAge is how long browsers keep to HTTPS; default one year.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// IncludeSubdomains extends it to every subdomain of the site's host.
	IncludeSubdomains bool `json:"include_subdomains,omitempty"`
}

const defaultHSTSMaxAge = 365 * 24 * time.Hour

// value is the header value; "" for none.
func (h *HSTS) value() string {
	if h == nil {
		h = &HSTS{}
	}
	if h.Off {
		return ""
	}
	age := time.Duration(h.MaxAge)
	if age <= 0 {
		age = defaultHSTSMaxAge
	}
	v := "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

// setHSTS adds the header to the answer of a request that came over TLS.
func setHSTS(w http.ResponseWriter, r *http.Request, value string) {
	if value != "" && r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", value)
	}
}

// parseHSTS reads `hsts off` or `hsts max-age <duration> [include_subdomains]`,
// the cursor on `hsts`. Durations take Caddy's units and y for 365 days.
func parseHSTS(d *caddyfile.Dispenser) (*HSTS, error) {
	args := d.RemainingArgs()
	const want = "want `hsts off` or `hsts max-age <duration> [include_subdomains]`, such as `hsts max-age 1y`"
	if len(args) == 1 && args[0] == "off" {
		return &HSTS{Off: true}, nil
	}
	if len(args) < 2 || len(args) > 3 || args[0] != "max-age" {
		return nil, d.Errf("hsts: %s", want)
	}
	age, err := parseLongDuration(args[1])
	if err != nil || age <= 0 {
		return nil, d.Errf("hsts max-age %q: want a positive duration such as 1y, 180d or 12h", args[1])
	}
	h := &HSTS{MaxAge: caddy.Duration(age)}
	if len(args) == 3 {
		if args[2] != "include_subdomains" {
			return nil, d.Errf("hsts: unknown flag %q; %s", args[2], want)
		}
		h.IncludeSubdomains = true
	}
	return h, nil
}

// parseLongDuration is caddy.ParseDuration with whole years ("1y", "2y").
func parseLongDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "y"); ok {
		y, err := strconv.Atoi(n)
		if err != nil || y < 1 || y > 10 {
			return 0, fmt.Errorf("%q: want 1y to 10y", s)
		}
		return time.Duration(y) * defaultHSTSMaxAge, nil
	}
	return caddy.ParseDuration(s)
}

// cookieSetup is what `cookie_host_prefix` makes of a site's cookie
// options: the session cookie's name, whether cookies are Secure, and the
// hosted pages' cookie prefix.
func cookieSetup(name, secureMode string, hostPrefix bool) (string, func(*http.Request) bool, string, error) {
	secure, err := secureFunc(secureMode)
	if err != nil {
		return "", nil, "", err
	}
	if !hostPrefix {
		return name, secure, "", nil
	}
	if secureMode == "never" {
		return "", nil, "", fmt.Errorf("cookie_host_prefix: __Host- cookies must be Secure; cookie_secure never is set")
	}
	if !strings.HasPrefix(name, hostedui.HostPrefix) {
		name = hostedui.HostPrefix + name
	}
	always := func(*http.Request) bool { return true }
	return name, always, hostedui.HostPrefix, nil
}
