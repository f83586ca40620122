// Package cognito serves the Cognito user-pool API (AWS JSON 1.1, as the
// AWS SDKs, Amplify and amazon-cognito-identity-js send it) on a pool's
// issuer site, so that an app written for Cognito moves by changing its
// endpoint.
//
// It holds no sign-in decision: InitiateAuth and RespondToAuthChallenge
// drive the pool's sign-in machine (pool/signin.go), whose challenge names
// and parameters are Cognito's, and tokens come from the OpenID provider
// (oidc.Provider.IssueTokens), the same as /oauth2/token's. Each action is
// one function in an actions table (actions.go); an action not in it is
// UnknownOperationException.
//
//	POST /  X-Amz-Target: AWSCognitoIdentityProviderService.<Action>
//	        Content-Type: application/x-amz-json-1.1
//	  -> 200 {...}  |  400 {"__type": "<Name>Exception", "message": ...}
//
// Hooks for what other packages build: SRP (USER_SRP_AUTH) is Config.SRP,
// which module/idp.go sets to the pool's InitiateSRPAuth when the pool has
// `srp on`; PASSWORD_VERIFIER answers go to the machine like any other;
// admin actions (signed with SigV4) register with RegisterAdmin and run only
// behind Config.AdminVerifier.
package cognito

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/ratelimit"
)

// TargetPrefix is the X-Amz-Target of every user-pool action.
const TargetPrefix = "AWSCognitoIdentityProviderService."

// ContentType is AWS JSON 1.1's media type, of requests and answers.
const ContentType = "application/x-amz-json-1.1"

// maxBody bounds a request body; Cognito's largest requests (SignUp with
// attributes) are a few kilobytes.
const maxBody = 64 << 10

