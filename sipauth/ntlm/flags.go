package ntlm

import (
	"fmt"
	"strings"
)

// Flags are the NTLM negotiate flags (MS-NLMP 2.2.2.5).
type Flags uint32

// The negotiate flags, named as in MS-NLMP without the NTLMSSP_ prefix.
const (
	NegotiateUnicode                 Flags = 0x00000001
	NegotiateOEM                     Flags = 0x00000002
	RequestTarget                    Flags = 0x00000004
	NegotiateSign                    Flags = 0x00000010
	NegotiateSeal                    Flags = 0x00000020
	NegotiateDatagram                Flags = 0x00000040
	NegotiateLMKey                   Flags = 0x00000080
	NegotiateNTLM                    Flags = 0x00000200
	NegotiateAnonymous               Flags = 0x00000800
	NegotiateOEMDomainSupplied       Flags = 0x00001000
	NegotiateOEMWorkstationSupplied  Flags = 0x00002000
	NegotiateAlwaysSign              Flags = 0x00008000
	TargetTypeDomain                 Flags = 0x00010000
	TargetTypeServer                 Flags = 0x00020000
	NegotiateExtendedSessionSecurity Flags = 0x00080000
	NegotiateIdentify                Flags = 0x00100000
	RequestNonNTSessionKey           Flags = 0x00400000
	NegotiateTargetInfo              Flags = 0x00800000
	NegotiateVersion                 Flags = 0x02000000
	Negotiate128                     Flags = 0x20000000
	NegotiateKeyExch                 Flags = 0x40000000
	Negotiate56                      Flags = 0x80000000
)

// DatagramFlags are the flags a server offers in its CHALLENGE for
// connectionless NTLM as MS-SIPAE uses it: Unicode strings, signing with
// extended session security, a datagram (per-message) sealing key, 128-bit
// keys and key exchange. They are what a real OCS/Lync front end offers
// less the sealing, OEM and LM-key bits no SIP client uses.
const DatagramFlags = NegotiateUnicode | RequestTarget | NegotiateSign | NegotiateDatagram |
	NegotiateNTLM | NegotiateAlwaysSign | TargetTypeServer | NegotiateExtendedSessionSecurity |
	NegotiateIdentify | NegotiateTargetInfo | NegotiateVersion | Negotiate128 | NegotiateKeyExch

// clientRequired are the flags a client needs in a CHALLENGE before it
// answers (the same minimum the SIPE client checks): NTLMv2 with extended
// session security, and the connectionless signing extras.
const clientRequired = NegotiateUnicode | NegotiateNTLM | NegotiateAlwaysSign |
	NegotiateExtendedSessionSecurity | NegotiateTargetInfo |
	NegotiateSign | NegotiateDatagram | NegotiateIdentify | NegotiateKeyExch

// clientSupported are the flags a client keeps from a CHALLENGE.
const clientSupported = clientRequired | RequestTarget | NegotiateVersion | Negotiate128 | Negotiate56

// serverRequired are the flags a server needs in an AUTHENTICATE: signing
// with extended session security, per-message keys (datagram) and NTLM.
const serverRequired = NegotiateSign | NegotiateDatagram | NegotiateNTLM | NegotiateExtendedSessionSecurity

var flagNames = []struct {
	f    Flags
	name string
}{
	{NegotiateUnicode, "UNICODE"}, {NegotiateOEM, "OEM"}, {RequestTarget, "REQUEST_TARGET"},
	{NegotiateSign, "SIGN"}, {NegotiateSeal, "SEAL"}, {NegotiateDatagram, "DATAGRAM"},
	{NegotiateLMKey, "LM_KEY"}, {NegotiateNTLM, "NTLM"}, {NegotiateAnonymous, "ANONYMOUS"},
	{NegotiateOEMDomainSupplied, "OEM_DOMAIN_SUPPLIED"}, {NegotiateOEMWorkstationSupplied, "OEM_WORKSTATION_SUPPLIED"},
	{NegotiateAlwaysSign, "ALWAYS_SIGN"}, {TargetTypeDomain, "TARGET_TYPE_DOMAIN"}, {TargetTypeServer, "TARGET_TYPE_SERVER"},
	{NegotiateExtendedSessionSecurity, "EXTENDED_SESSIONSECURITY"}, {NegotiateIdentify, "IDENTIFY"},
	{RequestNonNTSessionKey, "REQUEST_NON_NT_SESSION_KEY"}, {NegotiateTargetInfo, "TARGET_INFO"},
	{NegotiateVersion, "VERSION"}, {Negotiate128, "128"}, {NegotiateKeyExch, "KEY_EXCH"}, {Negotiate56, "56"},
}

// Has reports whether every flag of want is set.
func (f Flags) Has(want Flags) bool { return f&want == want }

// String lists the flags by their MS-NLMP names, joined with "|".
func (f Flags) String() string {
	var parts []string
	rest := f
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			rest &^= n.f
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%08X", uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}
