// Package ntlm implements connectionless NTLM (MS-NLMP) as MS-SIPAE uses it
// to sign users in to a SIP registrar: the CHALLENGE and AUTHENTICATE
// messages (the NEGOTIATE message does not exist in connectionless mode),
// NTLMv2 responses, the session keys with extended session security and
// key exchange, and the message signature (MAC) with a per-message
// (datagram) sealing key.
//
// Both roles: a server makes a CHALLENGE with NewChallenge and verifies the
// AUTHENTICATE that answers it with Accept, against the NT hash of the
// account (NTHash; the password itself is never needed); a client answers
// a CHALLENGE with Respond. Both get a Session whose Sign and Verify sign
// with their own side's keys and check the peer's.
//
// Only NTLMv2 with extended session security is accepted or produced:
// NTLMv1 responses, anonymous sign-in and sessions without signing are
// refused with ErrUnsupported.
//
// Signing is allocation-free: each direction keeps its HMAC-MD5 state keyed
// once and the RC4 keystream for the last sequence number, which in
// datagram mode depends only on the sealing key and the sequence number
// (MS-SIPAE always uses 100).
package ntlm
