package hostedui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The accounts every fixture pool holds.
const (
	adaEmail    = "ada@example.com"
	adaPassword = "correct horse battery staple"
	displayName = "Acme <Staff> & Co"
)

var errNotImplemented = errors.New("memStore: not implemented")

// memStore is the part of store.Store the pool uses for sign-in, in memory.
type memStore struct {
	// The OAuth records are not used by the pages; calling one panics.
	store.Store
	mu    sync.Mutex
	users map[string]*store.User // by id
	// failLookups, when set, is returned by every user lookup.
	failLookups error
	failures    map[string]store.SignInFailures
	audit       []store.AuditEvent
	keys        []store.Key
}

// AppendAudit keeps the pool's audit events, oldest first.
func (s *memStore) AppendAudit(_ context.Context, e store.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.audit) + 1)
	s.audit = append(s.audit, e)
	return nil
}

// The pool reads factors and failed sign-ins at every sign-in; these keep
// the failures as a backend would, and no user has a factor.
func (s *memStore) MFAFactors(context.Context, string) ([]store.MFAFactor, error) { return nil, nil }

func (s *memStore) SignInFailures(_ context.Context, login string) (store.SignInFailures, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.failures[login]; ok {
		return f, nil
	}
	return store.SignInFailures{Login: login}, nil
}

func (s *memStore) RecordSignInFailure(_ context.Context, login string, now time.Time, window time.Duration) (store.SignInFailures, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[login]
	f.Login = login
	if f.LastAt.Before(now.Add(-window)) {
		f.Count = 0
	}
	f.Count++
	f.LastAt = now
	s.failures[login] = f
	return f, nil
}

func (s *memStore) LockSignIn(_ context.Context, login string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[login]
	f.Login, f.LockedUntil = login, until
	s.failures[login] = f
	return nil
}

func (s *memStore) ClearSignInFailures(_ context.Context, login string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, login)
	return nil
}

func newMemStore() *memStore {
	return &memStore{users: map[string]*store.User{}, failures: map[string]store.SignInFailures{}}
}

func (s *memStore) CreateUser(_ context.Context, u *store.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.users {
		if o.ID == u.ID || o.Email == u.Email {
			return store.ErrConflict
		}
	}
	c := *u
	c.Attributes = map[string]string{}
	for k, v := range u.Attributes {
		c.Attributes[k] = v
	}
	c.Groups = nil
	c.CreatedAt, c.UpdatedAt = time.Now(), time.Now()
	s.users[u.ID] = &c
	return nil
}

