package cognito_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/cognito"
	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

// The group admin actions and ListUsers through the whole handler, signed
// with a real access key of the pool by aws-sdk-go-v2's SigV4 signer and
// checked by the real verifier (cognito/sigv4), over HTTP. Each test has a
// pool of its own, so that lists see only what the test made.

const groupsPoolID = "eu-west-1_Groups1"

type adminRig struct {
	t        *testing.T
	pool     *pool.Pool
	srv      *httptest.Server
	key, ro  *pool.NewAccessKey
	usingKey *pool.NewAccessKey
}

func newAdminRig(t *testing.T) *adminRig {
	t.Helper()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pl, err := pool.New(ctx, s, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.Open(ctx, s, signing.Policy{Algs: []string{signing.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	marker := make([]byte, 64)
	_, _ = rand.Read(marker)
	provider, err := oidc.NewProvider(oidc.Config{
		Issuer: "https://auth.example.test", Pool: pl, Store: s, Keys: keys, Sessions: noSessions{}, MarkerKey: marker,
		Clients: []*oidc.Client{{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.example.test/cb"},
			AuthFlows: []string{oidc.AuthFlowUserPassword}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := sigv4.New(sigv4.Config{Region: "eu-west-1", Keys: pl, Replay: s, Audit: pl})
	if err != nil {
		t.Fatal(err)
	}
	h, err := cognito.New(cognito.Config{PoolID: groupsPoolID, Pool: pl, Provider: provider, SealKey: marker,
		AdminVerifier: cognito.SigV4(v, nil)})
	if err != nil {
		t.Fatal(err)
	}
	rg := &adminRig{t: t, pool: pl, srv: httptest.NewServer(h)}
	t.Cleanup(rg.srv.Close)
	if rg.key, err = pl.CreateAccessKey(ctx, "tests", false); err != nil {
		t.Fatal(err)
	}
	if rg.ro, err = pl.CreateAccessKey(ctx, "tests, read-only", true); err != nil {
		t.Fatal(err)
	}
	rg.usingKey = rg.key
	return rg
}

// request is an admin call as the SDKs make it, signed with k.
func (rg *adminRig) request(k *pool.NewAccessKey, action string, body []byte) *http.Request {
	rg.t.Helper()
	r, err := http.NewRequest(http.MethodPost, rg.srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		rg.t.Fatal(err)
	}
	r.Header.Set("Content-Type", amzJSON)
	r.Header.Set("X-Amz-Target", target(action))
	r.Header.Set("Amz-Sdk-Invocation-Id", uuid.NewString())
	if k != nil {
		sum := sha256.Sum256(body)
		// A new signer each time: a signer caches derived keys by key id.
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.SecretAccessKey},
			r, hex.EncodeToString(sum[:]), sigv4.Service, "eu-west-1", time.Now())
		if err != nil {
			rg.t.Fatal(err)
		}
	}
	return r
}

// answer is a response: status, error type (or ""), the JSON body.
type answer struct {
	status int
	errType,
	message string
	body map[string]any
	raw  []byte
}

func (rg *adminRig) send(r *http.Request) answer {
	rg.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		rg.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != amzJSON {
		rg.t.Fatalf("Content-Type %q: %s", ct, raw)
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		rg.t.Fatalf("not JSON: %q", raw)
	}
	if resp.StatusCode != http.StatusOK {
		a.errType, _ = a.body["__type"].(string)
		a.message, _ = a.body["message"].(string)
		if a.errType == "" || resp.Header.Get("x-amzn-ErrorType") != a.errType {
			rg.t.Fatalf("status %d without AWS's error shape: %s", resp.StatusCode, raw)
		}
	}
	return a
}

// call signs body with the rig's current key and sends it.
func (rg *adminRig) call(action string, body any) answer {
	rg.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		rg.t.Fatal(err)
	}
	return rg.send(rg.request(rg.usingKey, action, b))
}

func (rg *adminRig) ok(action string, body any) map[string]any {
	rg.t.Helper()
	a := rg.call(action, body)
	if a.status != http.StatusOK {
		rg.t.Fatalf("%s %v: %d %s", action, body, a.status, a.raw)
	}
	return a.body
}

func (rg *adminRig) fails(action string, body any, errType string) answer {
	rg.t.Helper()
	a := rg.call(action, body)
	if a.status != http.StatusBadRequest || a.errType != errType {
		rg.t.Fatalf("%s %v: %d %s, want 400 %s", action, body, a.status, a.raw, errType)
	}
	return a
}

// in is a request of the rig's pool with more members.
func in(kv ...any) map[string]any {
	m := map[string]any{"UserPoolId": groupsPoolID}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func names(t *testing.T, list any, field string) []string {
	t.Helper()
	items, ok := list.([]any)
	if !ok {
		t.Fatalf("not a list: %#v", list)
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.(map[string]any)[field].(string))
	}
	return out
}

func TestGroupAdminActions(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	before := time.Now().Add(-time.Second)

	// CreateGroup: the GroupType Cognito answers.
	g := rg.ok("CreateGroup", in("GroupName", "admins", "Description", "Operators", "Precedence", 1))["Group"].(map[string]any)
	if g["GroupName"] != "admins" || g["UserPoolId"] != groupsPoolID || g["Description"] != "Operators" || g["Precedence"] != 1.0 {
		t.Fatalf("CreateGroup: %v", g)
	}
	if _, has := g["RoleArn"]; has {
		t.Errorf("a RoleArn: %v", g)
	}
	for _, k := range []string{"CreationDate", "LastModifiedDate"} {
		d, ok := g[k].(float64)
		if !ok || time.Unix(int64(d), 0).Before(before.Truncate(time.Second)) || time.Unix(int64(d), 0).After(time.Now()) {
			t.Errorf("%s = %v, want epoch seconds of now", k, g[k])
		}
	}
	plain := rg.ok("CreateGroup", in("GroupName", "plain"))["Group"].(map[string]any)
	if _, has := plain["Precedence"]; has || plain["Description"] != nil {
		t.Errorf("a group made without fields: %v", plain)
	}

	// CreateGroup's documented errors.
	if a := rg.fails("CreateGroup", in("GroupName", "admins"), "GroupExistsException"); !strings.Contains(a.message, "already exists") {
		t.Errorf("GroupExistsException message %q", a.message)
	}
	rg.fails("CreateGroup", in("GroupName", "plain", "Precedence", 3), "GroupExistsException")
	for _, bad := range []map[string]any{
		in(),
		in("GroupName", ""),
		in("GroupName", "has space"),
		in("GroupName", strings.Repeat("g", 129)),
		in("GroupName", "long", "Description", strings.Repeat("d", 2049)),
		in("GroupName", "negative", "Precedence", -1),
		in("GroupName", "huge", "Precedence", int64(1)<<31),
		in("GroupName", "roles", "RoleArn", "arn:aws:iam::123456789012:role/Admins"),
		{"GroupName": "nopool"},
	} {
		rg.fails("CreateGroup", bad, "InvalidParameterException")
	}
	rg.fails("CreateGroup", map[string]any{"UserPoolId": "eu-west-1_Other", "GroupName": "elsewhere"}, "ResourceNotFoundException")
	rg.fails("CreateGroup", in("GroupName", "frac", "Precedence", 1.5), "SerializationException")
	for _, name := range []string{"has space", "long", "negative", "huge", "roles", "nopool", "elsewhere", "frac"} {
		if _, err := rg.pool.Group(t.Context(), name); !errors.Is(err, pool.ErrGroupNotFound) && !errors.Is(err, pool.ErrInvalidGroup) {
			t.Errorf("refused CreateGroup %q made the group: %v", name, err)
		}
	}

	// GetGroup.
	if got := rg.ok("GetGroup", in("GroupName", "admins"))["Group"].(map[string]any); got["Description"] != "Operators" || got["Precedence"] != 1.0 {
		t.Errorf("GetGroup: %v", got)
	}
	rg.fails("GetGroup", in("GroupName", "nobody"), "ResourceNotFoundException")
	rg.fails("GetGroup", in("GroupName", "not a name"), "ResourceNotFoundException")
	rg.fails("GetGroup", in(), "InvalidParameterException")
	rg.fails("GetGroup", map[string]any{"UserPoolId": "eu-west-1_Other", "GroupName": "admins"}, "ResourceNotFoundException")

	// UpdateGroup changes what it is given, keeps the rest.
	u := rg.ok("UpdateGroup", in("GroupName", "admins", "Precedence", 0))["Group"].(map[string]any)
	if u["Precedence"] != 0.0 || u["Description"] != "Operators" {
		t.Errorf("UpdateGroup precedence: %v", u)
	}
	u = rg.ok("UpdateGroup", in("GroupName", "admins", "Description", "Root"))["Group"].(map[string]any)
	if u["Precedence"] != 0.0 || u["Description"] != "Root" || u["LastModifiedDate"].(float64) < u["CreationDate"].(float64) {
		t.Errorf("UpdateGroup description: %v", u)
	}
	if g, err := rg.pool.Group(t.Context(), "admins"); err != nil || g.Description != "Root" || g.Precedence == nil || *g.Precedence != 0 {
		t.Errorf("the stored group after UpdateGroup: %+v, %v", g, err)
	}
	rg.fails("UpdateGroup", in("GroupName", "nobody", "Precedence", 2), "ResourceNotFoundException")
	rg.fails("UpdateGroup", in("GroupName", "admins", "Precedence", -5), "InvalidParameterException")
	rg.fails("UpdateGroup", in("GroupName", "admins", "Description", strings.Repeat("é", 2049)), "InvalidParameterException")
	rg.fails("UpdateGroup", in("GroupName", "admins", "RoleArn", "arn:aws:iam::123456789012:role/X"), "InvalidParameterException")
	rg.fails("UpdateGroup", map[string]any{"UserPoolId": "eu-west-1_Other", "GroupName": "admins", "Precedence": 9}, "ResourceNotFoundException")
	if g, _ := rg.pool.Group(t.Context(), "admins"); *g.Precedence != 0 || g.Description != "Root" {
		t.Errorf("refused updates changed the group: %+v", g)
	}

	// DeleteGroup: members leave, accounts stay.
	ada := newUser(t, rg.pool, "ada@example.com", "correct horse battery staple")
	if err := rg.pool.AddToGroup(t.Context(), ada.ID, "plain"); err != nil {
		t.Fatal(err)
	}
	rg.fails("DeleteGroup", map[string]any{"UserPoolId": "eu-west-1_Other", "GroupName": "plain"}, "ResourceNotFoundException")
	if body := rg.ok("DeleteGroup", in("GroupName", "plain")); len(body) != 0 {
		t.Errorf("DeleteGroup answered %v, want {}", body)
	}
	rg.fails("GetGroup", in("GroupName", "plain"), "ResourceNotFoundException")
	rg.fails("DeleteGroup", in("GroupName", "plain"), "ResourceNotFoundException")
	rg.fails("DeleteGroup", in("GroupName", "bad name"), "ResourceNotFoundException")
	rg.fails("DeleteGroup", in(), "InvalidParameterException")
	if u, err := rg.pool.User(t.Context(), ada.ID); err != nil || len(u.Groups) != 0 {
		t.Errorf("after DeleteGroup the member is %+v, %v", u, err)
	}
}

func TestListGroupsAndMembersPaginate(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	ctx := t.Context()
	for _, n := range []string{"e", "a", "d", "b", "c"} {
		rg.ok("CreateGroup", in("GroupName", "g-"+n))
	}
	want := []string{"g-a", "g-b", "g-c", "g-d", "g-e"}

	// ListGroups in pages of two: three pages, the last without a token.
	var got []string
	token, pages := "", 0
	for {
		req := in("Limit", 2)
		if token != "" {
			req["NextToken"] = token
		}
		page := rg.ok("ListGroups", req)
		pages++
		got = append(got, names(t, page["Groups"], "GroupName")...)
		for _, g := range page["Groups"].([]any) {
			if g.(map[string]any)["UserPoolId"] != groupsPoolID {
				t.Errorf("a group of another pool: %v", g)
			}
		}
		next, has := page["NextToken"].(string)
		if !has {
			break
		}
		token = next
		if pages > 5 {
			t.Fatal("ListGroups does not end")
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("ListGroups pages %d: %v, want 3: %v", pages, got, want)
	}
	all := rg.ok("ListGroups", in())
	if _, has := all["NextToken"]; has || !slices.Equal(names(t, all["Groups"], "GroupName"), want) {
		t.Errorf("ListGroups without a limit: %v", all)
	}

	// Members in pages.
	var emails []string
	for _, e := range []string{"c@example.com", "a@example.com", "b@example.com"} {
		u := newUser(t, rg.pool, e, "correct horse battery staple")
		if err := rg.pool.AddToGroup(ctx, u.ID, "g-a"); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, e)
	}
	newUser(t, rg.pool, "outsider@example.com", "correct horse battery staple")
	slices.Sort(emails)
	first := rg.ok("ListUsersInGroup", in("GroupName", "g-a", "Limit", 2))
	second := rg.ok("ListUsersInGroup", in("GroupName", "g-a", "Limit", 2, "NextToken", first["NextToken"]))
	if _, has := second["NextToken"]; has {
		t.Errorf("the last page has a token: %v", second)
	}
	var members []string
	for _, page := range []map[string]any{first, second} {
		for _, u := range page["Users"].([]any) {
			user := u.(map[string]any)
			for _, a := range user["Attributes"].([]any) {
				if a.(map[string]any)["Name"] == "email" {
					members = append(members, a.(map[string]any)["Value"].(string))
				}
			}
			if user["UserStatus"] != "CONFIRMED" || user["Enabled"] != true || user["Username"] == "" {
				t.Errorf("a member's UserType: %v", user)
			}
		}
	}
	if !slices.Equal(members, emails) {
		t.Errorf("ListUsersInGroup: %v, want %v", members, emails)
	}
	if empty := rg.ok("ListUsersInGroup", in("GroupName", "g-b")); len(empty["Users"].([]any)) != 0 {
		t.Errorf("an empty group: %v", empty)
	}

	// Documented errors of both lists.
	rg.fails("ListUsersInGroup", in("GroupName", "nobody"), "ResourceNotFoundException")
	rg.fails("ListUsersInGroup", in("GroupName", "not a name"), "ResourceNotFoundException")
	rg.fails("ListUsersInGroup", in(), "InvalidParameterException")
	rg.fails("ListUsersInGroup", map[string]any{"UserPoolId": "eu-west-1_Other", "GroupName": "g-a"}, "ResourceNotFoundException")
	rg.fails("ListGroups", map[string]any{"UserPoolId": "eu-west-1_Other"}, "ResourceNotFoundException")
	rg.fails("ListGroups", map[string]any{}, "InvalidParameterException")
	for _, limit := range []int{61, -1} {
		if a := rg.fails("ListGroups", in("Limit", limit), "InvalidParameterException"); !strings.Contains(a.message, "'limit'") {
			t.Errorf("Limit %d: %q", limit, a.message)
		}
		rg.fails("ListUsersInGroup", in("GroupName", "g-a", "Limit", limit), "InvalidParameterException")
	}
	forged := base64.RawURLEncoding.EncodeToString([]byte("m\x00a@example.com"))
	for _, tok := range []string{"garbage!", forged, first["NextToken"].(string)} {
		rg.fails("ListGroups", in("NextToken", tok), "InvalidParameterException")
	}
	rg.fails("ListUsersInGroup", in("GroupName", "g-a", "NextToken", token), "InvalidParameterException")
}

func TestListUsersAdmin(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	ctx := t.Context()
	ada, err := rg.pool.CreateUser(ctx, pool.NewUser{Email: "ada@example.com", Password: "correct horse battery staple",
		EmailVerified: true, Name: "Ada Lovelace", Attributes: map[string]string{"given_name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	adam := newUser(t, rg.pool, "adam@example.com", "correct horse battery staple")
	bob := newUser(t, rg.pool, "bob@example.com", "correct horse battery staple")
	if err := rg.pool.SetEnabled(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	// A user a first federated sign-in made, through the pool's own path.
	if _, err := rg.pool.InitiateFederatedAuth(ctx, pool.FederatedAuth{CreateUsers: true, Client: "spa",
		Identity: pool.ExternalIdentity{Provider: "Google", ProviderType: "Google", Issuer: "https://accounts.google.com",
			Subject: "1098", Email: "grace@navy.example", EmailVerified: true}}); err != nil {
		t.Fatal(err)
	}
	grace, err := rg.pool.UserByEmail(ctx, "grace@navy.example")
	if err != nil {
		t.Fatal(err)
	}

	list := func(filter string) []string {
		t.Helper()
		body := rg.ok("ListUsers", in("Filter", filter))
		if _, has := body["PaginationToken"]; has {
			t.Errorf("filter %q: a token on the only page", filter)
		}
		return names(t, body["Users"], "Username")
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{``, []string{ada.ID, adam.ID, bob.ID, "Google_1098"}},
		{`email ^= "ada"`, []string{ada.ID, adam.ID}},
		{`email = "ADA@example.com"`, []string{ada.ID}},
		{`email ^= "zed"`, []string{}},
		{`status = "Enabled"`, []string{ada.ID, adam.ID, "Google_1098"}},
		{`status = "Disabled"`, []string{bob.ID}},
		{`cognito:user_status = "external_provider"`, []string{"Google_1098"}},
		{`cognito:user_status = "CONFIRMED"`, []string{ada.ID, adam.ID, bob.ID}},
		{`username = "Google_1098"`, []string{"Google_1098"}},
		{`username = "` + adam.ID + `"`, []string{adam.ID}},
		{`sub = "` + grace.ID + `"`, []string{"Google_1098"}},
		{`given_name = "Ada"`, []string{ada.ID}},
		{`name ^= "Ada L"`, []string{ada.ID}},
	} {
		if got := list(tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("Filter %q: %v, want %v", tc.filter, got, tc.want)
		}
	}

	// AttributesToGet keeps only the attributes named.
	users := rg.ok("ListUsers", in("Filter", `email = "ada@example.com"`, "AttributesToGet", []string{"email", "given_name"}))["Users"].([]any)
	attrs, _ := json.Marshal(users[0].(map[string]any)["Attributes"])
	if string(attrs) != `[{"Name":"email","Value":"ada@example.com"},{"Name":"given_name","Value":"Ada"}]` {
		t.Errorf("AttributesToGet: %s", attrs)
	}
	full := rg.ok("ListUsers", in("Filter", `email = "ada@example.com"`, "AttributesToGet", []string{}))["Users"].([]any)
	if n := len(full[0].(map[string]any)["Attributes"].([]any)); n < 4 {
		t.Errorf("an empty AttributesToGet gave %d attributes, want all", n)
	}

	// PaginationToken pages through a filter and through everyone.
	var got []string
	token := ""
	for range 5 {
		req := in("Limit", 1, "Filter", `email ^= "a"`)
		if token != "" {
			req["PaginationToken"] = token
		}
		page := rg.ok("ListUsers", req)
		if _, has := page["NextToken"]; has {
			t.Fatal("ListUsers answered NextToken; its token is PaginationToken")
		}
		got = append(got, names(t, page["Users"], "Username")...)
		token, _ = page["PaginationToken"].(string)
		if token == "" {
			break
		}
	}
	if !slices.Equal(got, []string{ada.ID, adam.ID}) {
		t.Errorf("ListUsers in pages of one: %v", got)
	}
	p1 := rg.ok("ListUsers", in("Limit", 3))
	p2 := rg.ok("ListUsers", in("Limit", 3, "PaginationToken", p1["PaginationToken"]))
	if all := append(names(t, p1["Users"], "Username"), names(t, p2["Users"], "Username")...); len(all) != 4 || p2["PaginationToken"] != nil {
		t.Errorf("ListUsers in pages of three: %v, %v", all, p2)
	}

	// The documented errors.
	for _, bad := range []string{`email`, `email = ada`, `email ~ "ada"`, `custom:team = "x"`, `email = "a" and name = "b"`, strings.Repeat("x", 300)} {
		if a := rg.fails("ListUsers", in("Filter", bad), "InvalidParameterException"); bad != strings.Repeat("x", 300) && a.message != "Error while parsing filter." {
			t.Errorf("Filter %q: message %q", bad, a.message)
		}
	}
	rg.fails("ListUsers", in("Limit", 61), "InvalidParameterException")
	rg.fails("ListUsers", in("Limit", -3), "InvalidParameterException")
	rg.fails("ListUsers", in("PaginationToken", "garbage!"), "InvalidParameterException")
	groupsToken := base64.RawURLEncoding.EncodeToString([]byte("g\x00admins"))
	rg.fails("ListUsers", in("PaginationToken", groupsToken), "InvalidParameterException")
	rg.fails("ListUsers", in("AttributesToGet", []string{strings.Repeat("a", 33)}), "InvalidParameterException")
	rg.fails("ListUsers", in("AttributesToGet", []string{""}), "InvalidParameterException")
	rg.fails("ListUsers", map[string]any{"UserPoolId": "eu-west-1_Other"}, "ResourceNotFoundException")
	rg.fails("ListUsers", map[string]any{}, "InvalidParameterException")
	rg.fails("ListUsers", in("Limit", "ten"), "SerializationException")
}

// TestGroupAdminKeys: a read-only key reads groups and users but changes
// nothing; calls without a valid signature never reach the actions.
func TestGroupAdminKeys(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	rg.ok("CreateGroup", in("GroupName", "admins", "Precedence", 1))
	rg.usingKey = rg.ro
	for action, body := range map[string]map[string]any{
		"GetGroup":         in("GroupName", "admins"),
		"ListGroups":       in(),
		"ListUsersInGroup": in("GroupName", "admins"),
		"ListUsers":        in("Filter", `status = "Enabled"`),
	} {
		rg.ok(action, body)
	}
	// Refused as the handler refuses a read-only key's change (AWS's
	// AccessDeniedException once sigv4's answer is wired in module).
	refused := func(action string, body map[string]any) {
		t.Helper()
		a := rg.call(action, body)
		if a.status != http.StatusBadRequest || (a.errType != "NotAuthorizedException" && a.errType != "AccessDeniedException") {
			t.Errorf("read-only %s: %d %s", action, a.status, a.raw)
		}
	}
	refused("CreateGroup", in("GroupName", "sneaky"))
	refused("UpdateGroup", in("GroupName", "admins", "Precedence", 7))
	refused("DeleteGroup", in("GroupName", "admins"))
	if _, err := rg.pool.Group(t.Context(), "sneaky"); !errors.Is(err, pool.ErrGroupNotFound) {
		t.Errorf("a read-only key made a group: %v", err)
	}
	if g, err := rg.pool.Group(t.Context(), "admins"); err != nil || *g.Precedence != 1 {
		t.Errorf("a read-only key changed or deleted a group: %+v, %v", g, err)
	}

	// An attacker: unsigned, a body changed under the signature, a replay,
	// a revoked key.
	body := []byte(`{"UserPoolId":"` + groupsPoolID + `","GroupName":"forged"}`)
	if a := rg.send(rg.request(nil, "CreateGroup", body)); a.errType != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned CreateGroup: %s", a.raw)
	}
	r := rg.request(rg.key, "CreateGroup", body)
	r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte("forged"), []byte("forgex"), 1)))
	if a := rg.send(r); a.errType != "InvalidSignatureException" {
		t.Errorf("a changed body: %d %s", a.status, a.raw)
	}
	signed := rg.request(rg.key, "CreateGroup", body)
	replay := signed.Clone(t.Context())
	replay.Body = io.NopCloser(bytes.NewReader(body))
	if a := rg.send(signed); a.status != http.StatusOK {
		t.Fatalf("signed CreateGroup: %s", a.raw)
	}
	if a := rg.send(replay); a.status == http.StatusOK {
		t.Errorf("a replayed CreateGroup was accepted: %s", a.raw)
	}
	if err := rg.pool.RevokeAccessKey(t.Context(), rg.key.ID); err != nil {
		t.Fatal(err)
	}
	rg.usingKey = rg.key
	if a := rg.call("DeleteGroup", in("GroupName", "admins")); a.errType != "UnrecognizedClientException" {
		t.Errorf("a revoked key: %d %s", a.status, a.raw)
	}
	if _, err := rg.pool.Group(t.Context(), "admins"); err != nil {
		t.Errorf("refused calls deleted the group: %v", err)
	}
}

// TestGroupOrderInTokens: groups made and changed through the API order a
// member's cognito:groups by precedence, as Cognito's tokens do, and the
// read actions leave it as it is.
func TestGroupOrderInTokens(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	ctx := t.Context()
	rg.ok("CreateGroup", in("GroupName", "viewers", "Precedence", 5))
	rg.ok("CreateGroup", in("GroupName", "owners", "Precedence", 0))
	rg.ok("CreateGroup", in("GroupName", "beta"))
	ada := newUser(t, rg.pool, "ada@example.com", "correct horse battery staple")
	for _, g := range []string{"beta", "viewers", "owners"} {
		if err := rg.pool.AddToGroup(ctx, ada.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	groupsClaim := func() string {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": "ada@example.com", "PASSWORD": "correct horse battery staple"}})
		r, _ := http.NewRequest(http.MethodPost, rg.srv.URL+"/", bytes.NewReader(b))
		r.Header.Set("Content-Type", amzJSON)
		r.Header.Set("X-Amz-Target", target("InitiateAuth"))
		a := rg.send(r)
		res, ok := a.body["AuthenticationResult"].(map[string]any)
		if !ok {
			t.Fatalf("InitiateAuth: %s", a.raw)
		}
		var id, access string
		for _, k := range []string{"IdToken", "AccessToken"} {
			parts := strings.Split(res[k].(string), ".")
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(claims["cognito:groups"])
			if k == "IdToken" {
				id = string(g)
			} else {
				access = string(g)
			}
		}
		if id != access {
			t.Errorf("ID token groups %s, access token %s", id, access)
		}
		return id
	}
	if got := groupsClaim(); got != `["owners","viewers","beta"]` {
		t.Fatalf("cognito:groups %s", got)
	}
	rg.usingKey = rg.ro
	rg.ok("ListGroups", in())
	rg.ok("GetGroup", in("GroupName", "owners"))
	rg.ok("ListUsersInGroup", in("GroupName", "owners"))
	rg.ok("ListUsers", in())
	if got := groupsClaim(); got != `["owners","viewers","beta"]` {
		t.Errorf("after reads, cognito:groups %s", got)
	}
	rg.usingKey = rg.key
	rg.ok("UpdateGroup", in("GroupName", "beta", "Precedence", 1))
	rg.ok("UpdateGroup", in("GroupName", "owners", "Description", "no precedence change"))
	if got := groupsClaim(); got != `["owners","beta","viewers"]` {
		t.Errorf("after UpdateGroup, cognito:groups %s", got)
	}
	rg.ok("DeleteGroup", in("GroupName", "owners"))
	if got := groupsClaim(); got != `["beta","viewers"]` {
		t.Errorf("after DeleteGroup, cognito:groups %s", got)
	}
}

// TestAdminAddUserToUnknownGroup: the API names only groups that exist
// (ResourceNotFoundException, as Cognito), although the pool's AddToGroup
// makes a group by use for the CLI and the config. A refused call makes no
// group and changes no membership.
func TestAdminAddUserToUnknownGroup(t *testing.T) {
	t.Parallel()
	rg := newAdminRig(t)
	ada := newUser(t, rg.pool, "ada@example.com", "correct horse battery staple")
	for _, action := range []string{"AdminAddUserToGroup", "AdminRemoveUserFromGroup"} {
		for _, name := range []string{"ghosts", "not a name"} {
			if a := rg.fails(action, in("Username", ada.ID, "GroupName", name), "ResourceNotFoundException"); a.message != "Group not found." {
				t.Errorf("%s %q: message %q", action, name, a.message)
			}
		}
	}
	if _, err := rg.pool.Group(t.Context(), "ghosts"); !errors.Is(err, pool.ErrGroupNotFound) {
		t.Errorf("a refused AdminAddUserToGroup made the group: %v", err)
	}
	// An unknown user is still UserNotFoundException, before the group.
	rg.fails("AdminAddUserToGroup", in("Username", "nobody@example.com", "GroupName", "ghosts"), "UserNotFoundException")

	rg.ok("CreateGroup", in("GroupName", "staff"))
	rg.ok("AdminAddUserToGroup", in("Username", ada.ID, "GroupName", "staff"))
	if u, err := rg.pool.User(t.Context(), ada.ID); err != nil || !slices.Equal(u.Groups, []string{"staff"}) {
		t.Errorf("after AdminAddUserToGroup: %+v, %v", u, err)
	}
	rg.ok("AdminRemoveUserFromGroup", in("Username", ada.ID, "GroupName", "staff"))
	if u, err := rg.pool.User(t.Context(), ada.ID); err != nil || len(u.Groups) != 0 {
		t.Errorf("after AdminRemoveUserFromGroup: %+v, %v", u, err)
	}
}
