// Package module is Gatehouse's Caddy glue: the `gatehouse` app (the global
// option that defines user pools), the `gatehouse` HTTP handler that guards a
// site, their Caddyfile syntax, and the loading of a pool for the CLI. The
// logic lives in the packages below (pool, store, middleware, hostedui, oidc).
package module

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/gatehouse-auth/gatehouse/brand"
	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/federation"
	"github.com/gatehouse-auth/gatehouse/locale"
	"github.com/gatehouse-auth/gatehouse/metrics"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/trigger"
	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `gatehouse` Caddy app: the user pools that site handlers refer
// to by name. Each pool has its own store, keys and users.
type App struct {
	// Pools by name.
	Pools map[string]*PoolConfig `json:"pools,omitempty"`

	ready  map[string]*Pool
	cancel context.CancelFunc
	logger *zap.Logger
}

// PoolConfig configures one user pool.
type PoolConfig struct {
	// Store is where the pool keeps its users and keys.
	Store StoreConfig `json:"store"`
	// Issuer is the pool's issuer URL: `iss` of what it signs.
	Issuer string `json:"issuer,omitempty"`
	// DisplayName is shown on the hosted pages.
	DisplayName string `json:"display_name,omitempty"`
	// DefaultLanguage is the hosted pages' and mails' language when neither
	// the request nor the user chose one (a tag: de, pt-BR); default en.
	DefaultLanguage string `json:"default_language,omitempty"`
	// LocalesDir holds <tag>.toml catalogues (package locale) that override
	// built-in messages or add languages, checked at start.
	LocalesDir string `json:"locales_dir,omitempty"`
	// Password is the policy for new passwords.
	Password pool.PasswordPolicy `json:"password,omitempty"`
	// PasswordHash sets argon2id's cost.
	PasswordHash pool.HashParams `json:"password_hash,omitempty"`
	// RevocationRefresh is how often revocations made by other processes
	// (another gateway, the CLI) are loaded. Default 5s.
	RevocationRefresh caddy.Duration `json:"revocation_refresh,omitempty"`
	// AuditRetention is how long audit events are kept in the store.
	// Default 365d; negative keeps them for good.
	AuditRetention caddy.Duration `json:"audit_retention,omitempty"`
	// Clients are the pool's app clients, served by `gatehouse_idp`.
	Clients []ClientConfig `json:"clients,omitempty"`
	// KeyRotation is how often the signing keys are replaced. Default 30d.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`
	// SignUp is open (anyone may create an account), invite (the
	// default: administrators create users) or off.
	SignUp string `json:"signup,omitempty"`
	// Attributes the pool asks for at sign-up besides the email.
	Attributes []pool.AttributeSpec `json:"attributes,omitempty"`
	// Verification tunes the codes mailed to users.
	Verification VerificationConfig `json:"verification,omitempty"`
	// TemporaryPasswordTTL is how long an administrator's temporary
	// password works. Default 7d.
	TemporaryPasswordTTL caddy.Duration `json:"temporary_password_ttl,omitempty"`
	// AccountDeletion lets users delete their own account.
	AccountDeletion bool `json:"account_deletion,omitempty"`
	// SignInWith is what users sign in with: email, username
	// (preferred_username), phone (a verified phone_number), any of them.
	// Default email.
	SignInWith []string `json:"sign_in_with,omitempty"`
	// ReauthWindow is how long the account page's "confirm it's you"
	// lifts the prompt for sensitive changes. Default 5m.
	ReauthWindow caddy.Duration `json:"reauth_window,omitempty"`
	// ReauthClock names a clock registered with RegisterClock that the
	// hosted pages read the time of re-authentications from, in place of
	// the system's: for tests that move time on. Empty: the system clock.
	ReauthClock string `json:"reauth_clock,omitempty"`
	// SRP turns on Cognito's USER_SRP_AUTH (module/srp.go): a verifier
	// per user, made when a password is set or used. Default off.
	SRP bool `json:"srp,omitempty"`
	// FirstAuthFactors are USER_AUTH's choices (module/userauth.go);
	// default PASSWORD WEB_AUTHN.
	FirstAuthFactors []string `json:"first_auth_factors,omitempty"`
	// Mail sends confirmation codes, reset codes and invitations.
	Mail *MailConfig `json:"mail,omitempty"`
	// MFA is off, optional (the default: users may enrol a factor) or
	// required (every user enrols one at their next sign-in).
	MFA string `json:"mfa,omitempty"`
	// Lockout is the per-login brute-force defence.
	Lockout LockoutConfig `json:"lockout,omitempty"`
	// RememberDevice lets users skip the second factor for this long on a
	// browser where they gave one; 0 (the default) never does.
	RememberDevice caddy.Duration `json:"remember_device,omitempty"`
	// MFASecretKey, when set, seals the pool's TOTP secrets in the store:
	// 32 bytes in base64, best given as a placeholder ({env.NAME} or
	// {file./path}) so that it is kept outside the database. Without it a
	// key the pool keeps in its store seals them.
	MFASecretKey string `json:"mfa_secret_key,omitempty"`
	// MFAPreviousSecretKeys are keys MFASecretKey replaced: they open what
	// they sealed until each secret is sealed again at its next use.
	MFAPreviousSecretKeys []string `json:"mfa_previous_secret_keys,omitempty"`
	// Throttle bounds hosted-page POSTs per client IP; nil means the
	// default (DefaultThrottle).
	Throttle *ThrottleConfig `json:"throttle,omitempty"`
	// IdentityProviders are the outside providers the pool's users may
	// sign in with (`idp <name> <kind> { ... }`), in the order of their
	// buttons.
	IdentityProviders []IdentityProviderConfig `json:"identity_providers,omitempty"`
	// Cognito, when set, serves the Cognito user-pool API on the pool's
	// gatehouse_idp site (package cognito).
	Cognito *CognitoConfig `json:"cognito,omitempty"`
	// Triggers are the pool's lifecycle hooks (`trigger <kind> <url>
	// { ... }`, module/triggers.go): Cognito's Lambda triggers, as
	// signed webhooks.
	Triggers []TriggerConfig `json:"triggers,omitempty"`
	// Branding is the look of the pool's hosted pages: logo, favicon,
	// colours, a stylesheet, footer links (package brand).
	Branding *brand.Config `json:"branding,omitempty"`
	// TemplatesDir is a folder whose files replace the hosted pages'
	// templates of the same name (templates/*.html), checked at start.
	TemplatesDir string `json:"templates_dir,omitempty"`
}

