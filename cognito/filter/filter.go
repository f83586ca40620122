// Package filter reads the Filter of Cognito's ListUsers:
//
//	AttributeName Filter-Type "AttributeValue"
//
// with Filter-Type "=" (exact) or "^=" (starts with), spaces around it
// optional, the value in double quotes, a quote or backslash inside it
// escaped with a backslash (`family_name = "O\"Brien"`), at most 256
// characters in all. An empty filter lists every user. Only Cognito's
// searchable attributes are taken (custom attributes are not searchable in
// Cognito either):
//
//	username            the user's Cognito username: the id (in a Cognito
//	                    pool that signs in by email the username is the sub
//	                    too), <provider>_<subject> for a federated user
//	sub                 the user's id
//	email               compared lower-cased, as the pool stores addresses
//	name, given_name, family_name, preferred_username, phone_number
//	cognito:user_status CONFIRMED, UNCONFIRMED, ... (case-insensitive)
//	status              Enabled or Disabled (case-sensitive)
//
// Parse turns a filter into the store's condition, which
// pool.ListUsersFiltered pages through. A filter Parse refuses is an
// *InvalidParameterError, Cognito's InvalidParameterException with its
// message.
package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/store"
)

// MaxLength is Cognito's limit on a filter, in characters.
const MaxLength = 256

// ParseErrorMessage is what Cognito answers a filter it cannot read.
const ParseErrorMessage = "Error while parsing filter."

// InvalidParameterError is a filter Cognito would refuse: its Error is the
// message for Cognito's InvalidParameterException; Reason says why, for
// logs and tests.
type InvalidParameterError struct {
	Message string
	Reason  string
}

func (e *InvalidParameterError) Error() string { return e.Message }

func parseError(reason string) error {
	return &InvalidParameterError{Message: ParseErrorMessage, Reason: reason}
}

// Filter is one parsed condition, as the caller wrote it.
type Filter struct {
	// Attribute is Cognito's attribute name ("email").
	Attribute string
	// Value is the unquoted, unescaped value.
	Value string
	// Prefix is true for ^= (starts with), false for = (exact).
	Prefix bool
}

// Parse reads a ListUsers filter and returns the store's condition for it:
// nil for an empty filter (every user).
func Parse(s string) (*store.UserFilter, error) {
	f, err := ParseFilter(s)
	if err != nil || f == nil {
		return nil, err
	}
	return f.Store(), nil
}

// ParseFilter reads a ListUsers filter as written; nil for an empty one.
func ParseFilter(s string) (*Filter, error) {
	if !utf8.ValidString(s) {
		return nil, parseError("not UTF-8")
	}
	if utf8.RuneCountInString(s) > MaxLength {
		return nil, &InvalidParameterError{
			Message: "1 validation error detected: Value at 'filter' failed to satisfy constraint: " +
				"Member must have length less than or equal to 256",
			Reason: "too long",
		}
	}
	rest := strings.TrimLeft(s, blanks)
	if rest == "" {
		return nil, nil
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return !isNameRune(r) })
	if end == 0 {
		return nil, parseError("no attribute name")
	}
	if end < 0 {
		return nil, parseError("no operator")
	}
	f := &Filter{Attribute: rest[:end]}
	rest = strings.TrimLeft(rest[end:], blanks)
	switch {
	case strings.HasPrefix(rest, "^="):
		f.Prefix, rest = true, rest[2:]
	case strings.HasPrefix(rest, "="):
		rest = rest[1:]
	default:
		return nil, parseError("no operator")
	}
	rest = strings.TrimLeft(rest, blanks)
	value, rest, err := quoted(rest)
	if err != nil {
		return nil, err
	}
	if strings.TrimLeft(rest, blanks) != "" {
		return nil, parseError("text after the value")
	}
	f.Value = value
	if !searchable[f.Attribute] {
		return nil, parseError("attribute " + f.Attribute + " is not searchable")
	}
	return f, nil
}

// blanks may surround the parts of a filter.
const blanks = " \t"

// String writes f back in the filter syntax, quoting and escaping the
// value, so that ParseFilter(f.String()) gives f again.
func (f *Filter) String() string {
	op := " = "
	if f.Prefix {
		op = " ^= "
	}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(f.Value)
	return f.Attribute + op + `"` + esc + `"`
}

// isNameRune: attribute names are letters, digits, '_' and ':'
// (cognito:user_status).
func isNameRune(r rune) bool {
	return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// quoted reads a double-quoted value at the start of s, undoing \" and
// \\; any other escape is refused rather than guessed.
func quoted(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", parseError("value not in double quotes")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", "", parseError(`a backslash escapes only " and \`)
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", parseError("unterminated value")
}

// searchable are the attributes Cognito lets ListUsers search.
var searchable = map[string]bool{
	"username": true, "sub": true, "email": true, "phone_number": true, "name": true,
	"given_name": true, "family_name": true, "preferred_username": true,
	"cognito:user_status": true, "status": true,
}

// Store is the store's condition for f.
func (f *Filter) Store() *store.UserFilter {
	uf := &store.UserFilter{Value: f.Value, Prefix: f.Prefix}
	switch f.Attribute {
	case "username":
		uf.Attribute = store.SearchUsername
	case "sub":
		uf.Attribute = store.SearchID
	case "email":
		uf.Attribute, uf.Value = store.SearchEmail, strings.ToLower(f.Value)
	case "name":
		uf.Attribute = store.SearchName
	case "cognito:user_status":
		uf.Attribute, uf.Value = store.SearchStatus, strings.ToUpper(f.Value)
	case "status":
		return enabledFilter(f.Value, f.Prefix)
	default:
		uf.Attribute = store.AttributeSearch(f.Attribute)
	}
	return uf
}

// enabledFilter matches Cognito's two status words, Enabled and Disabled,
// as the filter would: exactly or by prefix, case-sensitive. A value that
// neither word meets matches nobody; one both meet ("" as a prefix)
// matches everybody.
func enabledFilter(value string, prefix bool) *store.UserFilter {
	meets := func(word string) bool {
		if prefix {
			return strings.HasPrefix(word, value)
		}
		return word == value
	}
	enabled, disabled := meets("Enabled"), meets("Disabled")
	switch {
	case enabled && disabled:
		return nil
	case enabled:
		return &store.UserFilter{Attribute: store.SearchEnabled, Value: "true"}
	case disabled:
		return &store.UserFilter{Attribute: store.SearchEnabled, Value: "false"}
	}
	return &store.UserFilter{Attribute: store.SearchNone}
}
