// Package sipae implements MS-SIPAE with NTLM: signing a user in to a SIP
// registrar with connectionless NTLM carried in the gssapi-data parameter
// of WWW-Authenticate / Authorization (or their Proxy- forms), and the
// signature on every SIP message after it, in both directions.
//
// The exchange (MS-SIPAE 4.1, and what the SIPE client was seen to do):
//
//  1. REGISTER without credentials → 401 with Server.Offer:
//     NTLM realm="SIP Communications Service", targetname="FQDN", version=3.
//  2. REGISTER with Client.Begin's value (gssapi-data="") → Server.Authorize
//     returns a challenge: 401 with NTLM opaque, gssapi-data (the NTLM
//     CHALLENGE in base64), targetname, realm, version.
//  3. REGISTER with Client.Continue's value (the same opaque, the NTLM
//     AUTHENTICATE; from version 4 also signed) → Server.Authorize returns
//     the ServerSA; the client holds the ClientSA.
//  4. Every later message carries a signature: the client's requests and
//     responses an Authorization value from ClientSA.Sign (crand, cnum,
//     response), checked by Server.Authorize; the server's an
//     Authentication-Info value from ServerSA.Sign (srand, snum, rspauth),
//     checked by ClientSA.Verify. Provisional responses are not signed.
//
// The signature is NTLM's MAC (sequence number 100) over a string built
// from the message's fields (AppendSigned, Fields.SetMessage), so the
// fields must be taken from the message byte for byte. Numbers (cnum,
// snum) count up from 1 per association; a receiver refuses a number it
// has seen or one more than ReplayWindow behind the highest.
//
// Associations expire: the server's after ServerConfig.Lifetime
// (Authorize then answers ErrExpired, and the client must sign in again);
// the client renews at ClientSA.RenewAt, RenewBefore ahead of the
// lifetime it assumes (MS-SIPAE 3.2.2; NTLM announces none, so
// DefaultLifetime, eight hours, as in SIPE).
package sipae