// CognitoConfig opts a pool into the Cognito user-pool API: the pool id
// and region Cognito clients are configured with.
type CognitoConfig struct {
	// PoolID is Cognito-style, <region>_<id> (us-east-1_AbCdEf123).
	PoolID string `json:"pool_id"`
	// Region defaults to the pool id's prefix, and must be it.
	Region string `json:"region,omitempty"`
	// WebAuthnOrigin is the origin of USER_AUTH's passkey ceremonies
	// (module/userauth.go); default the issuer's.
	WebAuthnOrigin string `json:"webauthn_origin,omitempty"`
}

// DefaultThrottle is the budget of a pool that sets none: generous for
// people, and a wall for a script guessing passwords from one address.
var DefaultThrottle = ThrottleConfig{Requests: 30, Per: caddy.Duration(time.Minute)}

// deviceCodecs seal the pool's remembered-device cookies with codec's
// keys, accepted for as long as a device is remembered; nil when none is.
func (p *Pool) deviceCodecs(codec *middleware.Codec) []securecookie.Codec {
	if p.Config == nil || p.Config.RememberDevice <= 0 {
		return nil
	}
	return codec.CodecsFor(time.Duration(p.Config.RememberDevice))
}

// throttle makes the pool's throttle on s: in the store when instances on
// several hosts may share it (PostgreSQL), so that they share one budget
// per client, and in this process's memory otherwise (SQLite); nil for
// `throttle off`.
func (t *ThrottleConfig) throttle(s store.Store) ratelimit.Throttle {
	if t == nil {
		t = &DefaultThrottle
	}
	if t.Off {
		return nil
	}
	if store.SharedAcrossHosts(s) {
		log := caddy.Log().Named("gatehouse.throttle")
		return ratelimit.NewShared(s, t.Requests, time.Duration(t.Per), func(err error) {
			log.Warn("counting a hosted-page post in the store failed; let through", zap.Error(err))
		})
	}
	burst := t.Burst
	if burst == 0 {
		burst = t.Requests
	}
	return ratelimit.New(ratelimit.Limits{Rate: float64(t.Requests) / time.Duration(t.Per).Seconds(), Burst: burst})
}

