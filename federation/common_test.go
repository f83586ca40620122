package federation

import (
	"maps"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseCommon reads a block of common options as a kind's
// UnmarshalCaddyfile would.
func parseCommon(t *testing.T, input string) (*Common, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(input)
	c := &Common{}
	d.Next() // the kind
	for d.NextBlock(0) {
		ok, err := c.ParseOption(d)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, d.Errf("unrecognized option %q", d.Val())
		}
	}
	return c, nil
}

func TestCommonOptions(t *testing.T) {
	t.Parallel()
	c, err := parseCommon(t, `oidc {
		display_name "Acme SSO"
		domains acme.com @Acme.IO acme.com
		create_users off
		link_by_email
		attribute custom:dept department
		attribute picture
	}`)
	if err != nil {
		t.Fatal(err)
	}
	info := c.Info("acme", "oidc", "OIDC", "")
	if info.DisplayName != "Acme SSO" || info.CreateUsers || !info.LinkByEmail || info.Name != "acme" || info.Type != "OIDC" {
		t.Errorf("Info = %+v", info)
	}
	if !slices.Equal(info.Domains, []string{"acme.com", "acme.io"}) {
		t.Errorf("Domains = %v, want lower-case, without @, once each", info.Domains)
	}
	m := c.Mapping(map[string]string{"name": "name", "picture": "picture"})
	want := Mapping{"name": "name", "custom:dept": "department"}
	if !maps.Equal(m, want) {
		t.Errorf("Mapping = %v, want %v (an attribute line without a claim removes a default)", m, want)
	}

	d, err := parseCommon(t, "google")
	if err != nil {
		t.Fatal(err)
	}
	if info := d.Info("g", "google", "Google", "Google"); !info.CreateUsers || info.LinkByEmail || info.DisplayName != "Google" {
		t.Errorf("defaults: Info = %+v, want users created, no linking by email, the kind's label", info)
	}
	if info := d.Info("corp", "oidc", "OIDC", ""); info.DisplayName != "corp" {
		t.Errorf("a provider without label or default shows %q, want its name", info.DisplayName)
	}
}

func TestCommonOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, input := range []string{
		"oidc {\n domains\n}",
		"oidc {\n domains not-a-domain\n}",
		"oidc {\n domains a@b.com\n}",
		"oidc {\n create_users\n}",
		"oidc {\n create_users maybe\n}",
		"oidc {\n link_by_email on off\n}",
		"oidc {\n display_name\n}",
		"oidc {\n attribute\n}",
		"oidc {\n attribute email mail\n}",
		"oidc {\n attribute sub oid\n}",
	} {
		if _, err := parseCommon(t, input); err == nil {
			t.Errorf("%q was accepted", input)
		}
	}
}

func TestMappingApply(t *testing.T) {
	t.Parallel()
	m := Mapping{"name": "name", "custom:groups": "groups", "custom:admin": "admin", "custom:age": "age", "custom:obj": "obj", "custom:none": "missing", "custom:empty": "empty"}
	got := m.Apply(map[string]any{
		"name":   "Ada Lovelace",
		"groups": []any{"eng", "", "ops"},
		"admin":  true,
		"age":    float64(36),
		"obj":    map[string]any{"a": "b"},
		"empty":  "",
	})
	want := map[string]string{"name": "Ada Lovelace", "custom:groups": "eng,ops", "custom:admin": "true", "custom:age": "36"}
	if !maps.Equal(got, want) {
		t.Errorf("Apply = %v, want %v", got, want)
	}
}