func (s *memStore) find(match func(*store.User) bool) (*store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLookups != nil {
		return nil, s.failLookups
	}
	for _, u := range s.users {
		if match(u) {
			c := *u
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

func (s *memStore) UserByID(_ context.Context, id string) (*store.User, error) {
	return s.find(func(u *store.User) bool { return u.ID == id })
}

func (s *memStore) UserByEmail(_ context.Context, email string) (*store.User, error) {
	return s.find(func(u *store.User) bool { return u.Email == email })
}

// KeepAliases and UserByAlias: the fixture's pools sign in with the
// address alone; the aliases are tested on the real stores (module/).
func (s *memStore) KeepAliases(context.Context, []string) ([]string, error) { return nil, nil }

func (s *memStore) UserByAlias(context.Context, string, string) (*store.User, error) {
	return nil, store.ErrNotFound
}

func (s *memStore) update(id string, f func(*store.User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return store.ErrNotFound
	}
	f(u)
	u.UpdatedAt = time.Now()
	return nil
}

func (s *memStore) UpdatePassword(_ context.Context, id, hash, status string) error {
	return s.update(id, func(u *store.User) { u.PasswordHash, u.Status = hash, status })
}

func (s *memStore) SetEnabled(_ context.Context, id string, enabled bool) error {
	return s.update(id, func(u *store.User) { u.Enabled = enabled })
}

func (s *memStore) Revoke(context.Context, store.Revocation) error { return nil }
func (s *memStore) RevocationsSince(context.Context, time.Time) ([]store.Revocation, error) {
	return nil, nil
}
func (s *memStore) ListUsers(context.Context, store.ListOptions) ([]*store.User, error) {
	return nil, errNotImplemented
}
func (s *memStore) DeleteUser(context.Context, string) error              { return errNotImplemented }
func (s *memStore) AddToGroup(context.Context, string, string) error      { return errNotImplemented }
func (s *memStore) RemoveFromGroup(context.Context, string, string) error { return errNotImplemented }
func (s *memStore) PurgeRevocations(context.Context, time.Time) error     { return errNotImplemented }

// The pool keeps its TOTP sealing key with the store's keys.
func (s *memStore) Keys(_ context.Context, kind string) ([]store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Key
	for i := len(s.keys) - 1; i >= 0; i-- { // newest first
		if s.keys[i].Kind == kind {
			out = append(out, s.keys[i])
		}
	}
	return out, nil
}

func (s *memStore) AddKey(_ context.Context, k store.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys {
		if have.Kind == k.Kind && have.ID == k.ID {
			return store.ErrConflict
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

func (s *memStore) Close() error { return nil }

var _ store.Store = (*memStore)(nil)

// recSessions records what the pages asked of the gateway.
type recSessions struct {
	mu       sync.Mutex
	started  []startCall
	ended    int
	startErr error
	endErr   error
}

type startCall struct {
	userID, email string
	amr           []string
}

func (s *recSessions) Start(w http.ResponseWriter, _ *http.Request, u *store.User, amr []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.startErr != nil {
		return s.startErr
	}
	s.started = append(s.started, startCall{userID: u.ID, email: u.Email, amr: slices.Clone(amr)})
	http.SetCookie(w, &http.Cookie{Name: "test_session", Value: u.ID, Path: "/"})
	return nil
}

func (s *recSessions) End(w http.ResponseWriter, _ *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended++
	if s.endErr != nil {
		return s.endErr
	}
	http.SetCookie(w, &http.Cookie{Name: "test_session", Value: "", Path: "/", MaxAge: -1})
	return nil
}

func (s *recSessions) starts() []startCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.started)
}

func (s *recSessions) ends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

type fixture struct {
	h        *Handler
	pool     *pool.Pool
	store    *memStore
	sessions *recSessions
	logs     *observer.ObservedLogs
	ada      *store.User
}

var testHashKey = []byte("0123456789abcdef0123456789abcdef")

// newFixture builds a Handler on a real pool holding ada, a disabled and an
// unconfirmed user. mod, if given, adjusts the config before New.
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	ctx := t.Context()
	st := newMemStore()
	p, err := pool.New(ctx, st, pool.Config{Name: "test", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ada, err := p.CreateUser(ctx, pool.NewUser{Email: adaEmail, Password: adaPassword})
	if err != nil {
		t.Fatal(err)
	}
	off, err := p.CreateUser(ctx, pool.NewUser{Email: "disabled@example.com", Password: adaPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetEnabled(ctx, off.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateUser(ctx, pool.NewUser{Email: "unconfirmed@example.com", Password: adaPassword, Status: store.StatusUnconfirmed}); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	sessions := &recSessions{}
	cfg := Config{
		Pool:        p,
		Sessions:    sessions,
		DisplayName: displayName,
		Codecs:      securecookie.CodecsFromPairs(testHashKey),
		Logger:      zap.New(core),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: h, pool: p, store: st, sessions: sessions, logs: logs, ada: ada}
}

// do sends r through the handler.
func (f *fixture) do(r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	return rec.Result()
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// form GETs the sign-in page and returns its CSRF cookie and form token.
func (f *fixture) form(t *testing.T, rd string) (*http.Cookie, string) {
	t.Helper()
	res := f.do(httptest.NewRequest(http.MethodGet, SignInPath+"?rd="+url.QueryEscape(rd), nil))
	body := readBody(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET sign-in: status %d", res.StatusCode)
	}
	c := cookieNamed(res, csrfCookie)
	if c == nil {
		t.Fatal("GET sign-in set no CSRF cookie")
	}
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("GET sign-in: no csrf field in the form")
	}
	return c, m[1]
}

// postForm builds a form POST to the sign-in page carrying cookies.
func postForm(form url.Values, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, SignInPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func signInForm(email, password, token, rd string) url.Values {
	return url.Values{"email": {email}, "password": {password}, "csrf": {token}, "rd": {rd}}
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// logText flattens every logged entry, fields included, for "never logs X"
// checks.
func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			b.WriteString(" " + k + "=")
			fmt.Fprint(&b, v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// continued reads res, which must be the continue page a POST whose
// outcome lies beyond the hosted pages ends in, and returns its target.
func continued(t *testing.T, res *http.Response) string {
	t.Helper()
	body := readBody(t, res)
	to, ok := testenv.ContinueTarget(res.StatusCode, body)
	if !ok {
		t.Fatalf("status %d, Location %q; want the continue page:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	if res.Header.Get("Location") != "" || res.Header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("continue page headers: %v", res.Header)
	}
	return to
}
