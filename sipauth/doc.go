// Package sipauth reads and writes the values of SIP's authentication
// headers: WWW-Authenticate and Proxy-Authenticate (challenges),
// Authorization and Proxy-Authorization (credentials), and
// Authentication-Info and Proxy-Authentication-Info. It knows the grammar
// they share (RFC 3261 section 25.1, RFC 7235 section 2.1: a scheme, then
// comma-separated name=value parameters whose values are tokens or quoted
// strings) and nothing of any one scheme; the schemes live in the
// sub-packages:
//
//   - ntlm: NTLM messages, NTLMv2, session keys and the connectionless
//     (datagram) sessions of both roles (MS-NLMP);
//   - sipae: MS-SIPAE, NTLM sign-in carried in gssapi-data and the
//     signature on every SIP message after it (MS-SIPAE, MS-SIP 3.1.4.2);
//   - digest: SIP digest with MD5 and SHA-256 (RFC 3261, RFC 7616, RFC 8760);
//   - accounts: user accounts from a CSV file or patterns, with the hash
//     each scheme stores instead of the password.
//
// The parser is tolerant of what real clients send (any case in names,
// spaces or none around "=" and ",", empty list items, quoted or unquoted
// values, an RFC 3261 Authentication-Info without a scheme) and strict
// against hostile input: a value longer than MaxLen, more than MaxParams
// parameters, an unterminated quoted string or a control character is
// refused with an error that says what and where.
//
// Scanner walks a value without allocating, for the per-message hot path
// (every signed request carries an Authorization header); Parse and
// ParseList build a Field for everything else.
package sipauth
