package pool

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AttributeSpec is one user attribute a pool asks for at sign-up and shows
// on the account page, besides the email address, which every pool has.
// Standard attributes are the OpenID Connect ones Cognito knows (name,
// given_name, phone_number, locale, ...), each with its own format; custom
// ones are named "custom:<name>" and typed by Type.
type AttributeSpec struct {
	Name string `json:"name"`
	// Required attributes must be given at sign-up and cannot be cleared.
	Required bool `json:"required,omitempty"`
	// Immutable attributes are set at sign-up or by an administrator and
	// cannot be changed on the account page.
	Immutable bool `json:"immutable,omitempty"`
	// Type of a custom attribute: "string" (the default), "number" (a whole
	// number) or "boolean" ("true" or "false"). Standard attributes have
	// theirs fixed.
	Type string `json:"type,omitempty"`
	// MinLength and MaxLength bound a string, in characters; MaxLength 0
	// means 256 (2048 for a standard attribute's own limit, where smaller).
	MinLength int `json:"min_length,omitempty"`
	MaxLength int `json:"max_length,omitempty"`
	// Min and Max bound a number.
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
	// username: the pool signs in with this attribute (preferred_username
	// with sign_in_with username), which then follows the username rule.
	username bool
}

// Attribute value formats.
const (
	formatText     = "text"
	formatURL      = "url"
	formatDate     = "date"
	formatPhone    = "phone"
	formatLocale   = "locale"
	formatZoneinfo = "zoneinfo"
	formatNumber   = "number"
	formatBoolean  = "boolean"
)

// standardAttributes maps each standard attribute to its format.
var standardAttributes = map[string]string{
	"name":               formatText,
	"given_name":         formatText,
	"family_name":        formatText,
	"middle_name":        formatText,
	"nickname":           formatText,
	"preferred_username": formatText,
	"profile":            formatURL,
	"picture":            formatURL,
	"website":            formatURL,
	"gender":             formatText,
	"birthdate":          formatDate,
	"zoneinfo":           formatZoneinfo,
	"locale":             formatLocale,
	"phone_number":       formatPhone,
	"address":            formatText,
}

// StandardAttributeNames lists the standard attributes a pool may ask for.
func StandardAttributeNames() []string {
	names := make([]string, 0, len(standardAttributes))
	for n := range standardAttributes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var customName = regexp.MustCompile(`^custom:[A-Za-z0-9_-]{1,20}$`)

const defaultAttrMax = 256

// Format is how the value is written: text, url, date, phone, locale,
// zoneinfo, number or boolean.
func (a AttributeSpec) Format() string {
	if f, ok := standardAttributes[a.Name]; ok {
		return f
	}
	switch a.Type {
	case "number":
		return formatNumber
	case "boolean":
		return formatBoolean
	}
	return formatText
}

// Label is how a form names the attribute: "Given name", "Tenant".
func (a AttributeSpec) Label() string {
	n := strings.TrimPrefix(a.Name, "custom:")
	switch a.Name {
	case "name":
		return "Full name"
	case "phone_number":
		return "Phone number"
	case "birthdate":
		return "Date of birth"
	case "zoneinfo":
		return "Time zone"
	case "locale":
		return "Language"
	case "preferred_username":
		return "Username"
	}
	n = strings.NewReplacer("_", " ", "-", " ").Replace(n)
	r, size := utf8.DecodeRuneInString(n)
	return string(unicode.ToUpper(r)) + n[size:]
}

// Hint says what a valid value looks like, for the form; "" when obvious.
func (a AttributeSpec) Hint() string {
	if a.username {
		return MsgUsernameFormat
	}
	switch a.Format() {
	case formatPhone:
		return "International format with country code, such as +14155550123."
	case formatDate:
		return "As YYYY-MM-DD."
	case formatURL:
		return "A web address starting with https:// or http://."
	case formatLocale:
		return "A language tag such as en or pt-BR."
	case formatZoneinfo:
		return "A time zone such as Europe/Paris."
	case formatNumber:
		switch {
		case a.Min != nil && a.Max != nil:
			return fmt.Sprintf("A whole number from %d to %d.", *a.Min, *a.Max)
		case a.Min != nil:
			return fmt.Sprintf("A whole number, at least %d.", *a.Min)
		case a.Max != nil:
			return fmt.Sprintf("A whole number, at most %d.", *a.Max)
		}
		return "A whole number."
	}
	return ""
}

func (a AttributeSpec) maxLength() int {
	if a.MaxLength > 0 {
		return a.MaxLength
	}
	return defaultAttrMax
}

// Validate checks the spec itself.
func (a AttributeSpec) Validate() error {
	_, standard := standardAttributes[a.Name]
	switch {
	case a.Name == "email":
		return fmt.Errorf("attribute email: every pool has it; it is not configured")
	case !standard && !customName.MatchString(a.Name):
		return fmt.Errorf("attribute %q: not a standard attribute (%s) nor custom:<1 to 20 letters, digits, '_' or '->", a.Name, strings.Join(StandardAttributeNames(), ", "))
	case standard && a.Type != "":
		return fmt.Errorf("attribute %s: a standard attribute's type is fixed", a.Name)
	}
	switch a.Type {
	case "", "string", "number", "boolean":
	default:
		return fmt.Errorf("attribute %s: type %q (want string, number or boolean)", a.Name, a.Type)
	}
	f := a.Format()
	if (a.Min != nil || a.Max != nil) && f != formatNumber {
		return fmt.Errorf("attribute %s: min and max are for type number", a.Name)
	}
	if (a.MinLength != 0 || a.MaxLength != 0) && (f == formatNumber || f == formatBoolean) {
		return fmt.Errorf("attribute %s: min_length and max_length are for text", a.Name)
	}
	if a.MinLength < 0 || a.MaxLength < 0 || a.MaxLength > 2048 || a.MinLength > a.maxLength() {
		return fmt.Errorf("attribute %s: lengths min_length %d, max_length %d are not sensible (0 <= min <= max <= 2048)", a.Name, a.MinLength, a.maxLength())
	}
	if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
		return fmt.Errorf("attribute %s: min %d is above max %d", a.Name, *a.Min, *a.Max)
	}
	return nil
}

