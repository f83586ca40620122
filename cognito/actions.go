package cognito

// actions are the public and user actions built, by X-Amz-Target name.
// An action not here (nor registered as an admin action) is
// UnknownOperationException.
var actions = map[string]func(*call) (any, error){
	"InitiateAuth":                     initiateAuth,
	"RespondToAuthChallenge":           respondToAuthChallenge,
	"SignUp":                           signUp,
	"ConfirmSignUp":                    confirmSignUp,
	"ResendConfirmationCode":           resendConfirmationCode,
	"ForgotPassword":                   forgotPassword,
	"ConfirmForgotPassword":            confirmForgotPassword,
	"GetUser":                          getUser,
	"GlobalSignOut":                    globalSignOut,
	"ChangePassword":                   changePassword,
	"DeleteUser":                       deleteUser,
	"UpdateUserAttributes":             updateUserAttributes,
	"GetUserAttributeVerificationCode": getUserAttributeVerificationCode,
	"VerifyUserAttribute":              verifyUserAttribute,
	"RevokeToken":                      revokeToken,
	"GetTokensFromRefreshToken":        getTokensFromRefreshToken,
	"AssociateSoftwareToken":           associateSoftwareToken,
	"VerifySoftwareToken":              verifySoftwareToken,
	"SetUserMFAPreference":             setUserMFAPreference,
	"StartWebAuthnRegistration":        startWebAuthnRegistration,
	"CompleteWebAuthnRegistration":     completeWebAuthnRegistration,
	"ListWebAuthnCredentials":          listWebAuthnCredentials,
	"DeleteWebAuthnCredential":         deleteWebAuthnCredential,
}
