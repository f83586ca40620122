// Package usertype writes a pool's users and groups in the shapes of
// Cognito's user-pool API: UserType (ListUsers, ListUsersInGroup,
// AdminCreateUser), the AdminGetUser and GetUser responses, and GroupType.
// Field names and encodings are the AWS API reference's: dates in epoch
// seconds as JSON numbers with a fraction, attributes as [{Name, Value}]
// with every value a string (email_verified "true" or "false").
//
// It depends on store only, so the API's handlers (package cognito) and
// anything else may import it.
package usertype

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Attribute is Cognito's AttributeType.
type Attribute struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// MFAOption is Cognito's MFAOptionType. Cognito fills MFAOptions only for
// SMS, which Gatehouse does not offer, so it is always empty here; the
// type keeps the field's shape for callers that build one.
type MFAOption struct {
	DeliveryMedium string `json:"DeliveryMedium,omitempty"`
	AttributeName  string `json:"AttributeName,omitempty"`
}

// User is Cognito's UserType.
type User struct {
	Username             string      `json:"Username"`
	Attributes           []Attribute `json:"Attributes"`
	UserCreateDate       float64     `json:"UserCreateDate"`
	UserLastModifiedDate float64     `json:"UserLastModifiedDate"`
	Enabled              bool        `json:"Enabled"`
	UserStatus           string      `json:"UserStatus"`
	MFAOptions           []MFAOption `json:"MFAOptions,omitempty"`
}

// AdminGetUserResponse is the answer of Cognito's AdminGetUser.
type AdminGetUserResponse struct {
	Username             string      `json:"Username"`
	UserAttributes       []Attribute `json:"UserAttributes"`
	UserCreateDate       float64     `json:"UserCreateDate"`
	UserLastModifiedDate float64     `json:"UserLastModifiedDate"`
	Enabled              bool        `json:"Enabled"`
	UserStatus           string      `json:"UserStatus"`
	MFAOptions           []MFAOption `json:"MFAOptions,omitempty"`
	PreferredMfaSetting  string      `json:"PreferredMfaSetting,omitempty"`
	UserMFASettingList   []string    `json:"UserMFASettingList,omitempty"`
}

// GetUserResponse is the answer of Cognito's GetUser (the user's own
// view: no dates, status or Enabled).
type GetUserResponse struct {
	Username            string      `json:"Username"`
	UserAttributes      []Attribute `json:"UserAttributes"`
	MFAOptions          []MFAOption `json:"MFAOptions,omitempty"`
	PreferredMfaSetting string      `json:"PreferredMfaSetting,omitempty"`
	UserMFASettingList  []string    `json:"UserMFASettingList,omitempty"`
}

