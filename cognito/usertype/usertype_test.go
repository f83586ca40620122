package usertype

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

var (
	created  = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	modified = time.Date(2024, 6, 2, 8, 30, 15, 500000000, time.UTC)
)

func ada() *store.User {
	return &store.User{
		ID: "6b1d5c1e-0000-4000-8000-000000000001", Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Lovelace", Status: store.StatusConfirmed, Enabled: true,
		Attributes: map[string]string{"given_name": "Ada", "custom:tenant": "acme", "phone_number": "+441234567890",
			"email": "shadow@evil.example", "sub": "shadow"},
		Groups:    []string{"admins"},
		CreatedAt: created, UpdatedAt: modified,
	}
}

func names(attrs []Attribute) []string {
	out := make([]string, len(attrs))
	for i, a := range attrs {
		out[i] = a.Name
	}
	return out
}

func value(attrs []Attribute, name string) (string, bool) {
	for _, a := range attrs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// TestUserTypeJSON holds the wire shape to the AWS API reference's field
// names and encodings.
func TestUserTypeJSON(t *testing.T) {
	t.Parallel()
	u := ada()
	u.Enabled = false
	u.Status = store.StatusForceChangePassword
	b, err := json.Marshal(FromUser(u))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Username":"6b1d5c1e-0000-4000-8000-000000000001","Attributes":[` +
		`{"Name":"sub","Value":"6b1d5c1e-0000-4000-8000-000000000001"},` +
		`{"Name":"email","Value":"ada@example.com"},{"Name":"email_verified","Value":"true"},` +
		`{"Name":"name","Value":"Ada Lovelace"},` +
		`{"Name":"custom:tenant","Value":"acme"},{"Name":"given_name","Value":"Ada"},` +
		`{"Name":"phone_number","Value":"+441234567890"}],` +
		`"UserCreateDate":1714564800.123,"UserLastModifiedDate":1717317015.5,` +
		`"Enabled":false,"UserStatus":"FORCE_CHANGE_PASSWORD"}`
	if string(b) != want {
		t.Errorf("UserType JSON:\n got %s\nwant %s", b, want)
	}
}

func TestAdminGetUser(t *testing.T) {
	t.Parallel()
	u := ada()
	u.EmailVerified = false
	factors := []store.MFAFactor{
		{Kind: store.FactorWebAuthn, Confirmed: true},
		{Kind: store.FactorEmail, Confirmed: true},
		{Kind: store.FactorTOTP, Confirmed: false},
	}
	r := AdminGetUser(u, factors, "")
	if v, _ := value(r.UserAttributes, "email_verified"); v != "false" {
		t.Errorf("email_verified = %q, want \"false\"", v)
	}
	if !slices.Equal(r.UserMFASettingList, []string{MFAEmailOTP}) {
		t.Errorf("UserMFASettingList = %q: an unconfirmed TOTP and a passkey are not second factors", r.UserMFASettingList)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Username", "UserAttributes", "UserCreateDate", "UserLastModifiedDate", "Enabled", "UserStatus", "UserMFASettingList"} {
		if _, ok := m[k]; !ok {
			t.Errorf("AdminGetUser JSON lacks %s: %s", k, b)
		}
	}
	for _, k := range []string{"PreferredMfaSetting", "MFAOptions", "Attributes"} {
		if _, ok := m[k]; ok {
			t.Errorf("AdminGetUser JSON has %s: %s", k, b)
		}
	}

	r = AdminGetUser(u, append(factors, store.MFAFactor{Kind: store.FactorTOTP, Confirmed: true}), MFASoftwareToken)
	if r.PreferredMfaSetting != MFASoftwareToken || !slices.Equal(r.UserMFASettingList, []string{MFASoftwareToken, MFAEmailOTP}) {
		t.Errorf("with TOTP: preferred %q, list %q", r.PreferredMfaSetting, r.UserMFASettingList)
	}
	if got := AdminGetUser(u, nil, ""); got.UserMFASettingList != nil {
		t.Errorf("no factors: UserMFASettingList = %q, want none", got.UserMFASettingList)
	}

	g := GetUser(u, factors, "EMAIL_OTP")
	b, _ = json.Marshal(g)
	m = nil
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"UserCreateDate", "Enabled", "UserStatus"} {
		if _, ok := m[k]; ok {
			t.Errorf("GetUser JSON has %s: %s", k, b)
		}
	}
	if m["PreferredMfaSetting"] != "EMAIL_OTP" || m["Username"] != u.ID {
		t.Errorf("GetUser JSON: %s", b)
	}
}

