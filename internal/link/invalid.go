package link

import "errors"

// ErrInvalid marks input a caller can correct: a slug that is not one, a URL that is not an accepted
// page. Check it with errors.Is; the error's own text says what is wrong, in words a client can read.
var ErrInvalid = errors.New("invalid input")

// Invalid returns an error that is ErrInvalid and reads as reason alone.
func Invalid(reason string) error { return invalidError(reason) }

type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }
