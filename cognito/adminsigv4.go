package cognito

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

// SigV4 makes a SigV4 verifier the API's AdminVerifier. Its refusals are
// answered as Cognito's endpoint answers them (the status, x-amzn-ErrorType
// and {"__type", "message"} AWS gives, Retry-After when throttled), so
// that the SDKs raise what they would raise against AWS. clientIP names the
// caller for the verifier's audit of failures.
func SigV4(v *sigv4.Verifier, clientIP func(*http.Request) string) AdminVerifier {
	return sigv4Admin{v: v, clientIP: clientIP}
}

type sigv4Admin struct {
	v        *sigv4.Verifier
	clientIP func(*http.Request) string
}

func (s sigv4Admin) VerifyAdmin(r *http.Request, body []byte) (AdminCaller, error) {
	if s.clientIP != nil {
		r = r.WithContext(pool.WithClientIP(r.Context(), s.clientIP(r)))
	}
	p, err := s.v.Verify(r, body)
	if se, ok := errors.AsType[*sigv4.Error](err); ok {
		return AdminCaller{}, &apiError{Type: se.Type, Message: se.Message, status: se.Status, retryAfter: se.RetryAfter}
	}
	if err != nil {
		// The store did not answer: the server's failure, not the caller's.
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return AdminCaller{}, &apiError{Type: "InternalErrorException", Message: "Internal server error", status: status, cause: err}
	}
	return AdminCaller{AccessKeyID: p.AccessKeyID, ReadOnly: p.ReadOnly}, nil
}
