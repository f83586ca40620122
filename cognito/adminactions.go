package cognito

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/usertype"
	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// The admin actions on users, their sign-in and the pool's description,
// in the request and response shapes of the AWS API reference. They run
// behind the SigV4 check (runAdmin); ReadOnly marks those a read-only key
// may call (sigv4.ReadOnlyAction's names: Get, List, Describe).
//
// Groups themselves (CreateGroup, ...), ListUsers and ListUsersInGroup
// are registered elsewhere.
func init() {
	for name, a := range map[string]AdminAction{
		"AdminCreateUser":             {Run: adminCreateUser},
		"AdminGetUser":                {ReadOnly: true, Run: adminGetUser},
		"AdminDeleteUser":             {Run: adminDeleteUser},
		"AdminDisableUser":            {Run: adminSetEnabled(false)},
		"AdminEnableUser":             {Run: adminSetEnabled(true)},
		"AdminSetUserPassword":        {Run: adminSetUserPassword},
		"AdminResetUserPassword":      {Run: adminResetUserPassword},
		"AdminUpdateUserAttributes":   {Run: adminUpdateUserAttributes},
		"AdminDeleteUserAttributes":   {Run: adminDeleteUserAttributes},
		"AdminConfirmSignUp":          {Run: adminConfirmSignUp},
		"AdminAddUserToGroup":         {Run: adminGroupMembership(true)},
		"AdminRemoveUserFromGroup":    {Run: adminGroupMembership(false)},
		"AdminListGroupsForUser":      {ReadOnly: true, Run: adminListGroupsForUser},
		"AdminUserGlobalSignOut":      {Run: adminUserGlobalSignOut},
		"AdminInitiateAuth":           {Run: adminInitiateAuth},
		"AdminRespondToAuthChallenge": {Run: adminRespondToAuthChallenge},
		"AdminSetUserMFAPreference":   {Run: adminSetUserMFAPreference},
		"DescribeUserPool":            {ReadOnly: true, Run: describeUserPool},
		"DescribeUserPoolClient":      {ReadOnly: true, Run: describeUserPoolClient},
		"ListUserPoolClients":         {ReadOnly: true, Run: listUserPoolClients},
	} {
		RegisterAdmin(name, a)
	}
}

// adminCall is an admin request as the package's actions take one. It
// has no ResponseWriter: admin actions spend no throttle budget (the
// signature is the caller's proof).
func adminCall(h *Handler, req AdminRequest) *call {
	action, _ := strings.CutPrefix(req.HTTP.Header.Get("X-Amz-Target"), TargetPrefix)
	return &call{h: h, r: req.HTTP, action: action, body: req.Body}
}

// userRef names a user of a pool, as every admin action on a user does.
type userRef struct {
	UserPoolID string `json:"UserPoolId"`
	Username   string `json:"Username"`
}

// poolID is the pool ref names (decodeInPool checks it).
func (r userRef) poolID() string { return r.UserPoolID }

// ref is the user a request names; every request type embedding a userRef
// has it, for decodeUser.
func (r userRef) ref() userRef { return r }

// decodeUser reads the request into in, as Decode does, and finds the user
// it names in the pool (h.user): how every action on one user begins.
func (h *Handler) decodeUser(req AdminRequest, in interface{ ref() userRef }) (*store.User, error) {
	if err := req.Decode(in); err != nil {
		return nil, err
	}
	return h.user(req, in.ref())
}

var errNoUser = errf("UserNotFoundException", "User does not exist.")

