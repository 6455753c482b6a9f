package affiliate

import (
	"errors"
	"fmt"
)

var (
	// ErrNotPromotable means the platform answered but has no affiliate link (or product) for the source:
	// the page is not in the affiliate programme. Callers send the visitor on untagged.
	ErrNotPromotable = errors.New("aliexpress: not promotable")
	// ErrRateLimited means the call was refused for quota: the platform answered ApiCallLimit, or the
	// client's own limiter or a platform ban could not admit the call before the caller's deadline.
	ErrRateLimited = errors.New("aliexpress: rate limited")
	// ErrTransport matches every *TransportError with errors.Is.
	ErrTransport = errors.New("aliexpress: transport error")
	// ErrWouldWait means a call that may not wait (ProductDetail) was not sent: the client's rate
	// limit had no token free at once, or a platform ban was on. It matches ErrRateLimited too.
	ErrWouldWait = fmt.Errorf("aliexpress: call not sent, it would wait: %w", ErrRateLimited)
)

// PlatformError is an error the platform answered: an error_response (Code is its code, such as
// "IncompleteSignature", "InvalidAppKey", "MissingParameter" or "ApiCallLimit") or a resp_result
// whose resp_code is neither 200 nor 405 (Code is the number, such as "401"). It never holds the app
// secret or a request's sign.
type PlatformError struct {
	Code      string
	Msg       string
	RequestID string
}

// Error returns the code, the platform's message and the request id.
func (e *PlatformError) Error() string {
	return fmt.Sprintf("aliexpress: %s: %s (request_id %s)", e.Code, e.Msg, e.RequestID)
}

// Is reports whether target is ErrRateLimited and the code is ApiCallLimit.
func (e *PlatformError) Is(target error) bool {
	return target == ErrRateLimited && e.Code == codeRateLimit
}

// TransportError is a call that got no usable answer: the connection failed or timed out, the platform
// answered HTTP 5xx, or the body was not one of the platform's JSON shapes. Status is the HTTP status,
// 0 when none was received. It matches ErrTransport and unwraps to its cause (context.DeadlineExceeded
// when the caller's deadline passed).
type TransportError struct {
	Status int
	Err    error
}

// Error returns the status, if any, and the cause.
func (e *TransportError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("aliexpress: transport: HTTP %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("aliexpress: transport: %v", e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTransport.
func (e *TransportError) Is(target error) bool { return target == ErrTransport }
