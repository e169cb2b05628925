// Package sipnet is the SIP transport and transaction core shared by the
// reference server and the simulated clients. It is built for fan-out: one
// reader goroutine and one writer goroutine per TCP connection (one reader
// per UDP socket), writes batched per connection, no goroutine or timer per
// message, and a single timing wheel per endpoint for transaction timeouts
// and UDP retransmissions.
//
// Received messages are framed and scanned by a small header scanner that
// extracts what routes them (start line, Via branch, Call-ID, tags, CSeq,
// Content-Length) without building a full message; the full sipgo parse
// (github.com/emiago/sipgo/sip) is done lazily by Message.Parse when a
// handler needs every header. Requests are built either with sipgo's message
// model (sign-in and dialog setup) or, on the hot path, rendered straight
// into a connection's output buffer from a Dialog.
//
// Transactions follow RFC 3261 section 17 with the relaxations real group
// chat clients need: requests without a Via branch (as SIPE sends them
// in-dialog) are matched by Call-ID, From tag, CSeq and method, and dialogs
// are told apart by Call-ID and both tags.
//
// Connections accepted on listeners can be limited against hostile peers
// (Options.MaxConns, MaxConnsPerAddr, SignInTimeout, MessageTimeout and
// MaxMessageSize): over a cap a connection is reset at once, one that never
// signs in or leaves a message half-sent is closed, a message announcing a
// body over the limit is answered 413 before its body is read. Those log
// lines are rate-limited.
package sipnet