// user finds the user ref names: by email address, or by the username
// the API reports (the id, the tokens' sub). Admin calls are signed, so
// an unknown user is said to be one (UserNotFoundException), as Cognito
// says it to admin calls.
func (h *Handler) user(req AdminRequest, ref userRef) (*store.User, error) {
	if err := h.checkPool(ref.UserPoolID); err != nil {
		return nil, err
	}
	if ref.Username == "" {
		return nil, notNull("username")
	}
	var u *store.User
	var err error
	if strings.Contains(ref.Username, "@") {
		u, err = h.cfg.Pool.UserByEmail(req.HTTP.Context(), ref.Username)
	} else {
		u, err = h.cfg.Pool.User(req.HTTP.Context(), ref.Username)
		if errors.Is(err, pool.ErrUserNotFound) && strings.Contains(ref.Username, "_") {
			// A user an outside provider made is <provider>_<subject>.
			u, err = h.byUsername(req, ref.Username)
		}
		if errors.Is(err, pool.ErrUserNotFound) {
			// An alias, as Cognito's admin calls take them: a
			// username or a verified number (pool/aliases.go).
			u, err = h.cfg.Pool.UserByLogin(req.HTTP.Context(), ref.Username)
		}
	}
	if errors.Is(err, pool.ErrUserNotFound) || errors.Is(err, pool.ErrInvalidEmail) {
		return nil, errNoUser
	}
	if err != nil {
		return nil, err
	}
	req.about(u.ID)
	return u, nil
}

// byUsername finds the user whose Cognito username is name.
func (h *Handler) byUsername(req AdminRequest, name string) (*store.User, error) {
	us, _, err := h.cfg.Pool.ListUsersFiltered(req.HTTP.Context(),
		&store.UserFilter{Attribute: store.SearchUsername, Value: name}, 1, "")
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, pool.ErrUserNotFound
	}
	return us[0], nil
}

// adminErr words the pool's errors as Cognito answers admin calls; the
// rest go on to mapError.
func adminErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pool.ErrUserNotFound):
		return errNoUser
	case errors.Is(err, pool.ErrUserExists):
		return errf("UsernameExistsException", "An account with the given email already exists.")
	case errors.Is(err, pool.ErrInvalidEmail):
		return errf("InvalidParameterException", "Invalid email address format.")
	case errors.Is(err, pool.ErrInvalidGroup):
		return errf("InvalidParameterException", pool.ErrInvalidGroup.Error())
	case errors.Is(err, pool.ErrNoPassword):
		return errf("InvalidParameterException", "The user signs in through an external provider and has no password")
	case errors.Is(err, pool.ErrInvalidPageLimit), errors.Is(err, pool.ErrInvalidPageToken):
		return errf("InvalidParameterException", err.Error())
	case errors.Is(err, pool.ErrNotInvited):
		return errf("UnsupportedUserStateException", "Resend not possible. The user's status is not FORCE_CHANGE_PASSWORD")
	}
	return err
}

// userTypeOf is u as Cognito's UserType.
func userTypeOf(u *store.User) usertype.User { return usertype.FromUser(u) }

type adminCreateUserRequest struct {
	userRef
	UserAttributes         []attribute       `json:"UserAttributes"`
	ValidationData         []attribute       `json:"ValidationData"`
	TemporaryPassword      string            `json:"TemporaryPassword"`
	ForceAliasCreation     bool              `json:"ForceAliasCreation"`
	MessageAction          string            `json:"MessageAction"`
	DesiredDeliveryMediums []string          `json:"DesiredDeliveryMediums"`
	ClientMetadata         map[string]string `json:"ClientMetadata"`
}