// Group is Cognito's GroupType. RoleArn is never set: Gatehouse has no
// IAM roles.
type Group struct {
	GroupName        string  `json:"GroupName"`
	UserPoolId       string  `json:"UserPoolId"`
	Description      string  `json:"Description,omitempty"`
	RoleArn          string  `json:"RoleArn,omitempty"`
	Precedence       *int    `json:"Precedence,omitempty"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	CreationDate     float64 `json:"CreationDate"`
}

// Cognito's names of second factors, in UserMFASettingList and
// PreferredMfaSetting.
const (
	MFASoftwareToken = "SOFTWARE_TOKEN_MFA"
	MFAEmailOTP      = "EMAIL_OTP"
	MFASMS           = "SMS_MFA"
)

// EpochSeconds is t as Cognito's API writes dates: seconds since the Unix
// epoch, to the millisecond.
func EpochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// Username is the user's Cognito username, the same as the tokens'
// cognito:username: the user's id (which is also the sub, as in a Cognito
// pool that signs in by email), or for a user made by a first sign-in at
// an outside provider, <provider>_<subject> of the primary identity.
func Username(u *store.User) string {
	if u.Status != store.StatusExternalProvider || len(u.Identities) == 0 {
		return u.ID
	}
	id := u.Identities[0]
	for _, i := range u.Identities {
		if i.Primary {
			id = i
			break
		}
	}
	return id.Provider + "_" + id.Subject
}

// Attributes are the user's attributes as Cognito lists them: sub, then
// email and email_verified, name when set, identities for a user linked
// to outside providers, then the other attributes by name.
func Attributes(u *store.User) []Attribute {
	attrs := []Attribute{{Name: "sub", Value: u.ID}}
	if u.Email != "" {
		verified := "false"
		if u.EmailVerified {
			verified = "true"
		}
		attrs = append(attrs, Attribute{Name: "email", Value: u.Email}, Attribute{Name: "email_verified", Value: verified})
	}
	if u.Name != "" {
		attrs = append(attrs, Attribute{Name: "name", Value: u.Name})
	}
	if len(u.Identities) > 0 {
		attrs = append(attrs, Attribute{Name: "identities", Value: identities(u)})
	}
	names := make([]string, 0, len(u.Attributes))
	for k := range u.Attributes {
		switch k {
		case "sub", "email", "email_verified", "name", "identities":
			continue // the record's own fields say these
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		attrs = append(attrs, Attribute{Name: k, Value: u.Attributes[k]})
	}
	return attrs
}

// identity is one entry of Cognito's identities attribute: a JSON array in
// a string, primary a boolean and dateCreated epoch milliseconds (the ID
// token's claim writes both as strings; the attribute does not).
type identity struct {
	UserID       string  `json:"userId"`
	ProviderName string  `json:"providerName"`
	ProviderType string  `json:"providerType"`
	Issuer       *string `json:"issuer"`
	Primary      bool    `json:"primary"`
	DateCreated  int64   `json:"dateCreated"`
}

func identities(u *store.User) string {
	out := make([]identity, len(u.Identities))
	for i, id := range u.Identities {
		out[i] = identity{UserID: id.Subject, ProviderName: id.Provider, ProviderType: id.ProviderType,
			Primary: id.Primary, DateCreated: id.CreatedAt.UnixMilli()}
		if id.Issuer != "" {
			issuer := id.Issuer
			out[i].Issuer = &issuer
		}
	}
	b, _ := json.Marshal(out) // strings, bools and numbers: cannot fail
	return string(b)
}

// Project keeps the attributes AttributesToGet names, in their order in
// attrs; a nil or empty names keeps them all, as Cognito does. A name the
// user has no value for is left out.
func Project(attrs []Attribute, names []string) []Attribute {
	if len(names) == 0 {
		return attrs
	}
	out := make([]Attribute, 0, len(names))
	for _, a := range attrs {
		if slices.Contains(names, a.Name) {
			out = append(out, a)
		}
	}
	return out
}

// MFASettingList names the user's confirmed second factors as Cognito's
// UserMFASettingList does; passkeys are a first factor in Cognito and are
// not listed. Nil for none, which leaves the field out.
func MFASettingList(factors []store.MFAFactor) []string {
	var totp, text, email bool
	for _, f := range factors {
		if !f.Confirmed {
			continue
		}
		switch f.Kind {
		case store.FactorTOTP:
			totp = true
		case store.FactorEmail:
			email = true
		case store.FactorSMS:
			text = true
		}
	}
	// In the order the sign-in machine prefers them: the first is the
	// PreferredMfaSetting.
	var list []string
	if totp {
		list = append(list, MFASoftwareToken)
	}
	if text {
		list = append(list, MFASMS)
	}
	if email {
		list = append(list, MFAEmailOTP)
	}
	return list
}

// FromUser is u as Cognito's UserType. UserStatus is the stored status:
// a disabled user keeps it, with Enabled false, as in Cognito.
func FromUser(u *store.User) User {
	return User{
		Username:             Username(u),
		Attributes:           Attributes(u),
		UserCreateDate:       EpochSeconds(u.CreatedAt),
		UserLastModifiedDate: EpochSeconds(u.UpdatedAt),
		Enabled:              u.Enabled,
		UserStatus:           u.Status,
	}
}

// AdminGetUser is AdminGetUser's answer for u, with its factors (the
// pool's Factors) and preferred second factor ("" for none, which leaves
// PreferredMfaSetting out).
func AdminGetUser(u *store.User, factors []store.MFAFactor, preferred string) AdminGetUserResponse {
	t := FromUser(u)
	return AdminGetUserResponse{
		Username:             t.Username,
		UserAttributes:       t.Attributes,
		UserCreateDate:       t.UserCreateDate,
		UserLastModifiedDate: t.UserLastModifiedDate,
		Enabled:              t.Enabled,
		UserStatus:           t.UserStatus,
		PreferredMfaSetting:  preferred,
		UserMFASettingList:   MFASettingList(factors),
	}
}

// GetUser is GetUser's answer for u, as AdminGetUser.
func GetUser(u *store.User, factors []store.MFAFactor, preferred string) GetUserResponse {
	return GetUserResponse{
		Username:            Username(u),
		UserAttributes:      Attributes(u),
		PreferredMfaSetting: preferred,
		UserMFASettingList:  MFASettingList(factors),
	}
}

// FromGroup is g as Cognito's GroupType of the pool poolID
// ("us-east-1_AbC123").
func FromGroup(g store.Group, poolID string) Group {
	return Group{
		GroupName:        g.Name,
		UserPoolId:       poolID,
		Description:      g.Description,
		Precedence:       g.Precedence,
		LastModifiedDate: EpochSeconds(g.UpdatedAt),
		CreationDate:     EpochSeconds(g.CreatedAt),
	}
}

// FromUsers is FromUser of each, for ListUsers and ListUsersInGroup,
// projected to attributesToGet (nil for all). Never nil: an empty page is
// "Users": [].
func FromUsers(us []*store.User, attributesToGet []string) []User {
	out := make([]User, len(us))
	for i, u := range us {
		out[i] = FromUser(u)
		out[i].Attributes = Project(out[i].Attributes, attributesToGet)
	}
	return out
}

// FromGroups is FromGroup of each; never nil.
func FromGroups(gs []store.Group, poolID string) []Group {
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = FromGroup(g, poolID)
	}
	return out
}
