// Command alb-upstream is an app written the way one writes an app behind an
// AWS Application Load Balancer with an "authenticate" rule: it trusts
// nothing but the X-Amzn-Oidc-Data header, and only after checking the
// header's signer and verifying its ES256 signature with the public key
// the load balancer publishes for the header's kid. Nothing in it knows
// about Gatehouse except the defaults of two flags, so the same code runs
// behind a real ALB with
//
//	-key-url https://public-keys.auth.elb.<region>.amazonaws.com/ -signer <your ALB's ARN>
//
// Behind Gatehouse (see examples/README.md):
//
//	go run ./examples/alb-upstream
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// defaultSigner is the signer Gatehouse puts in the header of pool
// "default" when the operator configures none. A real ALB's is its ARN.
const defaultSigner = "arn:aws:elasticloadbalancing:gh-local-1:000000000000:loadbalancer/app/gatehouse/default"

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	keyURL := flag.String("key-url", "http://localhost:8080/_gatehouse/public-keys/",
		"URL the PEM public keys are served under; the header's kid is appended")
	signer := flag.String("signer", defaultSigner, "the load balancer ARN the header's `signer` must equal")
	flag.Parse()

	v := &Verifier{
		KeyURL: *keyURL,
		Signer: *signer,
		Client: &http.Client{Timeout: 5 * time.Second},
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           NewHandler(v),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("alb-upstream on http://%s, keys from %s, signer %s", *listen, *keyURL, *signer)
	log.Fatal(srv.ListenAndServe())
}

// Verifier checks X-Amzn-Oidc-Data values as AWS documents for ALB: signer
// first, then the ES256 signature with the PEM key published for the kid.
type Verifier struct {
	// KeyURL is the prefix the kid is appended to, ending in "/".
	KeyURL string
	// Signer is the ARN the JOSE header's signer must equal.
	Signer string
	// Client fetches the public keys.
	Client *http.Client

	mu   sync.Mutex
	keys map[string]*ecdsa.PublicKey // by kid; a kid never names another key
}

// Verify returns the claims of a valid token.
func (v *Verifier) Verify(ctx context.Context, token string) (jwt.MapClaims, error) {
	header, err := joseHeader(token)
	if err != nil {
		return nil, err
	}
	// The signer is checked before anything is fetched: a token from any
	// other load balancer is refused without a request.
	if signer, _ := header["signer"].(string); signer != v.Signer {
		return nil, fmt.Errorf("signer %q is not the expected %q", signer, v.Signer)
	}
	kid, _ := header["kid"].(string)
	pub, err := v.publicKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != kid {
			return nil, errors.New("kid changed between reads")
		}
		return pub, nil
	},
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithPaddingAllowed(), // ALB pads its base64url segments
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return claims, nil
}

// joseHeader decodes the token's first segment. ALB writes it padded, so
// the padded alphabet comes first; the unpadded one keeps the code working
// for issuers that follow RFC 7515 strictly.
func joseHeader(token string) (map[string]any, error) {
	first, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return nil, errors.New("not a JWT")
	}
	raw, err := base64.URLEncoding.DecodeString(first)
	if err != nil {
		raw, err = base64.RawURLEncoding.DecodeString(first)
	}
	if err != nil {
		return nil, fmt.Errorf("JOSE header: %w", err)
	}
	var header map[string]any
	if err := json.Unmarshal(raw, &header); err != nil {
		return nil, fmt.Errorf("JOSE header: %w", err)
	}
	return header, nil
}

// publicKey returns the key for kid, fetching it once.
func (v *Verifier) publicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if kid == "" || len(kid) > 128 || strings.ContainsFunc(kid, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}) {
		return nil, fmt.Errorf("kid %q is not a key id", kid)
	}
	v.mu.Lock()
	pub, ok := v.keys[kid]
	v.mu.Unlock()
	if ok {
		return pub, nil
	}
	pub, err := v.fetchKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.keys == nil {
		v.keys = map[string]*ecdsa.PublicKey{}
	}
	v.keys[kid] = pub
	v.mu.Unlock()
	return pub, nil
}

func (v *Verifier) fetchKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	keyURL := v.KeyURL + url.PathEscape(kid)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, keyURL, nil)
	if err != nil {
		return nil, err
	}
	client := v.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch public key: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch public key %s: %w", keyURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch public key %s: status %d", keyURL, resp.StatusCode)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("public key %s is not a PEM PUBLIC KEY", keyURL)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", keyURL, err)
	}
	pub, ok := parsed.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("public key %s is %T, want a P-256 ECDSA key", keyURL, parsed)
	}
	return pub, nil
}

// NewHandler answers every request with the verified claims of its
// X-Amzn-Oidc-Data header, or 401.
func NewHandler(v *Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Verify(r.Context(), r.Header.Get("X-Amzn-Oidc-Data"))
		if err != nil {
			log.Printf("401 %s %s: %v", r.Method, r.URL.RequestURI(), err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, "401 Unauthorized: the X-Amzn-Oidc-Data header is missing or did not verify.")
			return
		}
		names := make([]string, 0, len(claims))
		for name := range claims {
			names = append(names, name)
		}
		slices.Sort(names)
		rows := make([]claimRow, 0, len(names))
		for _, name := range names {
			val, err := json.Marshal(claims[name])
			if err != nil {
				val = []byte(fmt.Sprint(claims[name]))
			}
			rows = append(rows, claimRow{Name: name, Value: string(val)})
		}
		email, _ := claims["email"].(string)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := page.Execute(w, pageData{
			Email:    email,
			Identity: r.Header.Get("X-Amzn-Oidc-Identity"),
			Path:     r.URL.RequestURI(),
			Claims:   rows,
		}); err != nil {
			log.Printf("render: %v", err)
		}
	})
}

type claimRow struct{ Name, Value string }

type pageData struct {
	Email, Identity, Path string
	Claims                []claimRow
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signed in as {{.Email}}</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>Hello, {{.Email}}</h1>
<p>The X-Amzn-Oidc-Data header of your request to <code>{{.Path}}</code> verified. Its claims:</p>
<table>
{{range .Claims}}<tr><th style="text-align: left; padding-right: 1rem">{{.Name}}</th><td><code>{{.Value}}</code></td></tr>
{{end}}</table>
<p>X-Amzn-Oidc-Identity: <code>{{.Identity}}</code></p>
<p><a href="/_gatehouse/logout">Sign out</a></p>
</body>
</html>
`))