// adminCreateUser invites a user (FORCE_CHANGE_PASSWORD with a temporary
// password), mailing the invitation unless MessageAction is SUPPRESS;
// RESEND gives an invited user a new temporary password and mails it.
// The pool's username is the email address, so Username must be one.
func adminCreateUser(h *Handler, req AdminRequest) (any, error) {
	var in adminCreateUserRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	byMail, byText := len(in.DesiredDeliveryMediums) == 0, false
	for _, m := range in.DesiredDeliveryMediums {
		switch {
		case m == "EMAIL":
			byMail = true
		case m == "SMS" && h.cfg.Pool.CanText():
			byText = true
		case m == "SMS":
			return nil, errf("InvalidParameterException", "DesiredDeliveryMediums: this user pool sends no text messages")
		default:
			return nil, errf("InvalidParameterException", "DesiredDeliveryMediums: EMAIL or SMS")
		}
	}
	ctx := req.HTTP.Context()
	switch in.MessageAction {
	case "RESEND":
		u, err := h.user(req, in.userRef)
		if err != nil {
			return nil, err
		}
		if err := h.cfg.Pool.ResendInvitation(ctx, u.ID, in.TemporaryPassword, true); err != nil {
			return nil, adminErr(err)
		}
		u, err = h.cfg.Pool.User(ctx, u.ID)
		if err != nil {
			return nil, adminErr(err)
		}
		return map[string]any{"User": userTypeOf(u)}, nil
	case "", "SUPPRESS":
	default:
		return nil, errf("InvalidParameterException", "MessageAction must be RESEND or SUPPRESS")
	}
	if in.Username == "" {
		return nil, notNull("username")
	}
	if !strings.Contains(in.Username, "@") {
		return nil, errf("InvalidParameterException", "Username should be an email.")
	}
	inv := pool.Invitation{Email: in.Username, TemporaryPassword: in.TemporaryPassword,
		Send: in.MessageAction == "" && byMail, SendSMS: in.MessageAction == "" && byText,
		Attributes: map[string]string{}}
	phoneVerified := false
	specs := map[string]pool.AttributeSpec{}
	for _, a := range h.cfg.Pool.Accounts().Attributes {
		specs[a.Name] = a
	}
	for _, a := range in.UserAttributes {
		switch a.Name {
		case "email":
			if !strings.EqualFold(strings.TrimSpace(a.Value), strings.TrimSpace(in.Username)) {
				return nil, errf("InvalidParameterException", "The email attribute must be the Username in this user pool")
			}
		case "email_verified":
			v, err := strconv.ParseBool(a.Value)
			if err != nil {
				return nil, errf("InvalidParameterException", "email_verified must be true or false")
			}
			inv.EmailVerified = v
		case pool.AttrPhoneVerified:
			v, err := strconv.ParseBool(a.Value)
			if err != nil {
				return nil, errf("InvalidParameterException", "phone_number_verified must be true or false")
			}
			phoneVerified = v
		case "name":
			inv.Name = a.Value
		case "sub":
			return nil, errf("InvalidParameterException", "Cannot modify the non-mutable attribute sub")
		default:
			spec, ok := specs[a.Name]
			if !ok {
				return nil, errf("InvalidParameterException", "Attributes did not conform to the schema: "+clip(a.Name)+": Attribute does not exist in the schema.")
			}
			if msg := spec.Check(strings.TrimSpace(a.Value)); msg != "" {
				return nil, errf("InvalidParameterException", "Attributes did not conform to the schema: "+a.Name+": "+msg)
			}
			inv.Attributes[a.Name] = strings.TrimSpace(a.Value)
		}
	}
	if inv.SendSMS && inv.Attributes[pool.AttrPhone] == "" {
		return nil, errf("InvalidParameterException", "DesiredDeliveryMediums SMS: the user has no phone_number attribute")
	}
	u, _, err := h.cfg.Pool.InviteUser(ctx, inv)
	if u != nil {
		req.about(u.ID)
	}
	if err != nil {
		// A mail that failed leaves the user made, as Cognito's does.
		return nil, adminErr(err)
	}
	if phoneVerified {
		if u, err = h.cfg.Pool.UpdateAttributesByAdmin(ctx, u.ID, pool.AdminAttributes{PhoneVerified: &phoneVerified}); err != nil {
			return nil, adminErr(err)
		}
	}
	return map[string]any{"User": userTypeOf(u)}, nil
}