// ThrottleConfig is a per-client-IP budget of hosted-page POSTs (sign-in,
// sign-up, codes, resets): Requests per Per, with bursts of Burst
// (default Requests).
type ThrottleConfig struct {
	Requests int            `json:"requests,omitempty"`
	Per      caddy.Duration `json:"per,omitempty"`
	Burst    int            `json:"burst,omitempty"`
	Off      bool           `json:"off,omitempty"`
}

// StoreConfig selects a store backend.
type StoreConfig struct {
	// Driver is "sqlite" or "postgres".
	Driver string `json:"driver"`
	// Path is the SQLite database file; placeholders such as {env.X} work.
	Path string `json:"path,omitempty"`
	// DSN is the PostgreSQL connection string (URL or key=value form);
	// placeholders such as {env.DATABASE_URL} work. Tables live in the
	// connection's current schema, so a search_path in the DSN selects it.
	DSN string `json:"dsn,omitempty"`
	// Timeout bounds every store operation: past it the operation fails
	// as unavailable and the pages answer 503. Default 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// Pool is a provisioned pool: ready objects, made once.
type Pool struct {
	Name   string
	Config *PoolConfig
	Pool   *pool.Pool
	Keys   *signing.KeySet
	// CookieKeyRing is the pool's cookie keys, reloaded from the store with
	// the revocations (Upkeep), so that a key added or removed by another
	// instance or the CLI is used here too.
	CookieKeyRing *middleware.CookieKeys
	// MarkerKey signs the OpenID provider's sign-in markers (see
	// oidc.Config.MarkerKey). It is a key of its own in the store, made on
	// first start and never rotated, so that every instance checks the
	// markers every other one makes, whatever cookie keys each has loaded.
	MarkerKey []byte
	Store     store.Store
	// Throttle is the per-client-IP budget of hosted-page POSTs, shared
	// by every site of the pool (and, on PostgreSQL, by every instance);
	// nil with `throttle off`. It is the throttle itself (Upkeep looks for
	// a *ratelimit.Shared): each user wraps it in countThrottle.
	Throttle ratelimit.Throttle
	// Providers are the pool's outside identity providers, opened (only
	// by the server: the CLI needs none).
	Providers []federation.Connector
	// Locales are the pool's languages: the built-in catalogues with
	// LocalesDir's, for its pages and mails.
	Locales *locale.Catalog
	// Triggers are the pool's lifecycle hooks; nil without any.
	Triggers *trigger.Webhooks
	// Metrics are the pool's counters in Caddy's registry (package
	// metrics); nil outside a server.
	Metrics *metrics.Pool
	// Brand is the pool's branding, loaded; nil without any.
	Brand *brand.Brand
	// ClientBrands are the brands of clients with a branding of their
	// own, laid over the pool's, by client id.
	ClientBrands map[string]*brand.Brand
	// PageTemplates is the templates_dir folder; nil without one.
	PageTemplates fs.FS
}

// markerKeyKind is the store.Key kind of a pool's MarkerKey.
const markerKeyKind = "oidc-marker"

// CookieKeyKind is pool.CookieKeyKind, the store.Key kind of a pool's
// cookie keys, where the CLI (package cli) reads it too.
const CookieKeyKind = pool.CookieKeyKind

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "gatehouse",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision opens every pool's store and loads its keys.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.ready = make(map[string]*Pool, len(a.Pools))
	for _, name := range a.poolNames() {
		p, err := OpenPool(ctx, name, a.Pools[name])
		if err != nil {
			a.closeAll()
			return fmt.Errorf("pool %s: %w", name, err)
		}
		a.ready[name] = p
		if err := p.openProviders(ctx); err != nil {
			a.closeAll()
			return fmt.Errorf("pool %s: %w", name, err)
		}
		if err := p.openBranding(ctx); err != nil {
			a.closeAll()
			return fmt.Errorf("pool %s: %w", name, err)
		}
	}
	return nil
}

// Validate checks every pool's configuration.
func (a *App) Validate() error {
	for _, name := range a.poolNames() {
		if err := a.Pools[name].Validate(); err != nil {
			return fmt.Errorf("pool %s: %w", name, err)
		}
	}
	return nil
}

// Start begins each pool's background upkeep: refreshes of what other
// processes change in its store, purges of old rows (see Pool.Upkeep).
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	for name, p := range a.ready {
		interval := time.Duration(p.Config.RevocationRefresh)
		if interval <= 0 {
			interval = defaultRevocationRefresh
		}
		go p.Upkeep(interval, a.logger.With(zap.String("pool", name))).Run(ctx)
	}
	return nil
}