// poolIDPattern is Cognito's user pool id: <region>_<id>.
var poolIDPattern = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9])_([A-Za-z0-9]{1,40})$`)

// CheckPoolID checks a Cognito-style pool id against its region: the
// region is the id's prefix (Amplify reads it from there).
func CheckPoolID(poolID, region string) error {
	m := poolIDPattern.FindStringSubmatch(poolID)
	if m == nil {
		return fmt.Errorf("pool_id %q: want <region>_<id>, such as us-east-1_AbCdEf123", poolID)
	}
	if region != "" && m[1] != region {
		return fmt.Errorf("pool_id %q: its region %s is not region %s", poolID, m[1], region)
	}
	return nil
}

// SRPAuth starts USER_SRP_AUTH for username with the client's SRP_A,
// returning the PASSWORD_VERIFIER challenge step with the pool's
// ChallengeParameters (pool.InitiateSRPAuth; client is the API's session
// binding).
type SRPAuth func(ctx context.Context, client, username, srpA string) (*pool.AuthStep, error)

// Config is what a Handler is made from.
type Config struct {
	// PoolID and Region are what Cognito clients are configured with.
	PoolID, Region string
	Pool           *pool.Pool
	Provider       *oidc.Provider
	// Throttle is the pool's per-client-IP budget of hosted-page POSTs;
	// the API's unauthenticated actions spend the same budget. Nil: none.
	Throttle ratelimit.Throttle
	ClientIP func(*http.Request) string
	// SealKey (32 bytes or more; the pool's marker key) seals the short
	// state VerifySoftwareToken hands on to an MFA_SETUP answer.
	SealKey []byte
	// SRP, when set, answers USER_SRP_AUTH; nil refuses it.
	SRP SRPAuth
	// WebAuthn is the site USER_AUTH's passkey ceremonies run for (the
	// app's origin; its host is the relying party id); nil offers no
	// WEB_AUTHN.
	WebAuthn *pool.RelyingParty
	// AdminVerifier, when set, checks the signature of admin actions;
	// nil refuses them all.
	AdminVerifier AdminVerifier
	Logger        *zap.Logger
	// Now is the clock of the API's own time rules (a passkey's
	// registration needs a recent sign-in); nil is time.Now.
	Now func() time.Time
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	log  *zap.Logger
	seal *sealer
}

// New checks cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Pool == nil || cfg.Provider == nil {
		return nil, errors.New("cognito: Config.Pool and Provider are required")
	}
	if err := CheckPoolID(cfg.PoolID, cfg.Region); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = cfg.PoolID[:strings.IndexByte(cfg.PoolID, '_')]
	}
	if len(cfg.SealKey) < 32 {
		return nil, errors.New("cognito: Config.SealKey must have at least 32 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, log: cfg.Logger, seal: newSealer(cfg.SealKey, cfg.Pool.Store())}, nil
}

// Matches reports whether r is for the API: a POST to "/" naming an
// X-Amz-Target, or a CORS preflight of "/". Everything else is the
// site's.
func Matches(r *http.Request) bool {
	if r.URL.Path != "/" {
		return false
	}
	switch r.Method {
	case http.MethodPost:
		return r.Header.Get("X-Amz-Target") != ""
	case http.MethodOptions:
		return r.Header.Get("Access-Control-Request-Method") != ""
	}
	return false
}

// CORS as Cognito's endpoint answers: any origin, no cookies.
const (
	corsHeaders = "authorization, content-type, x-amz-content-sha256, x-amz-date, x-amz-security-token, " +
		"x-amz-target, x-amz-user-agent, x-amzn-requestid, amz-sdk-invocation-id, amz-sdk-request, cache-control"
	corsExpose = "x-amzn-requestid, x-amzn-errortype, x-amzn-errormessage, date"
)

// ServeHTTP answers one API call; requests that are not (Matches false)
// get an error in the API's shape too, never a page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("x-amzn-RequestId", requestID())
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", corsExpose)
	hd.Set("Cache-Control", "no-store")
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", corsHeaders)
		hd.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, errf("UnknownOperationException", ""))
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if !ok {
		writeError(w, errf("UnknownOperationException", ""))
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != ContentType && mt != "application/json") {
		// AWS refuses a body of another type before reading it.
		writeError(w, errf("SerializationException", "Unsupported content type; use "+ContentType))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, &apiError{Type: "SerializationException", Message: "Request body is too large", status: http.StatusRequestEntityTooLarge})
			return
		}
		writeError(w, errf("SerializationException", "The request body could not be read"))
		return
	}
	c := &call{h: h, r: r, w: w, action: action, body: body}
	var out any
	if act, ok := actions[action]; ok {
		out, err = act(c)
	} else if adm, ok := admin[action]; ok {
		out, err = h.runAdmin(c, adm)
	} else {
		err = errf("UnknownOperationException", "")
	}
	if err != nil {
		ae, ok := errors.AsType[*apiError](err)
		if !ok {
			ae = h.mapError(c, err)
		}
		writeError(w, ae)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, h.internal(c, err))
		return
	}
	hd.Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// call is one request being answered.
type call struct {
	h      *Handler
	r      *http.Request
	w      http.ResponseWriter
	action string
	body   []byte
}

func (c *call) ctx() context.Context { return c.r.Context() }

// decode reads the body into v: malformed JSON is SerializationException,
// as AWS answers it; an empty body is an empty object.
func (c *call) decode(v any) error {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return errf("SerializationException", "Value for a field has the wrong type")
		}
		return errf("SerializationException", "Malformed JSON request body")
	}
	return nil
}

// throttled spends one of the client IP's budget; over it, the answer is
// TooManyRequestsException with Retry-After.
func (c *call) throttled() error {
	t := c.h.cfg.Throttle
	if t == nil {
		return nil
	}
	ok, wait := t.Allow(c.ctx(), ratelimit.ClientKey(c.h.cfg.ClientIP(c.r)))
	if ok {
		return nil
	}
	c.w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((wait+time.Second-1)/time.Second)), 10))
	return errf("TooManyRequestsException", "Too many requests")
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
