package filter

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/store"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want *store.UserFilter
	}{
		{``, nil},
		{`   `, nil},
		{`family_name = "Reddy"`, &store.UserFilter{Attribute: "attr:family_name", Value: "Reddy"}},
		{`given_name ^= "Jon"`, &store.UserFilter{Attribute: "attr:given_name", Value: "Jon", Prefix: true}},
		{`email^="testuser"`, &store.UserFilter{Attribute: store.SearchEmail, Value: "testuser", Prefix: true}},
		{"\temail =\t\"Ada@Example.COM\" ", &store.UserFilter{Attribute: store.SearchEmail, Value: "ada@example.com"}},
		{`username = "3f1c-a"`, &store.UserFilter{Attribute: store.SearchUsername, Value: "3f1c-a"}},
		{`sub = "3f1c-a"`, &store.UserFilter{Attribute: store.SearchID, Value: "3f1c-a"}},
		{`name = "Ada \"the\" Countess"`, &store.UserFilter{Attribute: store.SearchName, Value: `Ada "the" Countess`}},
		{`name = "back\\slash"`, &store.UserFilter{Attribute: store.SearchName, Value: `back\slash`}},
		{`name = ""`, &store.UserFilter{Attribute: store.SearchName, Value: ""}},
		{`phone_number ^= "+4474"`, &store.UserFilter{Attribute: "attr:phone_number", Value: "+4474", Prefix: true}},
		{`preferred_username = "ada"`, &store.UserFilter{Attribute: "attr:preferred_username", Value: "ada"}},
		{`cognito:user_status = "force_change_password"`, &store.UserFilter{Attribute: store.SearchStatus, Value: "FORCE_CHANGE_PASSWORD"}},
		{`cognito:user_status ^= "Un"`, &store.UserFilter{Attribute: store.SearchStatus, Value: "UN", Prefix: true}},
		{`status = "Enabled"`, &store.UserFilter{Attribute: store.SearchEnabled, Value: "true"}},
		{`status = "Disabled"`, &store.UserFilter{Attribute: store.SearchEnabled, Value: "false"}},
		{`status ^= "Dis"`, &store.UserFilter{Attribute: store.SearchEnabled, Value: "false"}},
		{`status = "enabled"`, &store.UserFilter{Attribute: store.SearchNone}},
		{`status ^= "abled"`, &store.UserFilter{Attribute: store.SearchNone}},
		{`status ^= ""`, nil},
		{`name = "=^= \"x\""`, &store.UserFilter{Attribute: store.SearchName, Value: `=^= "x"`}},
		{`name = "Ünal 😀"`, &store.UserFilter{Attribute: store.SearchName, Value: "Ünal 😀"}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v (%s)", tc.in, err, reason(err))
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func reason(err error) string {
	var ipe *InvalidParameterError
	if errors.As(err, &ipe) {
		return ipe.Reason
	}
	return "not an InvalidParameterError"
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`foo`,
		`email`,
		`email "a"`,
		`email == "a"`,
		`email != "a"`,
		`email ~= "a"`,
		`email = a`,
		`email = 'a'`,
		`email = "a`,
		`email = "a\"`,
		`email = "a\n"`,
		`email = "a" and name = "b"`,
		`email = "a" "b"`,
		`= "a"`,
		`"email" = "a"`,
		`custom:tenant = "acme"`,
		`password_hash = "x"`,
		`attributes = "x"`,
		`Email = "a"`,
		`email_verified = "true"`,
		`email = "` + "\xff" + `"`,
		`email = "` + strings.Repeat("a", MaxLength) + `"`,
	} {
		f, err := Parse(in)
		var ipe *InvalidParameterError
		if !errors.As(err, &ipe) {
			t.Errorf("Parse(%q) = %+v, %v; want an InvalidParameterError", in, f, err)
			continue
		}
		if ipe.Message == "" || ipe.Error() != ipe.Message {
			t.Errorf("Parse(%q): message %q", in, ipe.Message)
		}
	}
	if _, err := Parse(`email = "a"  x`); err == nil || err.Error() != ParseErrorMessage {
		t.Errorf("Cognito's message: got %v, want %q", err, ParseErrorMessage)
	}
	// At the limit is fine; the limit counts characters, not bytes.
	at := `name = "` + strings.Repeat("é", MaxLength-len(`name = ""`)) + `"`
	if utf8.RuneCountInString(at) != MaxLength {
		t.Fatalf("test filter is %d characters", utf8.RuneCountInString(at))
	}
	if _, err := Parse(at); err != nil {
		t.Errorf("a filter of %d characters: %v", MaxLength, err)
	}
}

func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []Filter{
		{Attribute: "name", Value: `a "quoted" \ value`},
		{Attribute: "email", Value: "", Prefix: true},
		{Attribute: "cognito:user_status", Value: "CONFIRMED"},
	} {
		got, err := ParseFilter(f.String())
		if err != nil || *got != f {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", f.String(), got, err, f)
		}
	}
}

// FuzzFilter: whatever the input, Parse answers without panicking, with
// either an InvalidParameterError or a condition on an attribute the store
// knows; and what it accepts, written back, reads the same.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		``, `email = "a"`, `email^="a"`, `name = "a\"b\\c"`, `status = "Enabled"`,
		`cognito:user_status ^= "conf"`, `custom:x = "1"`, `email = "`, `\`, `"`, `^=`, "email = \"\xff\"",
	} {
		f.Add(s)
	}
	known := map[string]bool{store.SearchID: true, store.SearchUsername: true, store.SearchEmail: true, store.SearchName: true,
		store.SearchStatus: true, store.SearchEnabled: true, store.SearchNone: true,
		"attr:given_name": true, "attr:family_name": true, "attr:preferred_username": true, "attr:phone_number": true}
	f.Fuzz(func(t *testing.T, s string) {
		pf, err := ParseFilter(s)
		if err != nil {
			var ipe *InvalidParameterError
			if !errors.As(err, &ipe) || ipe.Message == "" {
				t.Fatalf("ParseFilter(%q) err = %v, want an InvalidParameterError", s, err)
			}
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxLength {
			t.Fatalf("ParseFilter(%q) accepted invalid or overlong input", s)
		}
		if pf == nil {
			if strings.Trim(s, blanks) != "" {
				t.Fatalf("ParseFilter(%q) = nil for a non-blank filter", s)
			}
			return
		}
		again, err := ParseFilter(pf.String())
		if err != nil || *again != *pf {
			t.Fatalf("round trip of %q: %q gives %+v, %v; want %+v", s, pf.String(), again, err, pf)
		}
		if uf := pf.Store(); uf != nil && !known[uf.Attribute] {
			t.Fatalf("ParseFilter(%q) searches %q", s, uf.Attribute)
		}
	})
}