// defaultRevocationRefresh is revocation_refresh when not configured.
const defaultRevocationRefresh = 5 * time.Second

// defaultAuditRetention is audit_retention when not configured: a year, so
// that "who signed in to this account, and from where" can be answered
// about anything in the last one.
const defaultAuditRetention = 365 * 24 * time.Hour

// auditRetention is how long audit events are kept; 0 means for good.
func (c *PoolConfig) auditRetention() time.Duration {
	switch {
	case c.AuditRetention < 0:
		return 0
	case c.AuditRetention == 0:
		return defaultAuditRetention
	}
	return time.Duration(c.AuditRetention)
}

// Stop ends the background refreshes.
func (a *App) Stop() error {
	if a.cancel != nil {
		a.cancel()
	}
	return nil
}

// Cleanup closes the stores.
func (a *App) Cleanup() error {
	a.closeAll()
	return nil
}

func (a *App) closeAll() {
	for _, p := range a.ready {
		if p.Pool != nil {
			// Mail the account flows queued after their answers, within
			// a bound: a mail server that hangs must not hold a reload.
			ctx, cancel := context.WithTimeout(context.Background(), poolCloseTimeout)
			_ = p.Pool.Close(ctx)
			cancel()
		}
		p.Triggers.CloseIdleConnections()
		_ = p.Store.Close()
	}
}

// poolCloseTimeout bounds how long stopping waits for mail not yet sent.
const poolCloseTimeout = 15 * time.Second

// Pool returns a provisioned pool by name.
func (a *App) Pool(name string) (*Pool, error) {
	p, ok := a.ready[name]
	if !ok {
		return nil, fmt.Errorf("no pool named %q in the gatehouse global options (defined: %v)", name, a.poolNames())
	}
	return p, nil
}

func (a *App) poolNames() []string {
	names := make([]string, 0, len(a.Pools))
	for n := range a.Pools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks a pool's configuration without opening anything.
func (c *PoolConfig) Validate() error {
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.Path == "" {
			return errors.New("store sqlite: a database file path is required")
		}
	case "postgres":
		if c.Store.DSN == "" {
			return errors.New("store postgres: a DSN is required (for example: store postgres {env.DATABASE_URL})")
		}
	case "":
		return errors.New("store: required (for example: store sqlite ./data/gatehouse.db)")
	default:
		return fmt.Errorf("store: unknown driver %q (known: sqlite, postgres)", c.Store.Driver)
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("issuer %q: must be an http(s) URL with a host and no query or fragment", c.Issuer)
		}
	}
	if _, err := pool.NewHasher(c.PasswordHash, 1); err != nil {
		return fmt.Errorf("password_hash: %w", err)
	}
	if err := c.Password.Validate(); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	if c.Cognito != nil {
		if c.Issuer == "" {
			return errors.New("cognito: the pool needs an issuer (the URL of its gatehouse_idp site, where the API is served)")
		}
		if err := cognito.CheckPoolID(c.Cognito.PoolID, c.Cognito.Region); err != nil {
			return fmt.Errorf("cognito: %w", err)
		}
	}
	if c.Store.Timeout < 0 {
		return fmt.Errorf("store_timeout %s: must be positive", time.Duration(c.Store.Timeout))
	}
	if c.RevocationRefresh < 0 {
		return fmt.Errorf("revocation_refresh %s: must be positive", time.Duration(c.RevocationRefresh))
	}
	if c.AuditRetention > 0 && time.Duration(c.AuditRetention) < time.Hour {
		return fmt.Errorf("audit_retention %s: keep events at least an hour (or `audit_retention forever`)", time.Duration(c.AuditRetention))
	}
	if err := validateIDPConfig(c); err != nil {
		return err
	}
	if err := validateIdentityProviders(c); err != nil {
		return err
	}
	if err := validateAccounts(c); err != nil {
		return err
	}
	if err := validateTriggers(c); err != nil {
		return err
	}
	if err := validateFirstFactors(c); err != nil {
		return err
	}
	return validateSRP(c)
}

// issuer returns the configured issuer or a stand-in naming the pool.
func (c *PoolConfig) issuer(name string) string {
	if c.Issuer != "" {
		return c.Issuer
	}
	return "urn:gatehouse:pool:" + name
}

