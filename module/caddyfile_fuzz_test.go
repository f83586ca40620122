package module

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// FuzzCaddyfile feeds the three Gatehouse directives (the global option,
// the site handler and gatehouse_idp) whatever tokens an operator might
// write. A mistake must come back as an error Caddy prints, never a panic:
// through parsing, the JSON Caddy keeps, and each module's Validate.
// `go test` runs the seeds; to search,
// `go test ./module -run '^$' -fuzz FuzzCaddyfile -fuzztime 2m`.
func FuzzCaddyfile(f *testing.F) {
	for _, seed := range []string{
		`gatehouse {
			pool default {
				store sqlite ./data/gatehouse.db
				issuer http://localhost:8080
				display_name "Gatehouse demo"
				password {
					min_length 12
					require lowercase digit
					allow_common
				}
				signup open
				attribute name required
				attribute custom:age type number min 0 max 150
				verification {
					code_ttl 24h
					max_attempts 5
					sign_in_unverified
				}
				mail outbox ./data/outbox {
					from "Gatehouse demo <no-reply@localhost>"
				}
				password_hash {
					memory_kib 64
					iterations 1
					parallelism 1
				}
				mfa optional
				lockout {
					threshold 5
					window 15m
				}
				throttle 30 per 1m burst 10
				remember_device 30d
				revocation_refresh 5s
				audit_retention forever
				client webapp {
					redirect_uri https://app.example.com/cb
					secret 0123456789abcdef0123
					scopes openid email profile
				}
				client machine {
					secret 0123456789abcdef0123
					grant_types client_credentials
					scopes orders/read
				}
			}
		}`,
		`gatehouse {
			pool default
			on_unauthenticated authenticate
			session_timeout 7d
			claims_refresh 5m
			cookie_secure always
			cookie_host_prefix
			hsts max-age 1y include_subdomains
			header X-Remote-User {email}
			require group admins staff
			require claim email_verified true
			allow anonymous /health /public/*
			role admin when group admins
			role reader
			guest_role guest
			jwt_issuer https://issuer.example.com {
				audience api
				token_use access id
			}
		}`,
		`gatehouse {
			oidc_issuer https://accounts.example.com
			client_id app
			client_secret s3cret
			scopes openid email profile offline_access
			pass_access_token
			header off
		}`,
		`gatehouse {
			pool default {
				store sqlite ./data/gatehouse.db
				issuer https://auth.example.com
				branding {
					logo ./brand/logo.svg
					favicon ./brand/icon.png
					stylesheet ./brand/extra.css
					color light accent "#0a5"
					color dark text e8eaf0
					link terms "Terms of use" https://example.com/terms
					link support Help /help
				}
				templates_dir ./pages
				client webapp {
					redirect_uri https://app.example.com/cb
					public
					branding {
						logo ./brand/webapp.svg
						color light accent "#7a1fa2"
					}
				}
			}
		}`,
		`gatehouse_idp {
			pool default
			session_timeout 12h
			cookie_secure auto
			cookie_host_prefix
			hsts off
		}`,
	} {
		for which := range uint8(3) {
			f.Add(which, seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		d := caddyfile.NewDispenser(tokens)
		switch which % 3 {
		case 0:
			v, err := parseGlobal(d, nil)
			if err != nil {
				return
			}
			app := new(App)
			if err := json.Unmarshal(v.(httpcaddyfile.App).Value, app); err != nil {
				t.Fatalf("the gatehouse app's own JSON does not load back: %v", err)
			}
			_ = app.Validate()
		case 1:
			checkDirective(t, d, new(Handler), new(Handler))
		case 2:
			checkDirective(t, d, new(IDP), new(IDP))
		}
	})
}

// directive is a site directive's module, as Caddy handles it.
type directive interface {
	UnmarshalCaddyfile(*caddyfile.Dispenser) error
	Validate() error
}

// checkDirective parses d into parsed; when that succeeds, the JSON Caddy
// would keep must load into reloaded, which then validates without panic.
func checkDirective(t *testing.T, d *caddyfile.Dispenser, parsed, reloaded directive) {
	if parsed.UnmarshalCaddyfile(d) != nil {
		return
	}
	b, err := json.Marshal(parsed)
	if err != nil {
		t.Fatalf("marshalling the parsed %T: %v", parsed, err)
	}
	if err := json.Unmarshal(b, reloaded); err != nil {
		t.Fatalf("%T's own JSON does not load back: %v", parsed, err)
	}
	_ = reloaded.Validate()
}
