package trigger

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode"

	"go.uber.org/zap"
)

// DefaultTimeout bounds a call that sets no timeout: Cognito's for a
// Lambda trigger.
const DefaultTimeout = 5 * time.Second

// MaxTimeout is the longest timeout a hook may set: a user waits on it.
const MaxTimeout = 30 * time.Second

// MaxResponseBytes bounds what is read of an answer; a larger one is not
// a trigger's answer.
const MaxResponseBytes = 1 << 20

// maxDenyMessage bounds the receiver's message shown to a user.
const maxDenyMessage = 500

// Hook is one trigger's endpoint.
type Hook struct {
	Kind Kind
	// URL is HTTPS, or plain HTTP to a loopback address.
	URL string
	// Secret is the Standard Webhooks secret, whsec_ and base64.
	Secret string
	// Timeout bounds one call; 0 means DefaultTimeout.
	Timeout time.Duration
	// EventVersion is the version of the events sent (Event.Version when
	// the caller leaves it empty): "1" by default; pre token generation
	// also "2" (access token and scopes) and "3" (client credentials too).
	EventVersion string
}

// Options apply to every hook of a pool.
type Options struct {
	// Region and UserPoolID fill events that leave them empty.
	Region, UserPoolID string
	// Logger gets a line per call (kind, host, status, outcome, time);
	// never a body, secret or URL query.
	Logger *zap.Logger
	// RootCAs verifies HTTPS receivers; nil means the system's roots.
	RootCAs *x509.CertPool
	// Observe, when set, is told of every call after it ends, for audit
	// events and metrics. It must not block.
	Observe func(Call)
}

// Call is one finished call, as Observe sees it.
type Call struct {
	Kind          Kind
	TriggerSource string
	UserName      string
	MessageID     string
	Duration      time.Duration
	// Status is the HTTP status, 0 when none came back.
	Status int
	// Err is nil when the call succeeded.
	Err *Error
}

// Outcome names c's result for audit and metrics: ok, denied, invalid,
// timeout or failed.
func (c Call) Outcome() string {
	switch {
	case c.Err == nil:
		return "ok"
	case c.Err.Denied:
		return "denied"
	case c.Err.Invalid:
		return "invalid"
	case c.Err.Timeout:
		return "timeout"
	default:
		return "failed"
	}
}

// Webhooks is the Invoker that POSTs events to HTTP endpoints.
type Webhooks struct {
	hooks map[Kind]*endpoint
	opts  Options
}

type endpoint struct {
	version string
	url     string
	host    string // for logs: scheme://host/path, never the query
	secret  Secret
	timeout time.Duration
	client  *http.Client
}