func adminGetUser(h *Handler, req AdminRequest) (any, error) {
	var in userRef
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	factors, err := h.cfg.Pool.Factors(req.HTTP.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := usertype.AdminGetUser(u, factors, "")
	if len(out.UserMFASettingList) > 0 {
		out.PreferredMfaSetting = out.UserMFASettingList[0]
	}
	return out, nil
}

// onUser is an admin action that reads a userRef and acts on its user.
func onUser(do func(h *Handler, req AdminRequest, u *store.User) error) func(*Handler, AdminRequest) (any, error) {
	return func(h *Handler, req AdminRequest) (any, error) {
		var in userRef
		u, err := h.decodeUser(req, &in)
		if err != nil {
			return nil, err
		}
		if err := do(h, req, u); err != nil {
			return nil, adminErr(err)
		}
		return struct{}{}, nil
	}
}

var adminDeleteUser = onUser(func(h *Handler, req AdminRequest, u *store.User) error {
	return h.cfg.Pool.DeleteUser(req.HTTP.Context(), u.ID)
})

// adminSetEnabled disables (ending every session, and with them the
// refresh tokens) or enables a user.
func adminSetEnabled(enabled bool) func(*Handler, AdminRequest) (any, error) {
	return onUser(func(h *Handler, req AdminRequest, u *store.User) error {
		return h.cfg.Pool.SetEnabled(req.HTTP.Context(), u.ID, enabled)
	})
}

var adminResetUserPassword = onUser(func(h *Handler, req AdminRequest, u *store.User) error {
	return h.cfg.Pool.RequirePasswordReset(req.HTTP.Context(), u.ID)
})

var adminUserGlobalSignOut = onUser(func(h *Handler, req AdminRequest, u *store.User) error {
	return h.cfg.Pool.SignOutEverywhere(req.HTTP.Context(), u.ID)
})

var adminConfirmSignUp = onUser(func(h *Handler, req AdminRequest, u *store.User) error {
	err := h.cfg.Pool.ConfirmByAdmin(req.HTTP.Context(), u.ID)
	if errors.Is(err, pool.ErrNotUnconfirmed) {
		return errf("NotAuthorizedException", "User cannot be confirmed. Current status is "+u.Status)
	}
	return err
})

type adminSetUserPasswordRequest struct {
	userRef
	Password  string `json:"Password"`
	Permanent bool   `json:"Permanent"`
}

// adminSetUserPassword sets a permanent password (the user CONFIRMED) or
// a temporary one (FORCE_CHANGE_PASSWORD); either ends every session.
func adminSetUserPassword(h *Handler, req AdminRequest) (any, error) {
	var in adminSetUserPasswordRequest
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	if in.Password == "" {
		return nil, notNull("password")
	}
	if in.Permanent {
		err = h.cfg.Pool.SetPassword(req.HTTP.Context(), u.ID, in.Password)
	} else {
		err = h.cfg.Pool.SetTemporaryPassword(req.HTTP.Context(), u.ID, in.Password)
	}
	if err != nil {
		return nil, adminErr(err)
	}
	return struct{}{}, nil
}

type adminAttributesRequest struct {
	userRef
	UserAttributes     []attribute       `json:"UserAttributes"`
	UserAttributeNames []string          `json:"UserAttributeNames"`
	ClientMetadata     map[string]string `json:"ClientMetadata"`
}

// adminUpdateUserAttributes sets attributes, the address and its
// verified mark included (an administrator's word needs no code).
func adminUpdateUserAttributes(h *Handler, req AdminRequest) (any, error) {
	var in adminAttributesRequest
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	if len(in.UserAttributes) == 0 {
		return nil, notNull("userAttributes")
	}
	a := pool.AdminAttributes{Values: map[string]string{}}
	for _, at := range in.UserAttributes {
		switch at.Name {
		case "sub":
			return nil, errf("InvalidParameterException", "Cannot modify the non-mutable attribute sub")
		case "email":
			a.Email = &at.Value
		case "email_verified":
			v, err := strconv.ParseBool(at.Value)
			if err != nil {
				return nil, errf("InvalidParameterException", "email_verified must be true or false")
			}
			a.EmailVerified = &v
		case pool.AttrPhoneVerified:
			v, err := strconv.ParseBool(at.Value)
			if err != nil {
				return nil, errf("InvalidParameterException", "phone_number_verified must be true or false")
			}
			a.PhoneVerified = &v
		default:
			a.Values[at.Name] = at.Value
		}
	}
	if _, err := h.cfg.Pool.UpdateAttributesByAdmin(req.HTTP.Context(), u.ID, a); err != nil {
		if errors.Is(err, pool.ErrUserExists) {
			return nil, errf("AliasExistsException", "An account with the given email already exists.")
		}
		return nil, adminErr(err)
	}
	return struct{}{}, nil
}

// adminDeleteUserAttributes removes optional attributes; the address, its
// mark and the sub stay.
func adminDeleteUserAttributes(h *Handler, req AdminRequest) (any, error) {
	var in adminAttributesRequest
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	if len(in.UserAttributeNames) == 0 {
		return nil, notNull("userAttributeNames")
	}
	values := map[string]string{}
	for _, n := range in.UserAttributeNames {
		switch n {
		case "sub", "email", "email_verified":
			return nil, errf("InvalidParameterException", "Cannot delete the attribute "+n+" in this user pool")
		}
		values[n] = ""
	}
	if _, err := h.cfg.Pool.UpdateAttributesByAdmin(req.HTTP.Context(), u.ID, pool.AdminAttributes{Values: values}); err != nil {
		return nil, adminErr(err)
	}
	return struct{}{}, nil
}

type adminGroupRequest struct {
	userRef
	GroupName string `json:"GroupName"`
}

func adminGroupMembership(add bool) func(*Handler, AdminRequest) (any, error) {
	return func(h *Handler, req AdminRequest) (any, error) {
		var in adminGroupRequest
		u, err := h.decodeUser(req, &in)
		if err != nil {
			return nil, err
		}
		if in.GroupName == "" {
			return nil, notNull("groupName")
		}
		// The pool's AddToGroup makes a group by use (the CLI and the
		// config rely on it); Cognito's API names only groups that exist.
		if _, err := h.cfg.Pool.Group(req.HTTP.Context(), in.GroupName); err != nil {
			return nil, groupErr(err, false)
		}
		if add {
			err = h.cfg.Pool.AddToGroup(req.HTTP.Context(), u.ID, in.GroupName)
		} else {
			err = h.cfg.Pool.RemoveFromGroup(req.HTTP.Context(), u.ID, in.GroupName)
		}
		if err != nil {
			return nil, adminErr(err)
		}
		return struct{}{}, nil
	}
}

type listGroupsForUserRequest struct {
	userRef
	Limit     int    `json:"Limit"`
	NextToken string `json:"NextToken"`
}

// adminListGroupsForUser pages through the user's groups by name (at most
// 60 a page, as Cognito), with their description and precedence.
func adminListGroupsForUser(h *Handler, req AdminRequest) (any, error) {
	var in listGroupsForUserRequest
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	if err := pageLimit(in.Limit); err != nil {
		return nil, err
	}
	gs, next, err := h.cfg.Pool.GroupsOfUser(req.HTTP.Context(), u.ID, in.Limit, in.NextToken)
	if err != nil {
		return nil, adminErr(err)
	}
	return listGroupsResponse{Groups: usertype.FromGroups(gs, h.cfg.PoolID), NextToken: next}, nil
}

type adminInitiateAuthRequest struct {
	poolRef
	ClientID       string            `json:"ClientId"`
	AuthFlow       string            `json:"AuthFlow"`
	AuthParameters map[string]string `json:"AuthParameters"`
	ClientMetadata map[string]string `json:"ClientMetadata"`
}

// adminInitiateAuth signs a user in with their password on a trusted
// server's word (ADMIN_USER_PASSWORD_AUTH, and its old name
// ADMIN_NO_SRP_AUTH), for clients that allow ALLOW_ADMIN_USER_PASSWORD_AUTH,
// or refreshes. The same machine as InitiateAuth decides: lockout, status,
// challenges.
func adminInitiateAuth(h *Handler, req AdminRequest) (any, error) {
	var in adminInitiateAuthRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	c := adminCall(h, req)
	cl, err := c.client(in.ClientID)
	if err != nil {
		return nil, err
	}
	p := in.AuthParameters
	switch in.AuthFlow {
	case "ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH":
		if !cl.AllowsAuthFlow(oidc.AuthFlowAdminUserPassword) {
			return nil, errf("InvalidParameterException", "Auth flow not enabled for this client")
		}
		if p["USERNAME"] == "" || p["PASSWORD"] == "" {
			return nil, errf("InvalidParameterException", "Missing required parameter USERNAME or PASSWORD")
		}
		if err := checkSecretHash(cl, p["SECRET_HASH"], p["USERNAME"]); err != nil {
			return nil, err
		}
		step, err := h.cfg.Pool.InitiatePasswordAuth(c.ctx(), pool.PasswordAuth{
			Username: p["USERNAME"], Password: p["PASSWORD"], Client: clientBinding(cl),
		})
		if err != nil {
			return nil, err
		}
		if step.Auth != nil {
			req.about(step.Auth.User.ID)
		} else if step.Challenge != nil && step.Challenge.User != nil {
			req.about(step.Challenge.User.ID)
		}
		return c.answerStep(cl, step)
	case "USER_AUTH":
		if !cl.AllowsAuthFlow(oidc.AuthFlowUserAuth) {
			return nil, errf("InvalidParameterException", "USER_AUTH flow not enabled for this client")
		}
		return c.userAuth(cl, p)
	case "CUSTOM_AUTH":
		if !cl.AllowsAuthFlow(oidc.AuthFlowCustom) {
			return nil, errf("InvalidParameterException", "CUSTOM_AUTH flow not enabled for this client")
		}
		return c.customAuth(cl, p)
	case "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN":
		if !cl.AllowsAuthFlow(oidc.AuthFlowRefreshToken) {
			return nil, errf("InvalidParameterException", "REFRESH_TOKEN_AUTH flow not enabled for this client")
		}
		return c.refresh(cl, p["REFRESH_TOKEN"], p["SECRET_HASH"], p["USERNAME"])
	}
	return nil, errf("InvalidParameterException", "Invalid AuthFlow: "+clip(in.AuthFlow))
}

type adminRespondRequest struct {
	respondRequest
	poolRef
}

func adminRespondToAuthChallenge(h *Handler, req AdminRequest) (any, error) {
	var in adminRespondRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	return adminCall(h, req).respond(in.respondRequest)
}

type adminMFAPreferenceRequest struct {
	userRef
	setMFAPreferenceRequest
}

// adminSetUserMFAPreference turns a user's factors on or off as
// SetUserMFAPreference does for the user themselves.
func adminSetUserMFAPreference(h *Handler, req AdminRequest) (any, error) {
	var in adminMFAPreferenceRequest
	u, err := h.decodeUser(req, &in)
	if err != nil {
		return nil, err
	}
	return adminCall(h, req).setMFAPreference(u, in.setMFAPreferenceRequest)
}

// describeUserPool tells what of Cognito's UserPoolType is true here: the
// id, name, password policy, MFA setting, that users sign in by email
// and that addresses are verified by mail.
func describeUserPool(h *Handler, req AdminRequest) (any, error) {
	var in struct {
		poolRef
	}
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	p := h.cfg.Pool
	pp := p.PasswordPolicy()
	acct := p.Accounts()
	mfa := map[string]string{pool.MFAOff: "OFF", pool.MFAOptional: "OPTIONAL", pool.MFARequired: "ON"}[p.MFA().Mode]
	if mfa == "" {
		mfa = "OPTIONAL"
	}
	schema := []map[string]any{
		{"Name": "sub", "AttributeDataType": "String", "Mutable": false, "Required": true},
		{"Name": "email", "AttributeDataType": "String", "Mutable": true, "Required": true},
		{"Name": "email_verified", "AttributeDataType": "Boolean", "Mutable": true, "Required": false},
	}
	for _, a := range acct.Attributes {
		typ := "String"
		if a.Type == "number" {
			typ = "Number"
		}
		schema = append(schema, map[string]any{"Name": a.Name, "AttributeDataType": typ, "Mutable": !a.Immutable, "Required": a.Required})
	}
	up := map[string]any{
		"Id":   h.cfg.PoolID,
		"Name": p.Name(),
		"Policies": map[string]any{"PasswordPolicy": map[string]any{
			"MinimumLength":                 pp.MinimumLength(),
			"RequireUppercase":              pp.RequireUppercase,
			"RequireLowercase":              pp.RequireLowercase,
			"RequireNumbers":                pp.RequireDigit,
			"RequireSymbols":                pp.RequireSymbol,
			"TemporaryPasswordValidityDays": int(acct.TemporaryPasswordTTL.Hours()+23) / 24,
		}},
		"MfaConfiguration":   mfa,
		"UsernameAttributes": []string{"email"},
		"SchemaAttributes":   schema,
		"UserPoolTags":       map[string]string{},
	}
	if p.CanMail() {
		up["AutoVerifiedAttributes"] = []string{"email"}
	}
	return map[string]any{"UserPool": up}, nil
}

type clientRequest struct {
	poolRef
	ClientID string `json:"ClientId"`
}

// describeUserPoolClient tells a client's settings in Cognito's
// UserPoolClientType. The client secret is never given out: a stored
// client's exists only as a digest, and a Caddyfile client's is in the
// Caddyfile.
func describeUserPoolClient(h *Handler, req AdminRequest) (any, error) {
	var in clientRequest
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	cl, err := adminCall(h, req).client(in.ClientID)
	if err != nil {
		return nil, err
	}
	var flows []string
	for _, g := range cl.GrantTypes {
		switch g {
		case "authorization_code":
			flows = append(flows, "code")
		case "client_credentials":
			flows = append(flows, "client_credentials")
		}
	}
	out := map[string]any{
		"UserPoolId":                      h.cfg.PoolID,
		"ClientId":                        cl.ID,
		"ClientName":                      cl.Name,
		"ExplicitAuthFlows":               nonNil(cl.AuthFlows),
		"CallbackURLs":                    nonNil(cl.RedirectURIs),
		"LogoutURLs":                      nonNil(cl.PostLogoutRedirectURIs),
		"AllowedOAuthScopes":              nonNil(cl.Scopes),
		"AllowedOAuthFlows":               nonNil(flows),
		"AllowedOAuthFlowsUserPoolClient": len(flows) > 0,
		"SupportedIdentityProviders":      []string{"COGNITO"},
		"EnableTokenRevocation":           true,
		"PreventUserExistenceErrors":      "ENABLED",
		"AccessTokenValidity":             int64(cl.AccessTokenTTL / time.Minute),
		"IdTokenValidity":                 int64(cl.IDTokenTTL / time.Minute),
		"RefreshTokenValidity":            int64(cl.RefreshTokenTTL / time.Minute),
		"TokenValidityUnits": map[string]string{
			"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes",
		},
	}
	return map[string]any{"UserPoolClient": out}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listUserPoolClients pages through the clients by id (MaxResults at most
// 60, as Cognito); NextToken is the last id given, encoded.
func listUserPoolClients(h *Handler, req AdminRequest) (any, error) {
	var in struct {
		poolRef
		MaxResults int    `json:"MaxResults"`
		NextToken  string `json:"NextToken"`
	}
	if err := h.decodeInPool(req, &in); err != nil {
		return nil, err
	}
	limit := in.MaxResults
	if limit < 0 || limit > 60 {
		return nil, errf("InvalidParameterException", "MaxResults must be between 1 and 60")
	}
	if limit == 0 {
		limit = 60
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, errf("InvalidParameterException", "Invalid NextToken")
		}
		after = string(b)
	}
	c := adminCall(h, req)
	ids, err := h.cfg.Provider.ClientIDs(c.ctx())
	if err != nil {
		return nil, err
	}
	type desc struct {
		ClientID   string `json:"ClientId"`
		ClientName string `json:"ClientName"`
		UserPoolID string `json:"UserPoolId"`
	}
	out := struct {
		UserPoolClients []desc `json:"UserPoolClients"`
		NextToken       string `json:"NextToken,omitempty"`
	}{UserPoolClients: []desc{}}
	for _, id := range ids {
		if after != "" && id <= after {
			continue
		}
		if len(out.UserPoolClients) == limit {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(out.UserPoolClients[limit-1].ClientID))
			break
		}
		cl, err := h.cfg.Provider.Client(c.ctx(), id)
		if err != nil {
			continue // a stored client that does not validate is no client
		}
		out.UserPoolClients = append(out.UserPoolClients, desc{ClientID: cl.ID, ClientName: cl.Name, UserPoolID: h.cfg.PoolID})
	}
	return out, nil
}
