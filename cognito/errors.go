package cognito

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/oidc"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// apiError is an answer in AWS JSON 1.1's error shape: HTTP 400 (500 for
// InternalErrorException), x-amzn-ErrorType, and {"__type", "message"}.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
	status  int
	// retryAfter, when set, is answered as Retry-After (throttled calls).
	retryAfter time.Duration
	// cause is a server failure behind an internal error, for the log.
	cause error
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errf(typ, msg string) *apiError { return &apiError{Type: typ, Message: msg} }

// The answers that must read the same whoever asks (no enumeration).
var (
	errBadCredentials = errf("NotAuthorizedException", "Incorrect username or password.")
	errBadSession     = errf("NotAuthorizedException", "Invalid session for the user, session is expired.")
	errBadToken       = errf("NotAuthorizedException", "Invalid Access Token")
	errCodeMismatch   = errf("CodeMismatchException", "Invalid verification code provided, please try again.")
	errCodeExpired    = errf("ExpiredCodeException", "Invalid code provided, please request a code again.")
)

func writeError(w http.ResponseWriter, e *apiError) {
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("x-amzn-ErrorType", e.Type)
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	if e.Message != "" {
		h.Set("x-amzn-ErrorMessage", strings.ToValidUTF8(strings.ReplaceAll(e.Message, "\n", " "), ""))
	}
	b, _ := json.Marshal(e)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// internal logs err and answers InternalErrorException, saying nothing
// of it.
func (h *Handler) internal(c *call, err error) *apiError {
	h.log.Error("cognito API call failed", zap.String("action", c.action), zap.Error(err))
	return &apiError{Type: "InternalErrorException", Message: "Internal server error", status: http.StatusInternalServerError}
}

// mapError words the pool's errors as Cognito does; anything unknown is
// internal.
func (h *Handler) mapError(c *call, err error) *apiError {
	if te, ok := errors.AsType[*trigger.Error](err); ok {
		// UserLambdaValidationException "PreSignUp failed with error
		// ...", and Cognito's words for a hook that failed.
		h.log.Warn("cognito API: trigger refused or failed", zap.String("action", c.action),
			zap.String("trigger", string(te.Kind)), zap.Bool("denied", te.Denied), zap.String("reason", te.Reason))
		return errf(te.CognitoType(), te.Message())
	}
	if _, ok := errors.AsType[*pool.LockedOutError](err); ok {
		return errf("NotAuthorizedException", "Password attempts exceeded")
	}
	if pe, ok := errors.AsType[*pool.PasswordPolicyError](err); ok {
		return errf("InvalidPasswordException", "Password does not conform to policy: Password "+pe.Rule)
	}
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok {
		if fe[pool.AttrUsername] == pool.MsgUsernameTaken {
			// Cognito's answer to a preferred_username alias another
			// user has.
			return errf("AliasExistsException", "An account with the given preferred_username already exists.")
		}
		names := make([]string, 0, len(fe))
		for n := range fe {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, n := range names {
			if n == "password" {
				return errf("InvalidPasswordException", "Password does not conform to policy: "+fe[n])
			}
			parts = append(parts, n+": "+fe[n])
		}
		return errf("InvalidParameterException", "Attributes did not conform to the schema: "+strings.Join(parts, " "))
	}
	if _, ok := errors.AsType[*pool.TooSoonError](err); ok {
		return errf("LimitExceededException", "Attempt limit exceeded, please try after some time.")
	}
	switch {
	case errors.Is(err, pool.ErrInvalidCredentials):
		return errBadCredentials
	case errors.Is(err, pool.ErrPasswordMissing):
		return errf("InvalidParameterException", "Missing required parameter PASSWORD or SRP_A for the selected challenge")
	case errors.Is(err, pool.ErrFactorUnavailable):
		return errf("InvalidParameterException", "The selected challenge is not available for this user pool")
	case errors.Is(err, pool.ErrPasskeyRefused), errors.Is(err, pool.ErrPasskeyUnknown), errors.Is(err, pool.ErrPasskeyNotVerified):
		// One answer, whoever's passkey it was.
		return errf("NotAuthorizedException", "The passkey was not accepted.")
	case errors.Is(err, pool.ErrCustomAuthUnavailable):
		return errf("InvalidParameterException", "Custom auth lambda trigger is not configured for the user pool.")
	case errors.Is(err, pool.ErrCustomChallengeInvalid):
		return errf("InvalidLambdaResponseException", "Invalid lambda response for custom authentication.")
	case errors.Is(err, pool.ErrSRPUnavailable):
		return errf("InvalidParameterException", "USER_SRP_AUTH is not enabled for this user pool")
	case errors.Is(err, pool.ErrInvalidSRPA):
		return errf("InvalidParameterException", "SRP_A is invalid")
	case errors.Is(err, pool.ErrClockSkew):
		// Checked before the user is: it says nothing of the account.
		return errf("NotAuthorizedException", "The device's clock is too far from the server's; set it right and sign in again.")
	case errors.Is(err, pool.ErrUserDisabled):
		return errf("NotAuthorizedException", "User is disabled.")
	case errors.Is(err, pool.ErrUserNotConfirmed):
		return errf("UserNotConfirmedException", "User is not confirmed.")
	case errors.Is(err, pool.ErrPasswordResetRequired):
		return errf("PasswordResetRequiredException", "Password reset required for the user")
	case errors.Is(err, pool.ErrTemporaryPasswordExpired):
		return errf("NotAuthorizedException", "Temporary password has expired and must be reset by an administrator.")
	case errors.Is(err, pool.ErrChallengeExpired), errors.Is(err, pool.ErrNotSignedIn):
		return errBadSession
	case errors.Is(err, pool.ErrWrongCode):
		return errCodeMismatch
	case errors.Is(err, pool.ErrCodeExpired):
		return errCodeExpired
	case errors.Is(err, pool.ErrSignUpContested):
		// Not CodeMismatch or ExpiredCode: the code is right, and apps
		// answer those by asking for the code again or a new one, which
		// cannot help. NotAuthorized is in ConfirmSignUp's documented
		// errors and apps show its message.
		return errf("NotAuthorizedException", "This address was signed up more than once: confirm the sign-up on the sign-up page, with the code and the password chosen at sign-up.")
	case errors.Is(err, pool.ErrSignUpDisabled):
		return errf("NotAuthorizedException", "SignUp is not permitted for this user pool")
	case errors.Is(err, pool.ErrMailUnavailable):
		return errf("InvalidParameterException", "Cannot send a code: this user pool sends no email")
	case errors.Is(err, pool.ErrMailNotSent), errors.Is(err, pool.ErrSMSNotSent):
		return errf("CodeDeliveryFailureException", "The code could not be delivered")
	case errors.Is(err, pool.ErrSMSUnavailable):
		return errf("InvalidParameterException", "Cannot send a code: this user pool sends no text messages")
	case errors.Is(err, pool.ErrNoPhone):
		return errf("InvalidParameterException", "User has no phone_number attribute")
	case errors.Is(err, pool.ErrPhoneNotVerified):
		return errf("InvalidParameterException", "User does not have a verified phone number")
	case errors.Is(err, pool.ErrMFAUnavailable):
		return errf("InvalidUserPoolConfigurationException", "Multi-factor authentication is not enabled for this user pool")
	case errors.Is(err, pool.ErrTooManyFactors):
		return errf("LimitExceededException", "The user has as many authenticators as allowed")
	case errors.Is(err, pool.ErrEmailTaken), errors.Is(err, pool.ErrUserExists):
		return errf("AliasExistsException", "An account with the given email already exists.")
	case errors.Is(err, pool.ErrUsernameTaken):
		return errf("AliasExistsException", "An account with the given preferred_username already exists.")
	case errors.Is(err, pool.ErrPhoneTaken):
		return errf("AliasExistsException", "An account with the given phone_number already exists.")
	case errors.Is(err, pool.ErrDeleteNotAllowed):
		return errf("NotAuthorizedException", "Users may not delete their account in this user pool")
	case errors.Is(err, pool.ErrUserNotFound):
		return errBadToken
	case errors.Is(err, oidc.ErrInvalidGrant):
		return errf("NotAuthorizedException", "Invalid Refresh Token")
	case errors.Is(err, oidc.ErrInvalidToken):
		return errBadToken
	}
	return h.internal(c, err)
}
