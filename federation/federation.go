// Package federation is the seam between a user pool and the outside
// identity providers its users may sign in with (Google, Microsoft, Apple,
// GitHub, any OpenID provider, SAML 2.0). Each kind of provider is a small
// package with a Connector; the pool's sign-in pages (hostedui) run the
// browser's round trip and hand the Identity a connector returns to the
// pool (pool.InitiateFederatedAuth), which finds, links or creates the user.
//
// A connector knows its protocol and nothing of users, sessions or cookies:
//
//	url, err := c.Begin(ctx, federation.Request{State: ..., Nonce: ..., Verifier: ..., RedirectURI: ...})
//	// the browser goes to url, signs in at the provider and comes back to
//	// RedirectURI with the provider's answer
//	id, err := c.Complete(ctx, federation.Callback{Request: req, Params: query or form})
//
// Connectors are Caddy modules in the namespace gatehouse.idp (one per
// kind: gatehouse.idp.oidc, gatehouse.idp.google, gatehouse.idp.saml, ...),
// so that a pool's `idp <name> <kind> { ... }` block is read by the kind's
// own UnmarshalCaddyfile and a plugin built in with xcaddy can add a kind.
package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Namespace is the Caddy module namespace of provider kinds.
const Namespace = "gatehouse.idp"

// Callback paths. The issuer site answers Cognito's own paths, so that a
// registration made at a provider for a Cognito domain moves by changing
// the host only; every site of a pool (gateway sites too) answers the
// /_gatehouse/ ones, which do not take a path from the upstream.
const (
	// OIDCCallbackPath is Cognito's redirect URI for OpenID and social
	// providers (GET with the code, or POST for response_mode=form_post).
	OIDCCallbackPath = "/oauth2/idpresponse"
	// SAMLCallbackPath is Cognito's SAML assertion consumer service.
	SAMLCallbackPath = "/saml2/idpresponse"
	// SiteOIDCCallbackPath and SiteSAMLCallbackPath are the same on any
	// site of the pool.
	SiteOIDCCallbackPath = "/_gatehouse/oauth2/idpresponse"
	SiteSAMLCallbackPath = "/_gatehouse/saml2/idpresponse"
	// SAMLMetadataPath + <provider name> serves a SAML provider's service
	// provider metadata (entity ID, ACS URL, certificates).
	SAMLMetadataPath = "/saml2/metadata/"
)

// Protocols a connector speaks; they choose the callback path.
const (
	ProtocolOIDC = "oidc" // OpenID Connect and OAuth 2.0 (GitHub)
	ProtocolSAML = "saml"
)

// FlowTTL is how long a round trip to a provider may take.
const FlowTTL = 10 * time.Minute

// Connector is one configured outside provider of a pool.
type Connector interface {
	// Info describes the provider; it does not change after Open.
	Info() Info
	// Begin returns the URL to send the browser to. It does no I/O that a
	// provider being down should fail, other than discovery.
	Begin(ctx context.Context, req Request) (Start, error)
	// Complete checks the provider's answer for req and returns who
	// signed in. Errors wrap ErrDenied, ErrInvalidResponse or
	// ErrUnavailable, so that the pages can say which.
	Complete(ctx context.Context, cb Callback) (*Identity, error)
}

// IdPInitiated is implemented by connectors that can take an answer no
// Begin asked for (SAML IdP-initiated sign-on); they refuse it unless the
// operator turned it on.
type IdPInitiated interface {
	CompleteUnsolicited(ctx context.Context, params url.Values, redirectURI string) (*Identity, error)
}

// Info describes a provider to the pages and to the pool.
type Info struct {
	// Name is the pool's name for the provider (`idp <name> ...`): the
	// providerName of Cognito's identities claim and the prefix of a
	// federated user's cognito:username.
	Name string
	// Kind is the module's kind ("google", "oidc", "saml", ...).
	Kind string
	// Type is Cognito's ProviderType: Google, SignInWithApple, Facebook,
	// LoginWithAmazon, OIDC or SAML; Microsoft is OIDC, and GitHub, which
	// Cognito has no type for, is "GitHub".
	Type string
	// DisplayName is the button's label ("Google", "Acme SSO").
	DisplayName string
	// Logo is an SVG document shown on the button (presets embed theirs);
	// nil shows none. It is served by Gatehouse, never fetched.
	Logo []byte
	// Protocol is ProtocolOIDC or ProtocolSAML.
	Protocol string
	// FormPost: the provider answers with a cross-site POST (Apple,
	// SAML), which carries no SameSite=Lax cookie.
	FormPost bool
	// Domains are email domains sent straight to this provider when a
	// user types an address in one of them (lower case).
	Domains []string
	// CreateUsers lets a first sign-in create a pool user, even where
	// sign-up is off; without it only linked users sign in here.
	CreateUsers bool
	// LinkByEmail links a first sign-in to the confirmed pool user of the
	// same address, when the provider asserts the address verified.
	LinkByEmail bool
}