// OpenPool opens a pool's store and makes its ready objects. The server and
// the CLI both call it, so both act on exactly the same pool.
func OpenPool(ctx context.Context, name string, cfg *PoolConfig) (*Pool, error) {
	if cfg == nil {
		return nil, errors.New("no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	if t, ok := s.(interface{ SetTimeout(time.Duration) }); ok {
		t.SetTimeout(time.Duration(cfg.Store.Timeout))
	}
	p, err := openPoolOn(ctx, name, cfg, s)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return p, nil
}

// openStore opens the configured backend, with placeholders replaced.
func openStore(ctx context.Context, cfg StoreConfig) (store.Store, error) {
	repl := caddy.NewReplacer()
	switch cfg.Driver {
	case "postgres":
		dsn := repl.ReplaceKnown(cfg.DSN, "")
		if dsn == "" {
			return nil, fmt.Errorf("store postgres: DSN %q is empty once placeholders are replaced (is the variable set?)", cfg.DSN)
		}
		// The DSN may hold a password: the error names the database
		// without it (see postgres.Open).
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("opening store: %w", err)
		}
		return s, nil
	default:
		path := repl.ReplaceKnown(cfg.Path, "")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("opening store %s: %w", path, err)
		}
		return s, nil
	}
}

// auditLogger is where a pool logs its audit events: in the server, the
// logger "gatehouse.audit", which an operator can send to a file of its own
// with Caddy's `log` options; from the CLI nowhere, since the events also
// go to the store and the CLI's output is its own.
func auditLogger(ctx context.Context) *zap.Logger {
	if cctx, ok := ctx.(caddy.Context); ok {
		return cctx.Logger().Named("audit")
	}
	return zap.NewNop()
}

