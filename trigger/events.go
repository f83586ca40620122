package trigger

// The requests and responses of the lifecycle triggers, with Cognito's
// JSON names (a Cognito Lambda reads and writes exactly these). The
// triggers other packages own (user migration, the senders, the custom
// challenge trio) define theirs beside their use.

// Trigger sources: which operation called the trigger (Event.TriggerSource).
const (
	SourcePreSignUpSignUp           = "PreSignUp_SignUp"
	SourcePreSignUpAdminCreateUser  = "PreSignUp_AdminCreateUser"
	SourcePreSignUpExternalProvider = "PreSignUp_ExternalProvider"

	SourcePostConfirmationSignUp         = "PostConfirmation_ConfirmSignUp"
	SourcePostConfirmationForgotPassword = "PostConfirmation_ConfirmForgotPassword"

	SourcePreAuthentication  = "PreAuthentication_Authentication"
	SourcePostAuthentication = "PostAuthentication_Authentication"

	SourceTokenHostedAuth         = "TokenGeneration_HostedAuth"
	SourceTokenAuthentication     = "TokenGeneration_Authentication"
	SourceTokenNewPassword        = "TokenGeneration_NewPasswordChallenge"
	SourceTokenAuthenticateDevice = "TokenGeneration_AuthenticateDevice"
	SourceTokenRefresh            = "TokenGeneration_RefreshTokens"
	SourceTokenClientCredentials  = "TokenGeneration_ClientCredentials"

	SourceMessageSignUp              = "CustomMessage_SignUp"
	SourceMessageAdminCreateUser     = "CustomMessage_AdminCreateUser"
	SourceMessageResendCode          = "CustomMessage_ResendCode"
	SourceMessageForgotPassword      = "CustomMessage_ForgotPassword"
	SourceMessageUpdateUserAttribute = "CustomMessage_UpdateUserAttribute"
	SourceMessageVerifyUserAttribute = "CustomMessage_VerifyUserAttribute"
	SourceMessageAuthentication      = "CustomMessage_Authentication"
)

// PreSignUpRequest is the pre sign-up trigger's request.
type PreSignUpRequest struct {
	UserAttributes map[string]string `json:"userAttributes"`
	ValidationData map[string]string `json:"validationData"`
	ClientMetadata map[string]string `json:"clientMetadata,omitempty"`
}

// PreSignUpResponse is what pre sign-up may decide.
type PreSignUpResponse struct {
	AutoConfirmUser bool `json:"autoConfirmUser"`
	AutoVerifyEmail bool `json:"autoVerifyEmail"`
	AutoVerifyPhone bool `json:"autoVerifyPhone"`
}

// UserRequest is the request of post confirmation, pre authentication
// (with ValidationData) and post authentication (with NewDeviceUsed).
type UserRequest struct {
	UserAttributes map[string]string `json:"userAttributes"`
	ValidationData map[string]string `json:"validationData,omitempty"`
	NewDeviceUsed  *bool             `json:"newDeviceUsed,omitempty"`
	ClientMetadata map[string]string `json:"clientMetadata,omitempty"`
}

// EmptyResponse is the response of the triggers that only observe.
type EmptyResponse struct{}

// GroupConfiguration is the groups a token would carry (Cognito's IAM
// roles are named for shape; Gatehouse has none).
type GroupConfiguration struct {
	GroupsToOverride   []string `json:"groupsToOverride"`
	IAMRolesToOverride []string `json:"iamRolesToOverride"`
	PreferredRole      *string  `json:"preferredRole"`
}

// PreTokenGenerationRequest is pre token generation's request; Scopes is
// sent by event versions "2" and "3".
type PreTokenGenerationRequest struct {
	UserAttributes     map[string]string  `json:"userAttributes"`
	Scopes             []string           `json:"scopes,omitempty"`
	GroupConfiguration GroupConfiguration `json:"groupConfiguration"`
	ClientMetadata     map[string]string  `json:"clientMetadata,omitempty"`
}

// PreTokenGenerationResponse holds either version's answer: V1's
// claimsOverrideDetails (the ID token) or V2's claimsAndScopeOverrideDetails
// (the ID and access tokens, and scopes).
type PreTokenGenerationResponse struct {
	ClaimsOverrideDetails         *ClaimsOverrideDetails         `json:"claimsOverrideDetails"`
	ClaimsAndScopeOverrideDetails *ClaimsAndScopeOverrideDetails `json:"claimsAndScopeOverrideDetails"`
}

// ClaimsOverrideDetails is V1's answer.
type ClaimsOverrideDetails struct {
	ClaimsToAddOrOverride map[string]any      `json:"claimsToAddOrOverride"`
	ClaimsToSuppress      []string            `json:"claimsToSuppress"`
	GroupOverrideDetails  *GroupConfiguration `json:"groupOverrideDetails"`
}

// ClaimsAndScopeOverrideDetails is V2's answer.
type ClaimsAndScopeOverrideDetails struct {
	IDTokenGeneration     *TokenGeneration    `json:"idTokenGeneration"`
	AccessTokenGeneration *TokenGeneration    `json:"accessTokenGeneration"`
	GroupOverrideDetails  *GroupConfiguration `json:"groupOverrideDetails"`
}

// TokenGeneration is V2's change to one token; scopes only for the
// access token.
type TokenGeneration struct {
	ClaimsToAddOrOverride map[string]any `json:"claimsToAddOrOverride"`
	ClaimsToSuppress      []string       `json:"claimsToSuppress"`
	ScopesToAdd           []string       `json:"scopesToAdd,omitempty"`
	ScopesToSuppress      []string       `json:"scopesToSuppress,omitempty"`
}

// CustomMessageRequest is the custom message trigger's request: the
// placeholders the answer must keep, so that the pool puts the code (and
// the user name) in.
type CustomMessageRequest struct {
	UserAttributes    map[string]string `json:"userAttributes"`
	CodeParameter     string            `json:"codeParameter"`
	LinkParameter     string            `json:"linkParameter,omitempty"`
	UsernameParameter *string           `json:"usernameParameter"`
	ClientMetadata    map[string]string `json:"clientMetadata,omitempty"`
}

// CustomMessageResponse is the message the trigger wrote; an empty field
// keeps the pool's own.
type CustomMessageResponse struct {
	SMSMessage   *string `json:"smsMessage"`
	EmailMessage *string `json:"emailMessage"`
	EmailSubject *string `json:"emailSubject"`
}

// CodePlaceholder is what Cognito sends as codeParameter, and what a
// custom message must contain.
const CodePlaceholder = "{####}"

// UsernamePlaceholder is usernameParameter for the messages that carry a
// user name (AdminCreateUser).
const UsernamePlaceholder = "{username}"