// ValidateAttributes checks a pool's attribute list: each spec, and no name
// twice.
func ValidateAttributes(specs []AttributeSpec) error {
	seen := map[string]bool{}
	for _, a := range specs {
		if err := a.Validate(); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("attribute %s is listed twice", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

var (
	phoneRE    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	localeRE   = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
	zoneinfoRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$`)
)

// Check returns what is wrong with value for a person to read, or "" when
// it is fine. An empty value is fine unless the attribute is required.
func (a AttributeSpec) Check(value string) string {
	if !utf8.ValidString(value) {
		return "Must be valid text."
	}
	if value == "" {
		if a.Required {
			return "Required."
		}
		return ""
	}
	f := a.Format()
	for _, r := range value {
		if unicode.IsControl(r) && !(f == formatText && a.Name == "address" && r == '\n') {
			return "Must not contain control characters."
		}
	}
	switch f {
	case formatNumber:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return "Must be a whole number."
		}
		if a.Min != nil && n < *a.Min {
			return fmt.Sprintf("Must be at least %d.", *a.Min)
		}
		if a.Max != nil && n > *a.Max {
			return fmt.Sprintf("Must be at most %d.", *a.Max)
		}
		return ""
	case formatBoolean:
		if value != "true" && value != "false" {
			return "Must be true or false."
		}
		return ""
	}
	n := utf8.RuneCountInString(value)
	if strings.TrimSpace(value) == "" {
		return "Must not be only spaces."
	}
	if n > a.maxLength() {
		return fmt.Sprintf("Must be at most %d characters.", a.maxLength())
	}
	if n < a.MinLength {
		return fmt.Sprintf("Must be at least %d characters.", a.MinLength)
	}
	if a.username && !ValidUsername(value) {
		return MsgUsernameFormat
	}
	switch f {
	case formatPhone:
		if !phoneRE.MatchString(value) {
			return "Must be in international format, such as +14155550123."
		}
	case formatDate:
		if _, err := time.Parse("2006-01-02", value); err != nil {
			return "Must be a date written YYYY-MM-DD."
		}
	case formatURL:
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "Must be a web address starting with https:// or http://."
		}
	case formatLocale:
		if !localeRE.MatchString(value) {
			return "Must be a language tag such as en or pt-BR."
		}
	case formatZoneinfo:
		if !zoneinfoRE.MatchString(value) {
			return "Must be a time zone such as Europe/Paris."
		}
	}
	return ""
}
