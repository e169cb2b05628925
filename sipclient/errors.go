package sipclient

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	ErrNotSignedIn   = errors.New("sipclient: not signed in")
	ErrNoChannel     = errors.New("sipclient: no channel session")
	ErrClosed        = errors.New("sipclient: client closed")
	ErrSessionEnded  = errors.New("sipclient: the server ended the session")
	ErrUnexpected    = errors.New("sipclient: unexpected answer")
	ErrRejectedByAPI = errors.New("sipclient: refused")
	// ErrReplyTimeout: the command's INFO was answered but its XCCOS reply
	// did not come within the caller's deadline.
	ErrReplyTimeout = errors.New("no reply within the timeout")
)

// StatusError is a SIP request answered with a failure status.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sipclient: %s answered %d %s", e.Method, e.Code, e.Reason)
}

// ReplyError is an XCCOS reply whose resp code is not 200.
type ReplyError struct {
	Command string // "join" for cmd:join
	Code    int
	Text    string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("sipclient: cmd:%s refused with %d %s", e.Command, e.Code, e.Text)
}

// Violation is a server message that breaks a protocol rule.
type Violation struct {
	// Rule is the stable ID of the rule (package ruleid; see
	// docs/conformance.md).
	Rule string
	// Detail says what was wrong.
	Detail string
	// Msg is the offending message as received (may be empty).
	Msg []byte
}

func (v *Violation) Error() string {
	if len(v.Msg) == 0 {
		return fmt.Sprintf("violation of %s: %s", v.Rule, v.Detail)
	}
	return fmt.Sprintf("violation of %s: %s\n--- offending message ---\n%s", v.Rule, v.Detail, v.Msg)
}
