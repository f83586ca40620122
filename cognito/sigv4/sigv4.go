// Package sigv4 verifies AWS Signature Version 4 requests, the way the
// administrative actions of Cognito's user-pool API are authenticated: an
// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...` header made with an access key of the pool (pool/
// accesskeys.go) for the service cognito-idp in the pool's region.
//
// What Verify checks, in order, each refusal named as AWS names it:
//
//   - the client's address is not throttled for earlier failures
//     (TooManyRequestsException);
//   - exactly one Authorization header (else MissingAuthenticationToken-
//     Exception), read strictly: the algorithm AWS4-HMAC-SHA256, then
//     Credential, SignedHeaders and Signature once each; signed header
//     names lowercase, sorted, unique; the signature 64 lowercase hex
//     digits (IncompleteSignatureException);
//   - no X-Amz-Security-Token: there is no STS here, so temporary
//     credentials are unknown ones (UnrecognizedClientException);
//   - one X-Amz-Date in ISO 8601 basic form (a request dated only by Date is
//     refused: every AWS SDK and the CLI send X-Amz-Date);
//   - the credential scope: its date is X-Amz-Date's day, its region the
//     pool's, its service cognito-idp, its terminator aws4_request
//     (InvalidSignatureException);
//   - X-Amz-Date within 5 minutes of now ("Signature expired" / "Signature
//     not yet current");
//   - the signed headers include host and x-amz-date, and every one of
//     content-type, x-amz-target, x-amz-content-sha256 and any other
//     x-amz-* header the request carries, so that neither the action nor
//     the body's type can be changed under a signature; each of those three
//     at most once, and every signed header present
//     (IncompleteSignatureException);
//   - an x-amz-content-sha256 header, if sent, is the body's real hash
//     (UNSIGNED-PAYLOAD is refused);
//   - the access key exists (UnrecognizedClientException);
//   - the signature, recomputed over the canonical request (path normalised
//     and encoded as AWS does for every service but S3, query sorted,
//     header values trimmed) with the payload hash of the body received,
//     equals the one sent, compared in constant time;
//   - the signature was not used before: each one is accepted once, counted
//     in the store (CountHit) so that every instance shares the mark, in a
//     window that outlives the last moment any instance could accept it.
//
// Failures are audited through Auditor (never the signature or secret), and
// counted per client address and per access key id against Throttle: an
// address over its budget is refused before any work, and failures of one
// key over its budget are answered TooManyRequestsException and no longer
// audited one by one. A correct signature of a throttled key still passes,
// so that anyone who knows a key's id (ids are not secret) cannot lock its
// owner out.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/ratelimit"
	"github.com/gatehouse-auth/gatehouse/store"
)

// Service is the signing name of Cognito's user-pool API.
const Service = "cognito-idp"

// MaxSkew is how far X-Amz-Date may be from now, either way.
const MaxSkew = 5 * time.Minute

// amzDateLayout is X-Amz-Date's form.
const amzDateLayout = "20060102T150405Z"

// KeySource gives an access key's secret (*pool.Pool is one). An unknown
// key's error wraps store.ErrNotFound; any other error is a failure of the
// server, passed on as it is.
type KeySource interface {
	AccessKeySecret(ctx context.Context, id string) (secret []byte, readOnly bool, err error)
}

// Counter marks used signatures where every instance sees them
// (store.RateStore is one).
type Counter interface {
	CountHit(ctx context.Context, key string, start time.Time, length time.Duration) (cur, prev int64, err error)
}

// Auditor records a refused request (*pool.Pool is one). The client's
// address travels in ctx (pool.WithClientIP on the request's context).
type Auditor interface {
	AdminAuthFailed(ctx context.Context, accessKeyID, reason string)
}

// Config configures a Verifier.
type Config struct {
	// Region is the pool's region, as in its Cognito-style pool id.
	Region string
	// Keys gives access keys' secrets; required.
	Keys KeySource
	// Replay marks used signatures; required.
	Replay Counter
	// Audit records failures; nil records none.
	Audit Auditor
	// Throttle counts failures per client address and per access key id;
	// nil gives DefaultFailureLimits in this process's memory.
	Throttle ratelimit.Throttle
	// ClientIP names the request's client; default: RemoteAddr's host.
	ClientIP func(*http.Request) string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultFailureLimits is the failure budget of a Verifier given no
// Throttle: 20 at once, then one every 6 seconds.
var DefaultFailureLimits = ratelimit.Limits{Rate: 10.0 / 60, Burst: 20}

// Principal is who signed a verified request.
type Principal struct {
	AccessKeyID string
	// ReadOnly keys may call only the actions that change nothing.
	ReadOnly bool
}

// Verifier checks signed requests; it is safe for concurrent use.
type Verifier struct {
	cfg Config
	// service is Service; the tests of AWS's suite vectors set theirs.
	service string
	blocked blockList
}

// New returns a Verifier of cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.Region == "" || cfg.Keys == nil || cfg.Replay == nil {
		return nil, errors.New("sigv4: a Verifier needs a region, a key source and a replay counter")
	}
	if cfg.Throttle == nil {
		cfg.Throttle = ratelimit.New(DefaultFailureLimits)
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, service: Service, blocked: blockList{until: map[string]time.Time{}}}, nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Verify checks r's signature over body (the whole request body, as
// received) and returns who signed it. A refusal is an *Error; any other
// error is the server's (the store did not answer) and should be answered
// as such, not as a bad signature.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Principal, error) {
	now := v.cfg.Now()
	ipKey := "sigv4-ip:" + ratelimit.ClientKey(v.cfg.ClientIP(r))
	if wait := v.blocked.check(ipKey, now); wait > 0 {
		return nil, throttled(wait)
	}
	p, keyID, err := v.verify(r, body, now)
	var refusal *Error
	if !errors.As(err, &refusal) {
		return p, err
	}
	return nil, v.failed(r.Context(), ipKey, keyID, refusal, now)
}

// failed counts a refusal against the client and the key, audits it, and
// returns what to answer.
func (v *Verifier) failed(ctx context.Context, ipKey, keyID string, e *Error, now time.Time) error {
	if ok, wait := v.cfg.Throttle.Allow(ctx, ipKey); !ok {
		v.blocked.add(ipKey, now, now.Add(wait))
		v.audit(ctx, keyID, ReasonThrottled)
		return throttled(wait)
	}
	if keyID != "" {
		if ok, wait := v.cfg.Throttle.Allow(ctx, "sigv4-key:"+keyID); !ok {
			return throttled(wait)
		}
	}
	v.audit(ctx, keyID, e.Reason)
	return e
}

func (v *Verifier) audit(ctx context.Context, keyID, reason string) {
	if v.cfg.Audit != nil {
		v.cfg.Audit.AdminAuthFailed(ctx, keyID, reason)
	}
}

// printableKeyID is what of a claimed access key id may be recorded: ids
// have this form, and anything else (a secret pasted in the wrong place,
// say) is not written down.
var printableKeyID = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// verify is Verify without the throttle and audit; keyID is the claimed
// access key id when it may be recorded.
func (v *Verifier) verify(r *http.Request, body []byte, now time.Time) (p *Principal, keyID string, err error) {
	headers := r.Header.Values("Authorization")
	switch {
	case len(headers) == 0:
		return nil, "", missing()
	case len(headers) > 1:
		return nil, "", incomplete("A request carries one Authorization header.")
	}
	a, e := parseAuthorization(headers[0])
	if e != nil {
		return nil, "", e
	}
	if printableKeyID.MatchString(a.accessKeyID) {
		keyID = a.accessKeyID
	}
	if r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Has("X-Amz-Security-Token") {
		return nil, keyID, unrecognized(ReasonSecurityToken)
	}
	dates := r.Header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return nil, keyID, incomplete("Authorization header requires existence of one 'X-Amz-Date' header.")
	}
	amzDate := dates[0]
	signed, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return nil, keyID, incomplete("X-Amz-Date %q is not an ISO 8601 basic date such as 20150830T123600Z.", clip(amzDate))
	}
	if e := v.checkScope(a, amzDate); e != nil {
		return nil, keyID, e
	}
	if e := checkSkew(signed, now); e != nil {
		return nil, keyID, e
	}
	if e := checkSignedHeaders(r, a.signedHeaders); e != nil {
		return nil, keyID, e
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if sent := r.Header.Values("X-Amz-Content-Sha256"); len(sent) > 0 && (len(sent) > 1 || sent[0] != payloadHash) {
		return nil, keyID, invalid(ReasonPayloadHash, "The provided x-amz-content-sha256 header does not match what was computed.")
	}
	canonical, ok := canonicalRequest(r, a.signedHeaders, a.signedHeadersRaw, payloadHash)
	if !ok {
		return nil, keyID, incomplete("A header named in SignedHeaders is not in the request.")
	}
	secret, readOnly, err := v.cfg.Keys.AccessKeySecret(r.Context(), a.accessKeyID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, keyID, unrecognized(ReasonUnknownKey)
	case err != nil:
		return nil, keyID, err
	}
	want := signature(secret, a.date, a.region, a.service, stringToSign(amzDate, a.scope(), canonical))
	if !hmac.Equal(want, a.signature) {
		return nil, keyID, invalid(ReasonInvalidSignature, msgMismatch)
	}
	if err := v.spend(r.Context(), a, signed); err != nil {
		return nil, keyID, err
	}
	return &Principal{AccessKeyID: a.accessKeyID, ReadOnly: readOnly}, keyID, nil
}

