// Package xccos is the protocol vocabulary shared by the reference server
// and the simulated clients: the XCCOS envelope that travels in the body of
// SIP INFO requests, its four kinds of top-level element (cmd, rpl, ntc,
// grpchat), the data blocks they carry, builders that render them, and a
// parser that accepts what real clients and servers send.
//
// The wire format is described in docs/protocol.md. The parser is lenient
// where real peers differ (sibling replies, 7-digit fraction timestamps,
// extra namespace declarations, unknown elements) and strict where a
// mistake would be ambiguous (malformed XML, bytes that are not UTF-8 XML
// characters, a root that is not xccos, an
// envid that is not an unsigned 64-bit integer). Facts a conformance checker
// needs but the parser tolerates, such as the namespace and the version, are
// kept on the Envelope so the checker can judge them.
package xccos