// TestStoredAttributesCannotShadow: an attribute map holding sub or email
// (a bug, or an import) never replaces the record's own.
func TestStoredAttributesCannotShadow(t *testing.T) {
	t.Parallel()
	attrs := Attributes(ada())
	seen := map[string]int{}
	for _, a := range attrs {
		seen[a.Name]++
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("attribute %s listed %d times", name, n)
		}
	}
	if v, _ := value(attrs, "sub"); v != ada().ID {
		t.Errorf("sub = %q", v)
	}
	if v, _ := value(attrs, "email"); v != "ada@example.com" {
		t.Errorf("email = %q", v)
	}
}

func TestFederatedUser(t *testing.T) {
	t.Parallel()
	u := ada()
	u.Status = store.StatusExternalProvider
	u.Name = ""
	u.Identities = []store.Identity{
		{Provider: "corp", ProviderType: "OIDC", Issuer: "https://corp.example", Subject: "abc", CreatedAt: created},
		{Provider: "Google", ProviderType: "Google", Subject: "1098", Primary: true, CreatedAt: modified},
	}
	if got := Username(u); got != "Google_1098" {
		t.Errorf("Username = %q, want the primary identity's Google_1098", got)
	}
	attrs := Attributes(u)
	if _, ok := value(attrs, "name"); ok {
		t.Error("an empty name is listed")
	}
	raw, ok := value(attrs, "identities")
	if !ok {
		t.Fatal("no identities attribute")
	}
	var ids []map[string]any
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		t.Fatalf("identities %q: %v", raw, err)
	}
	if len(ids) != 2 || ids[0]["userId"] != "abc" || ids[0]["issuer"] != "https://corp.example" ||
		ids[1]["issuer"] != nil || ids[1]["primary"] != true || ids[1]["dateCreated"] != float64(modified.UnixMilli()) {
		t.Errorf("identities = %s", raw)
	}
	// A native user keeps the id as username, identities or not.
	u.Status = store.StatusConfirmed
	if got := Username(u); got != u.ID {
		t.Errorf("native user's Username = %q, want the id", got)
	}
}

func TestProject(t *testing.T) {
	t.Parallel()
	attrs := Attributes(ada())
	if got := Project(attrs, nil); len(got) != len(attrs) {
		t.Errorf("no AttributesToGet: %d of %d attributes", len(got), len(attrs))
	}
	got := Project(attrs, []string{"given_name", "email", "custom:none"})
	if !slices.Equal(names(got), []string{"email", "given_name"}) {
		t.Errorf("Project = %q, want email, given_name in the user's order", names(got))
	}
	users := FromUsers([]*store.User{ada(), ada()}, []string{"sub"})
	if len(users) != 2 || !slices.Equal(names(users[1].Attributes), []string{"sub"}) {
		t.Errorf("FromUsers projected = %+v", users)
	}
	if b, _ := json.Marshal(FromUsers(nil, nil)); string(b) != "[]" {
		t.Errorf("no users: %s, want []", b)
	}
}

func TestGroupType(t *testing.T) {
	t.Parallel()
	p := 0
	b, err := json.Marshal(FromGroup(store.Group{Name: "admins", Description: "All", Precedence: &p,
		CreatedAt: created, UpdatedAt: modified}, "eu-west-1_AbC123"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"GroupName":"admins","UserPoolId":"eu-west-1_AbC123","Description":"All","Precedence":0,` +
		`"LastModifiedDate":1717317015.5,"CreationDate":1714564800.123}`
	if string(b) != want {
		t.Errorf("GroupType JSON:\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(FromGroups([]store.Group{{Name: "plain", CreatedAt: created, UpdatedAt: created}}, "p"))
	if string(b) != `[{"GroupName":"plain","UserPoolId":"p","LastModifiedDate":1714564800.123,"CreationDate":1714564800.123}]` {
		t.Errorf("group without description or precedence: %s", b)
	}
}