// checkScope holds the credential scope to the request's day, the pool's
// region and Cognito's service, with AWS's messages.
func (v *Verifier) checkScope(a *authorization, amzDate string) *Error {
	switch {
	case a.date != amzDate[:8]:
		return invalid(ReasonScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", clip(a.date), amzDate[:8], amzDate)
	case a.region != v.cfg.Region:
		return invalid(ReasonScope, "Credential should be scoped to a valid region, not '%s'.", clip(a.region))
	case a.service != v.service:
		return invalid(ReasonScope, "Credential should be scoped to correct service: '%s'.", v.service)
	case a.term != terminator:
		return invalid(ReasonScope, "Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, clip(a.term))
	}
	return nil
}

// checkSkew refuses a date more than MaxSkew from now, as AWS words it.
func checkSkew(signed, now time.Time) *Error {
	switch {
	case signed.Before(now.Add(-MaxSkew)):
		return invalid(ReasonExpired, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			signed.Format(amzDateLayout), now.Add(-MaxSkew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))
	case signed.After(now.Add(MaxSkew)):
		return invalid(ReasonExpired, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			signed.Format(amzDateLayout), now.Add(MaxSkew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))
	}
	return nil
}

// mustSign are the headers that, when sent, must be signed: what they say
// decides what the request does.
var mustSign = []string{"content-type", "x-amz-target", "x-amz-content-sha256"}

// checkSignedHeaders requires host and x-amz-date signed, and every header
// of mustSign and every x-amz-* header the request carries; a header of
// mustSign sent twice is refused, so that what the API reads (the first)
// is all that was signed.
func checkSignedHeaders(r *http.Request, signed []string) *Error {
	has := func(name string) bool {
		for _, s := range signed {
			if s == name {
				return true
			}
		}
		return false
	}
	var unsigned []string
	for _, name := range []string{"host", "x-amz-date"} {
		if !has(name) {
			unsigned = append(unsigned, name)
		}
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if (strings.HasPrefix(lower, "x-amz-") || contains(mustSign, lower)) && !has(lower) {
			unsigned = append(unsigned, lower)
		}
	}
	for _, name := range mustSign {
		if len(r.Header.Values(name)) > 1 {
			return incomplete("The request carries %s more than once.", name)
		}
	}
	if len(unsigned) > 0 {
		e := incomplete("The request must sign host, x-amz-date, content-type, x-amz-target and every x-amz-* header it carries; not signed: %s.", clip(strings.Join(unsigned, ", ")))
		e.Reason = ReasonUnsignedHeader
		return e
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// spend marks the signature used, once across every instance: a count of
// the store's shared counter in a window starting after the last moment
// any instance would accept it (its date plus MaxSkew), so that purging
// old windows (which goes by their start) never forgets one that could
// still be replayed.
func (v *Verifier) spend(ctx context.Context, a *authorization, signed time.Time) error {
	start := signed.Add(MaxSkew + time.Second)
	n, _, err := v.cfg.Replay.CountHit(ctx, "sigv4:"+hex.EncodeToString(a.signature), start, time.Second)
	if err != nil {
		return fmt.Errorf("sigv4: recording the signature's use: %w", err)
	}
	if n != 1 {
		return invalid(ReasonReplayed, "The request signature was used already: sign each request anew.")
	}
	return nil
}

// blockList remembers client addresses over their failure budget until
// they have one again, so that their next requests cost no work.
type blockList struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// maxBlocked bounds the list; past it, the throttle alone answers.
const maxBlocked = 10_000

func (b *blockList) check(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.until[key]
	if !ok {
		return 0
	}
	if !now.Before(until) {
		delete(b.until, key)
		return 0
	}
	return until.Sub(now)
}

func (b *blockList) add(key string, now, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.until) >= maxBlocked {
		for k, u := range b.until {
			if !u.After(now) {
				delete(b.until, k)
			}
		}
		if len(b.until) >= maxBlocked {
			return
		}
	}
	b.until[key] = until
}