// New checks hooks and makes their clients, one pool of kept-alive
// connections per hook.
func New(hooks []Hook, opts Options) (*Webhooks, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	w := &Webhooks{hooks: map[Kind]*endpoint{}, opts: opts}
	for _, h := range hooks {
		if !h.Kind.Valid() {
			return nil, fmt.Errorf("trigger %q: unknown kind (known: %s)", h.Kind, kindList())
		}
		if _, dup := w.hooks[h.Kind]; dup {
			return nil, fmt.Errorf("trigger %s is configured twice", h.Kind)
		}
		ep, err := newEndpoint(h, opts.RootCAs)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: %w", h.Kind, err)
		}
		w.hooks[h.Kind] = ep
	}
	return w, nil
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// CheckURL says whether raw may be a hook's URL: HTTPS, or plain HTTP to
// a loopback address (localhost, 127.0.0.0/8, ::1), with no credentials.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("url %q: want an absolute https:// URL", raw)
	}
	if u.User != nil {
		return nil, errors.New("url: no credentials in the URL; the secret authenticates the call")
	}
	if u.Fragment != "" {
		return nil, errors.New("url: no fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("url %s: plain http only to a loopback address (localhost, 127.0.0.1, [::1]); use https", redactURL(u))
		}
	default:
		return nil, fmt.Errorf("url %s: want https (or http to loopback)", redactURL(u))
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redactURL is u for logs: scheme, host and path, not the query.
func redactURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func newEndpoint(h Hook, roots *x509.CertPool) (*endpoint, error) {
	u, err := CheckURL(h.URL)
	if err != nil {
		return nil, err
	}
	secret, err := ParseSecret(h.Secret)
	if err != nil {
		return nil, err
	}
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 || timeout > MaxTimeout {
		return nil, fmt.Errorf("timeout %s: want a positive duration up to %s", timeout, MaxTimeout)
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if u.Scheme == "http" {
		// "localhost" is only a name: hold plain HTTP to loopback at the
		// socket, whatever it resolves to.
		dialer.Control = loopbackOnly
	}
	transport := &http.Transport{
		// No proxy from the environment: the events carry passwords
		// (user migration) and codes, and go to the named host only.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	version := h.EventVersion
	switch {
	case version == "":
		version = "1"
	case version != "1" && !(h.Kind == PreTokenGeneration && (version == "2" || version == "3")):
		return nil, fmt.Errorf("version %q: only pre_token_generation has versions (1, 2 or 3)", version)
	}
	return &endpoint{
		version: version,
		url:     u.String(),
		host:    redactURL(u),
		secret:  secret,
		timeout: timeout,
		client: &http.Client{
			Transport: transport,
			// A redirect is not an answer: the signed event goes to the
			// configured URL only.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("plain http trigger may only connect to loopback, not %s", host)
	}
	return nil
}

// Configured reports whether a hook is set for k.
func (w *Webhooks) Configured(k Kind) bool {
	return w != nil && w.hooks[k] != nil
}

// EventVersion is the event version k's hook takes ("1", or for pre token
// generation "2" or "3"); "" when k has no hook.
func (w *Webhooks) EventVersion(k Kind) string {
	if !w.Configured(k) {
		return ""
	}
	return w.hooks[k].version
}

// CloseIdleConnections closes the kept-alive connections, when the pool
// is replaced or stopped.
func (w *Webhooks) CloseIdleConnections() {
	if w == nil {
		return
	}
	for _, ep := range w.hooks {
		ep.client.CloseIdleConnections()
	}
}

// Invoke POSTs ev to k's hook and decodes the answer's "response" into
// resp. It fills Version ("1"), Region and UserPoolID when ev leaves them
// empty, and sends {} for a nil Request or Response.
func (w *Webhooks) Invoke(ctx context.Context, k Kind, ev *Event, resp any) error {
	var ep *endpoint
	if w != nil {
		ep = w.hooks[k]
	}
	if ep == nil {
		return &Error{Kind: k, Reason: "no hook configured"}
	}
	start := time.Now()
	id := newMessageID()
	status, err := w.call(ctx, ep, k, id, ev, resp)
	c := Call{Kind: k, TriggerSource: ev.TriggerSource, UserName: ev.UserName, MessageID: id,
		Duration: time.Since(start), Status: status}
	c.Err = err
	w.log(ep, c)
	if w.opts.Observe != nil {
		w.opts.Observe(c)
	}
	if err != nil {
		return err
	}
	return nil // not err: a nil *Error is a non-nil error
}

func (w *Webhooks) log(ep *endpoint, c Call) {
	fields := []zap.Field{zap.String("trigger", string(c.Kind)), zap.String("trigger_source", c.TriggerSource),
		zap.String("url", ep.host), zap.String("webhook_id", c.MessageID), zap.Int("status", c.Status),
		zap.Duration("duration", c.Duration), zap.String("outcome", c.Outcome())}
	switch c.Outcome() {
	case "ok", "denied":
		// A deny is the receiver doing its job; its message is for the user.
		w.opts.Logger.Debug("trigger call", fields...)
	default:
		w.opts.Logger.Warn("trigger call failed", append(fields, zap.String("reason", c.Err.Reason))...)
	}
}

var emptyObject = struct{}{}

func (w *Webhooks) call(ctx context.Context, ep *endpoint, k Kind, id string, ev *Event, resp any) (int, *Error) {
	out := *ev
	if out.Version == "" {
		out.Version = ep.version
	}
	if out.Region == "" {
		out.Region = w.opts.Region
	}
	if out.UserPoolID == "" {
		out.UserPoolID = w.opts.UserPoolID
	}
	if out.Request == nil {
		out.Request = emptyObject
	}
	if out.Response == nil {
		out.Response = emptyObject
	}
	body, err := json.Marshal(&out)
	if err != nil {
		return 0, &Error{Kind: k, Reason: "the event does not encode: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return 0, &Error{Kind: k, Reason: "bad request"}
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Trigger/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(ts))
	req.Header.Set(HeaderSignature, ep.secret.Sign(id, ts, body))
	res, err := ep.client.Do(req)
	if err != nil {
		return 0, transportError(ctx, k, ep, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return res.StatusCode, transportError(ctx, k, ep, err)
	}
	if len(answer) > MaxResponseBytes {
		return res.StatusCode, &Error{Kind: k, Invalid: true, Reason: fmt.Sprintf("answer larger than %d bytes", MaxResponseBytes)}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res.StatusCode, readAnswer(k, answer, resp)
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return res.StatusCode, &Error{Kind: k, Reason: fmt.Sprintf("status %d (redirects are not followed)", res.StatusCode)}
	}
	if msg, ok := denyMessage(answer); ok {
		return res.StatusCode, &Error{Kind: k, Denied: true, Reason: msg}
	}
	return res.StatusCode, &Error{Kind: k, Reason: fmt.Sprintf("status %d", res.StatusCode)}
}

// transportError words a failed exchange without its URL.
func transportError(ctx context.Context, k Kind, ep *endpoint, err error) *Error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Kind: k, Timeout: true, Reason: fmt.Sprintf("no answer within %s", ep.timeout)}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Kind: k, Reason: "the request was canceled"}
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return &Error{Kind: k, Reason: op.Op + ": " + op.Err.Error()}
	}
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return &Error{Kind: k, Reason: "the receiver's certificate does not verify"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &Error{Kind: k, Reason: ue.Err.Error()}
	}
	return &Error{Kind: k, Reason: "connection failed"}
}

// answer is what is read of a 2xx body: the event, of which only
// "response" counts (a receiver cannot change the request, user or pool),
// or Lambda's error shape.
type answer struct {
	Response     json.RawMessage `json:"response"`
	ErrorMessage *string         `json:"errorMessage"`
}

func readAnswer(k Kind, body []byte, resp any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // 204 or an empty 200: nothing to change
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return &Error{Kind: k, Invalid: true, Reason: "the answer is not a JSON event"}
	}
	if a.ErrorMessage != nil && len(a.Response) == 0 {
		// Lambda's Invoke answers a function's error with 200 and this.
		return &Error{Kind: k, Denied: true, Reason: cleanMessage(*a.ErrorMessage)}
	}
	if len(a.Response) == 0 || string(a.Response) == "null" || resp == nil {
		return nil
	}
	if err := json.Unmarshal(a.Response, resp); err != nil {
		return &Error{Kind: k, Invalid: true, Reason: "the answer's response does not fit the " + k.CognitoName() + " shape"}
	}
	return nil
}

// denyMessage reads a refusal's message: {"message": "..."} or Lambda's
// {"errorMessage": "...", "errorType": "..."}.
func denyMessage(body []byte) (string, bool) {
	var d struct {
		Message      string `json:"message"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &d) != nil {
		return "", false
	}
	msg := d.Message
	if msg == "" {
		msg = d.ErrorMessage
	}
	msg = cleanMessage(msg)
	return msg, msg != ""
}

// cleanMessage makes a receiver's message fit for a page and a log line:
// one line of printable text, bounded.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxDenyMessage {
		s = string(r[:maxDenyMessage]) + "…"
	}
	return s
}

var _ Invoker = (*Webhooks)(nil)