// Request is one round trip to a provider, made by the pages for Begin
// and kept sealed in the browser until Complete.
type Request struct {
	// State is random and comes back as state or RelayState.
	State string
	// Nonce is random; an OpenID provider puts it in the ID token.
	Nonce string
	// Verifier is the PKCE code verifier (S256).
	Verifier string
	// RedirectURI is the callback URL on the host the browser started on.
	RedirectURI string
	// LoginHint is the address the user typed, when domain routing sent
	// them here.
	LoginHint string
	// RequestID is what Begin made that the answer must name again
	// (SAML's AuthnRequest ID for InResponseTo); Begin returns it in Start.
	RequestID string
}

// Start is what Begin made: where to send the browser, and what the
// callback must check.
type Start struct {
	URL       string
	RequestID string
}

// Callback is the provider's answer to a Request.
type Callback struct {
	Request Request
	// Params are the callback's query (GET) or posted form (POST).
	Params url.Values
}

// Identity is who signed in at a provider.
type Identity struct {
	// Provider is Info.Name; Type is Info.Type.
	Provider string
	Type     string
	// Issuer is the provider's issuer (OpenID) or entity ID (SAML).
	Issuer string
	// Subject is the provider's stable id of the user (sub, NameID,
	// GitHub's numeric id): never an email address that may change hands.
	Subject string
	// Email is the user's address, lower-cased; EmailVerified says
	// whether the provider asserts that the user controls it.
	Email         string
	EmailVerified bool
	// Attributes are the pool attributes the provider's attribute mapping
	// gives ("name", "given_name", "custom:dept", ...), email excepted.
	Attributes map[string]string
}

// Env is what a connector gets from its pool when it is opened.
type Env struct {
	// Name is the provider's name in the pool.
	Name string
	// Pool is the pool's name; Issuer its issuer URL (SAML entity IDs
	// default to one under it).
	Pool   string
	Issuer string
	// Store keeps what a connector must share with every instance: SAML
	// keys (store.Key) and used assertion IDs (CountHit).
	Store store.Store
	// HTTPClient talks to the provider (timeouts set).
	HTTPClient *http.Client
	Logger     *zap.Logger
	Now        func() time.Time
}

// Provider is the Caddy module of one provider kind (ID gatehouse.idp.<kind>,
// registered in its package's init): its JSON is the provider's
// configuration; Open makes the connector once the pool is open.
//
// Its UnmarshalCaddyfile gets a dispenser whose first token is the kind, then
// the block: for `idp corp oidc { issuer ... }` it reads `oidc { issuer ... }`
// (d.Next() for the kind, then d.NextBlock(0) for the options, handing the
// options it does not know to Common.ParseOption).
type Provider interface {
	Open(ctx context.Context, env Env) (Connector, error)
}

// Errors a connector's Complete wraps, so that the pages say which.
var (
	// ErrDenied: the user or the provider declined (error=access_denied,
	// a SAML status other than Success).
	ErrDenied = errors.New("federation: the provider declined the sign-in")
	// ErrInvalidResponse: the answer failed a check (signature, audience,
	// issuer, nonce, state, expiry, replay).
	ErrInvalidResponse = errors.New("federation: the provider's answer is not valid")
	// ErrUnavailable: the provider could not be reached.
	ErrUnavailable = errors.New("federation: the provider cannot be reached")
	// ErrNoEmail: the provider did not share a verified address where one
	// is needed.
	ErrNoEmail = errors.New("federation: the provider did not share a verified email address")
)

// Invalid returns an error wrapping ErrInvalidResponse.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidResponse, fmt.Sprintf(format, args...))
}