func openPoolOn(ctx context.Context, name string, cfg *PoolConfig, s store.Store) (*Pool, error) {
	// The name authenticator apps show beside the pool's TOTP codes.
	totpIssuer := cfg.DisplayName
	if totpIssuer == "" {
		totpIssuer = name
	}
	secretKey, err := mfaSecretKey(cfg.MFASecretKey)
	if err != nil {
		return nil, err
	}
	var previousKeys [][]byte
	for _, v := range cfg.MFAPreviousSecretKeys {
		k, err := mfaSecretKey(v)
		if err != nil {
			return nil, fmt.Errorf("previous %w", err)
		}
		previousKeys = append(previousKeys, k)
	}
	triggers, err := triggerInvoker(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	var invoker trigger.Invoker
	if triggers != nil {
		invoker = triggers // not a typed nil: the pool tells "no hooks" by a nil Invoker
	}
	locales, err := loadLocales(cfg)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", name, err)
	}
	acct, err := accountConfig(ctx, name, cfg, invoker, locales)
	if err != nil {
		return nil, err
	}
	met := poolMetrics(ctx, name)
	var observe func(store.AuditEvent)
	if met != nil {
		observe = met.Observe
		observeSends(met, &acct)
		if o, ok := s.(interface {
			SetObserver(func(string, time.Duration))
		}); ok {
			o.SetObserver(met.StoreOperation)
		}
	}
	pl, err := pool.New(ctx, s, pool.Config{
		Name: name, Password: cfg.Password, Hash: cfg.PasswordHash, Accounts: acct,
		MFA: pool.MFAConfig{Mode: cfg.MFA, Issuer: totpIssuer, Lockout: cfg.Lockout.pool(),
			RememberDevice: time.Duration(cfg.RememberDevice), SecretKey: secretKey, PreviousSecretKeys: previousKeys},
		AuditLog:     auditLogger(ctx),
		SRP:          srpConfig(cfg),
		Triggers:     invoker,
		FirstFactors: cfg.FirstAuthFactors,
		Observe:      observe,
	})
	if err != nil {
		return nil, err
	}
	keys, err := signing.Open(ctx, s, keyPolicy(cfg))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if met != nil {
		met.SigningKeys(keys)
	}
	stored, err := pool.EnsureKeys(ctx, s, CookieKeyKind, func() (store.Key, error) {
		// A fixed id makes concurrent first starts agree on one key.
		return store.Key{ID: "1", Material: securecookie.GenerateRandomKey(middleware.CookieKeyLen)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cookie keys: %w", err)
	}
	ring, err := cookieKeyRing(stored)
	if err != nil {
		return nil, err
	}
	marker, err := pool.EnsureKeys(ctx, s, markerKeyKind, func() (store.Key, error) {
		// A fixed id, as for the first cookie key: concurrent first
		// starts agree on one.
		return store.Key{ID: "1", Material: securecookie.GenerateRandomKey(64)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("marker key: %w", err)
	}
	markerKey := marker[0].Material // the fixed id: only ever one
	if len(markerKey) < 32 {
		return nil, errors.New("marker key: too short in the store")
	}
	return &Pool{Name: name, Config: cfg, Pool: pl, Keys: keys, CookieKeyRing: ring, MarkerKey: markerKey, Store: s, Triggers: triggers,
		Throttle: cfg.Throttle.throttle(s), Metrics: met, Locales: locales}, nil
}

// cookieKeysOf returns the usable keys among stored cookie keys.
func cookieKeysOf(stored []store.Key) []middleware.CookieKey {
	keys := make([]middleware.CookieKey, 0, len(stored))
	for _, k := range stored {
		if len(k.Material) == middleware.CookieKeyLen {
			keys = append(keys, middleware.CookieKey{Material: k.Material, ActiveFrom: k.CreatedAt})
		}
	}
	return keys
}

func cookieKeyRing(stored []store.Key) (*middleware.CookieKeys, error) {
	keys := cookieKeysOf(stored)
	if len(keys) == 0 {
		return nil, errors.New("cookie keys: none usable in the store")
	}
	return middleware.NewCookieKeys(keys)
}

// ReloadCookieKeys re-reads the cookie keys from the store, so that a key
// another instance or the CLI added starts opening (and, once active,
// sealing) cookies here, and a removed one stops. On error, or if the store
// holds no usable key, the keys loaded stay in use.
func (p *Pool) ReloadCookieKeys(ctx context.Context) error {
	stored, err := p.Store.Keys(ctx, CookieKeyKind)
	if err != nil {
		return fmt.Errorf("cookie keys: %w", err)
	}
	keys := cookieKeysOf(stored)
	if len(keys) == 0 {
		return errors.New("cookie keys: none usable in the store; keeping the ones loaded")
	}
	return p.CookieKeyRing.Set(keys)
}

// Upkeep is the pool's background work at interval (see pool.Upkeep): the
// pool's own, the reloads of its cookie and signing keys, and, with a
// shared throttle, the forgetting of its old counts.
func (p *Pool) Upkeep(interval time.Duration, log *zap.Logger) *pool.Upkeep {
	u := &pool.Upkeep{Pool: p.Pool, Interval: interval, AuditRetention: p.Config.auditRetention(), Log: log,
		Reload: []pool.Task{{Name: "cookie keys", Do: p.ReloadCookieKeys}, {Name: "signing keys", Do: p.Keys.Maintain}}}
	if shared, ok := p.Throttle.(*ratelimit.Shared); ok {
		u.Purge = []pool.Task{{Name: "old throttle counts", Do: shared.Forget}}
	}
	return u
}

// Close closes the pool's store.
func (p *Pool) Close() error { return p.Store.Close() }

// LoadPoolConfig reads the gatehouse app's pool configuration out of a Caddy
// config (Caddyfile or JSON, as `caddy run --config` would load it).
func LoadPoolConfig(configFile, adapter, name string) (*PoolConfig, error) {
	raw, err := adaptConfig(configFile, adapter)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Apps struct {
			Gatehouse *App `json:"gatehouse"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading config %s: %w", configFile, err)
	}
	if cfg.Apps.Gatehouse == nil {
		return nil, fmt.Errorf("%s defines no gatehouse pools", configFile)
	}
	p, ok := cfg.Apps.Gatehouse.Pools[name]
	if !ok {
		return nil, fmt.Errorf("%s has no pool named %q (defined: %v)", configFile, name, cfg.Apps.Gatehouse.poolNames())
	}
	return p, nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

// loadLocales reads the pool's catalogues: the built-in ones and
// locales_dir's, whose errors (a file that does not parse, a message that
// is not English's, a placeholder English lacks) fail the start, named.
func loadLocales(cfg *PoolConfig) (*locale.Catalog, error) {
	opts := locale.Options{Default: cfg.DefaultLanguage}
	if dir := caddy.NewReplacer().ReplaceKnown(cfg.LocalesDir, ""); dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("locales_dir: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("locales_dir %s: not a folder", dir)
		}
		opts.Dir, opts.DirName = os.DirFS(dir), dir
	}
	return locale.Load(opts)
}
