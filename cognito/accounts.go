package cognito

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// attribute is Cognito's AttributeType.
type attribute struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// codeDelivery is Cognito's CodeDeliveryDetailsType.
type codeDelivery struct {
	AttributeName  string `json:"AttributeName"`
	DeliveryMedium string `json:"DeliveryMedium"`
	Destination    string `json:"Destination"`
}

// deliveryTo names where a code for the login went, from the login as
// given (normalized), never from a user record: the answer is the same
// whether or not the login has an account.
func deliveryTo(login string) *codeDelivery {
	if e, err := pool.NormalizeEmail(login); err == nil {
		login = e
	}
	return &codeDelivery{AttributeName: "email", DeliveryMedium: "EMAIL", Destination: maskLikeCognito(login)}
}

// maskLikeCognito masks an address as Cognito does: "a***@e***".
func maskLikeCognito(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return "***"
	}
	l, _ := utf8.DecodeRuneInString(email)
	d, _ := utf8.DecodeRuneInString(email[at+1:])
	return string(l) + "***@" + string(d) + "***"
}

type signUpRequest struct {
	ClientID       string            `json:"ClientId"`
	Username       string            `json:"Username"`
	Password       string            `json:"Password"`
	SecretHash     string            `json:"SecretHash"`
	UserAttributes []attribute       `json:"UserAttributes"`
	ValidationData []attribute       `json:"ValidationData"`
	ClientMetadata map[string]string `json:"ClientMetadata"`
}

type signUpResponse struct {
	UserConfirmed       bool          `json:"UserConfirmed"`
	UserSub             string        `json:"UserSub"`
	CodeDeliveryDetails *codeDelivery `json:"CodeDeliveryDetails,omitempty"`
}

// signUp is Cognito's SignUp in a pool whose username is the email
// address. As Cognito (even with prevent-user-existence errors on), an
// address with a confirmed account is UsernameExistsException; an
// unconfirmed one is replaced by this sign-up (the pool's rule).
func signUp(c *call) (any, error) {
	var req signUpRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	cl, err := c.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if req.Username == "" || req.Password == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter Username or Password")
	}
	if err := checkSecretHash(cl, req.SecretHash, req.Username); err != nil {
		return nil, err
	}
	sr := pool.SignUpRequest{Email: req.Username, Password: req.Password, Attributes: map[string]string{}}
	for _, a := range req.UserAttributes {
		switch a.Name {
		case "email":
			if !strings.EqualFold(strings.TrimSpace(a.Value), strings.TrimSpace(req.Username)) {
				return nil, errf("InvalidParameterException", "The email attribute must be the username in this user pool")
			}
		case "email_verified", "sub":
			return nil, errf("InvalidParameterException", "Attribute "+a.Name+" cannot be set")
		default:
			sr.Attributes[a.Name] = a.Value
		}
	}
	p := c.h.cfg.Pool
	ps, err := p.PrepareSignUp(c.ctx(), sr)
	if fe, ok := errors.AsType[pool.FieldErrors](err); ok && fe["email"] != "" {
		return nil, errf("InvalidParameterException", "Username should be an email.")
	}
	if err != nil {
		return nil, err
	}
	existing, err := p.UserByEmail(c.ctx(), ps.Email())
	switch {
	case err == nil && !(existing.Status == store.StatusUnconfirmed && existing.Enabled):
		return nil, errf("UsernameExistsException", "User already exists")
	case err != nil && !errors.Is(err, pool.ErrUserNotFound):
		return nil, err
	}
	if err := p.CompleteSignUp(c.ctx(), ps); err != nil && !errors.Is(err, pool.ErrMailNotSent) {
		return nil, err
	} else if err != nil {
		c.h.log.Warn("sign-up code not mailed", zap.Error(err))
	}
	u, err := p.UserByEmail(c.ctx(), ps.Email())
	if err != nil {
		return nil, err
	}
	c.h.log.Info("sign-up", zap.String("client_id", cl.ID), zap.String("user_id", u.ID))
	out := signUpResponse{UserConfirmed: u.Status == store.StatusConfirmed, UserSub: u.ID}
	if !out.UserConfirmed {
		out.CodeDeliveryDetails = deliveryTo(ps.Email())
	}
	return out, nil
}

type codeRequest struct {
	ClientID         string            `json:"ClientId"`
	Username         string            `json:"Username"`
	SecretHash       string            `json:"SecretHash"`
	ConfirmationCode string            `json:"ConfirmationCode"`
	Password         string            `json:"Password"`
	ClientMetadata   map[string]string `json:"ClientMetadata"`
}

// readCodeRequest reads and checks what every code action sends.
func (c *call) readCodeRequest() (*codeRequest, error) {
	var req codeRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := c.throttled(); err != nil {
		return nil, err
	}
	cl, err := c.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if req.Username == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter Username")
	}
	if err := checkSecretHash(cl, req.SecretHash, req.Username); err != nil {
		return nil, err
	}
	return &req, nil
}

func confirmSignUp(c *call) (any, error) {
	req, err := c.readCodeRequest()
	if err != nil {
		return nil, err
	}
	if req.ConfirmationCode == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter ConfirmationCode")
	}
	if _, err := c.h.cfg.Pool.ConfirmSignUpCode(c.ctx(), req.Username, req.ConfirmationCode); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// mailLater answers at once and does the work after (pool.Later), so
// that neither the answer nor its timing says whether the login has an
// account.
func (c *call) mailLater(what string, job func(ctx context.Context, login string) error) (any, error) {
	if !c.h.cfg.Pool.CanMail() {
		return nil, pool.ErrMailUnavailable
	}
	req, err := c.readCodeRequest()
	if err != nil {
		return nil, err
	}
	login := req.Username
	if err := c.h.cfg.Pool.Later(c.ctx(), what, func(ctx context.Context) error { return job(ctx, login) }); err != nil {
		c.h.log.Warn(what+" not done", zap.Error(err))
	}
	return map[string]any{"CodeDeliveryDetails": deliveryTo(login)}, nil
}

func resendConfirmationCode(c *call) (any, error) {
	return c.mailLater("re-sending a confirmation code", func(ctx context.Context, login string) error {
		err := c.h.cfg.Pool.ResendConfirmation(ctx, login)
		if _, ok := errors.AsType[*pool.TooSoonError](err); ok {
			return nil
		}
		return err
	})
}

func forgotPassword(c *call) (any, error) {
	return c.mailLater("sending a password reset code", func(ctx context.Context, login string) error {
		return c.h.cfg.Pool.ForgotPassword(ctx, login)
	})
}

func confirmForgotPassword(c *call) (any, error) {
	req, err := c.readCodeRequest()
	if err != nil {
		return nil, err
	}
	if req.ConfirmationCode == "" || req.Password == "" {
		return nil, errf("InvalidParameterException", "Missing required parameter ConfirmationCode or Password")
	}
	if _, err := c.h.cfg.Pool.ResetPassword(c.ctx(), req.Username, req.ConfirmationCode, req.Password); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
