package ntlm

import (
	"bytes"
	"crypto/rand"
	"crypto/rc4"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eqHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if !strings.EqualFold(hex.EncodeToString(got), strings.ReplaceAll(want, " ", "")) {
		t.Errorf("%s\n got %x\nwant %s", what, got, strings.ToLower(want))
	}
}

// The MS-NLMP section 4.2.4 NTLMv2 example: user "User", domain "Domain",
// password "Password", server challenge 0123456789abcdef, client challenge
// aa×8, time 0, random session key 55×16. The expected values are those of
// the specification as embedded in the SIPE client's test suite
// (github.com/tieto/sipe, src/core/sip-sec-ntlm-tests.c, "These tests are
// from the MS-SIPE document"), including the CHALLENGE and AUTHENTICATE
// messages it dumps in hex.
const (
	nlmpChallengeHex = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"
	nlmpAuthHex      = "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e"
)

func TestMSNLMPv2Example(t *testing.T) {
	serverChallenge := [8]byte(unhexT(t, "0123456789abcdef"))
	clientChallenge := [8]byte(bytes.Repeat([]byte{0xaa}, 8))
	randomSessionKey := [16]byte(bytes.Repeat([]byte{0x55}, 16))
	flags := Flags(0xE28A8233) // KEY_EXCH|56|128|VERSION|TARGET_INFO|ESS|TARGET_TYPE_SERVER|ALWAYS_SIGN|NTLM|SEAL|SIGN|OEM|UNICODE

	nt := NTHash("Password")
	eqHex(t, "NTOWFv1 (MD4 of UTF-16 \"Password\")", nt[:], "a4f49c406510bdcab6824ee7c30fd852")
	key := NTOWFv2(nt, "User", "Domain")
	eqHex(t, "NTOWFv2", key[:], "0c868a403bfd7a93a3001ef22ef02e3f")

	targetInfo := AppendTargetInfo(nil, StringAV(AvNbDomainName, "Domain"), StringAV(AvNbComputerName, "Server"))
	eqHex(t, "target info", targetInfo, "02000c0044006f006d00610069006e0001000c005300650072007600650072000000 0000")

	r := ComputeResponse(key, serverChallenge, clientChallenge, 0, targetInfo)
	eqHex(t, "LMv2 response", r.LM[:], "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
	eqHex(t, "NTProofStr", r.NTProofStr[:], "68cd0ab851e51c96aabc927bebef6a1c")
	eqHex(t, "NtChallengeResponse", r.NT, "68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000")
	eqHex(t, "SessionBaseKey", r.SessionBaseKey[:], "8de40ccadbc14a82f15cb0ad0de95ca3")

	enc := RC4K(r.SessionBaseKey[:], randomSessionKey[:])
	eqHex(t, "EncryptedRandomSessionKey", enc, "c5dad2544fc9799094ce1ce90bc9d03e")

	k := DeriveKeys(randomSessionKey, flags)
	eqHex(t, "client signing key", k.ClientSign[:], "4788dc861b4782f35d43fd98fe1a2d39")
	eqHex(t, "client sealing key", k.ClientSeal[:], "59f600973cc4960a25480a7c196e4c58")

	plaintext := appendUTF16(nil, "Plaintext")
	var c rc4State
	c.init(k.ClientSeal[:])
	sealed := make([]byte, len(plaintext))
	c.xor(sealed, plaintext)
	eqHex(t, "sealed \"Plaintext\"", sealed, "54e50165bf1936dc996020c1811b0f06fb5f")

	// MAC without key exchange (the checksum in clear), sequence 0.
	var s signer
	s.init(k.ClientSign, k.ClientSeal, flags&^NegotiateKeyExch)
	sig := s.sign(plaintext, 0)
	eqHex(t, "MAC without key exchange", sig[:], "0100000070352851f256430900000000")
	// MS-NLMP 4.2.4.4 (connection-oriented): the checksum is encrypted with
	// the same RC4 handle that sealed the message, continuing its stream.
	cs := sig[4:12]
	encCS := make([]byte, 8)
	c.xor(encCS, cs)
	eqHex(t, "GSS_WrapEx checksum (RC4 handle continued)", encCS, "7fb38ec5c55d4976")

	// The messages themselves, byte for byte.
	ch := &Challenge{Flags: flags, ServerChallenge: serverChallenge, TargetName: "Server", TargetInfo: targetInfo,
		Version: Version{Major: 6, Minor: 0, Build: 6000, Revision: 15}}
	eqHex(t, "CHALLENGE_MESSAGE", ch.Marshal(), nlmpChallengeHex)
	a := &Authenticate{Flags: 0xE2888235, LMResponse: r.LM[:], NTResponse: r.NT, Domain: "Domain", User: "User",
		Workstation: "COMPUTER", EncryptedRandomSessionKey: enc, Version: DefaultVersion}
	eqHex(t, "AUTHENTICATE_MESSAGE", a.Marshal(), nlmpAuthHex)

	pc, err := ParseChallenge(unhexT(t, nlmpChallengeHex))
	if err != nil {
		t.Fatal(err)
	}
	if pc.TargetName != "Server" || pc.Flags != flags || pc.ServerChallenge != serverChallenge || !bytes.Equal(pc.TargetInfo, targetInfo) || pc.Version.Build != 6000 {
		t.Errorf("ParseChallenge: %+v", pc)
	}
	pa, err := ParseAuthenticate(unhexT(t, nlmpAuthHex))
	if err != nil {
		t.Fatal(err)
	}
	if pa.User != "User" || pa.Domain != "Domain" || pa.Workstation != "COMPUTER" || !bytes.Equal(pa.NTResponse, r.NT) ||
		!bytes.Equal(pa.EncryptedRandomSessionKey, enc) || len(pa.MIC) != 0 || pa.Version != DefaultVersion {
		t.Errorf("ParseAuthenticate: %+v", pa)
	}
}

// A real exchange between Office Communicator 2007 R2 and Office
// Communications Server 2007 R2, from the SIPE client's test suite
// (github.com/tieto/sipe, src/core/sip-sec-ntlm-tests.c, "real Communicator
// 2007 R2 tests"): the server's CHALLENGE, the client's AUTHENTICATE, and
// the signatures of a signed REGISTER and of the server's 200 OK.
const (
	ocsChallengeHex   = "4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D1000000000000000096009600380000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C0000000000"
	ocsAuthHex        = "4E544C4D53535000030000001800180072000000C600C6008A0000000A000A00480000000800080052000000180018005A0000001000100050010000558298620502CE0E0000000F43004F0053004D004F00550073006500720043004F0053004D004F002D004F00430053002D0052003200A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0FDAA418DC0C800AE76ECA606D2B9FBEBD04731010100000000000059519A1727B9CA01D6AE875CB0FDAA410000000002000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C00000000000000000031CB739E1CA80A498591E8AE797115E4"
	ocsRequestSigned  = "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>"
	ocsRequestSig     = "0100000029618e9651b65a7764000000"
	ocsResponseSigned = "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>"
	ocsResponseSig    = "01000000E615438A917661BE64000000"
)

// ocsLookup is the account of the OCS exchange.
func ocsLookup(user, domain string) ([16]byte, bool) {
	if strings.EqualFold(user, "User") && strings.EqualFold(domain, "COSMO") {
		return NTHash("Pa$$word"), true
	}
	return [16]byte{}, false
}

func TestOCS2007R2Exchange(t *testing.T) {
	challenge := unhexT(t, ocsChallengeHex)
	c, err := ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flags != 0xE29882F3 || hex.EncodeToString(c.ServerChallenge[:]) != "dd1baaf4e7e218d1" || c.Version.String() != "5.2.3790 rev 15" {
		t.Fatalf("challenge: flags %v (%#x), server challenge %x, version %v", c.Flags, uint32(c.Flags), c.ServerChallenge, c.Version)
	}
	pairs, err := ParseTargetInfo(c.TargetInfo)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pairs {
		s, _ := decodeString(NegotiateUnicode, p.Value, "")
		names = append(names, s)
	}
	if got := strings.Join(names, ","); got != "COSMO,COSMO-OCS-R2,cosmo.local,cosmo-ocs-r2.cosmo.local,cosmo.local" {
		t.Errorf("target info names %s", got)
	}

	// The client side: the same inputs give the same AUTHENTICATE, byte for
	// byte. The random session key is the one the real client chose, which
	// the encrypted key in its message gives back under the key exchange key.
	auth := unhexT(t, ocsAuthHex)
	clientChallenge := unhexT(t, "D6AE875CB0FDAA41")
	ts := FromFiletime(0x01CAB927179A5159) // 59519A1727B9CA01 little endian: Mon Mar 01 2010
	key := NTOWFv2(NTHash("Pa$$word"), "User", "COSMO")
	r := ComputeResponse(key, c.ServerChallenge, [8]byte(clientChallenge), Filetime(ts), c.TargetInfo)
	exported := RC4K(r.SessionBaseKey[:], auth[len(auth)-16:])
	cfg := ClientConfig{User: "User", Domain: "COSMO", Password: "Pa$$word", Workstation: "COSMO-OCS-R2",
		Version: Version{Major: 5, Minor: 2, Build: 3790, Revision: 15}}
	got, client, err := Respond(cfg, challenge, bytes.NewReader(append(clientChallenge, exported...)), ts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, auth) {
		t.Fatalf("AUTHENTICATE differs from Communicator's\n got %X\nwant %X", got, auth)
	}
	if client.Flags != 0x62988255 {
		t.Errorf("negotiated flags %v", client.Flags)
	}

	// The server side accepts the real AUTHENTICATE.
	server, err := Accept(ServerConfig{}, c, auth, ocsLookup, ts)
	if err != nil {
		t.Fatal(err)
	}
	if server.User != "User" || server.Domain != "COSMO" || server.Workstation != "COSMO-OCS-R2" {
		t.Errorf("identity %q %q %q", server.User, server.Domain, server.Workstation)
	}

	// The signatures the real client and the real server made.
	reqSig, _ := ParseSignature(ocsRequestSig)
	respSig, _ := ParseSignature(ocsResponseSig)
	if s := client.Sign([]byte(ocsRequestSigned), 100); s != reqSig {
		t.Errorf("client signature %v, Communicator's %v", s, reqSig)
	}
	if err := server.Verify([]byte(ocsRequestSigned), reqSig); err != nil {
		t.Errorf("server rejects Communicator's signature: %v", err)
	}
	if s := server.Sign([]byte(ocsResponseSigned), 100); s != respSig {
		t.Errorf("server signature %v, OCS's %v", s, respSig)
	}
	if err := client.Verify([]byte(ocsResponseSigned), respSig); err != nil {
		t.Errorf("client rejects OCS's signature: %v", err)
	}
	// A signature only verifies in its own direction.
	if err := server.Verify([]byte(ocsResponseSigned), respSig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("server accepts its own signature as the client's: %v", err)
	}
}

func TestAcceptRefuses(t *testing.T) {
	c, err := ParseChallenge(unhexT(t, ocsChallengeHex))
	if err != nil {
		t.Fatal(err)
	}
	auth := unhexT(t, ocsAuthHex)
	ts := FromFiletime(0x01CAB927179A5159)
	wrongPassword := func(user, domain string) ([16]byte, bool) { return NTHash("Pa$$word2"), true }
	noAccount := func(string, string) ([16]byte, bool) { return [16]byte{}, false }

	tamperedProof := bytes.Clone(auth)
	tamperedProof[0x8A] ^= 1 // first byte of NTProofStr
	tamperedBlob := bytes.Clone(auth)
	tamperedBlob[0x8A+16+8] ^= 1 // the timestamp the proof covers
	otherChallenge := *c
	otherChallenge.ServerChallenge[0] ^= 1

	v1 := &Authenticate{Flags: serverRequired | NegotiateUnicode, User: "User", Domain: "COSMO", NTResponse: make([]byte, 24)}
	noSign := &Authenticate{Flags: NegotiateUnicode | NegotiateNTLM | NegotiateExtendedSessionSecurity, User: "User", NTResponse: make([]byte, 80)}

	tests := []struct {
		name   string
		c      *Challenge
		msg    []byte
		lookup Lookup
		cfg    ServerConfig
		want   error
		says   string
	}{
		{"wrong password", c, auth, wrongPassword, ServerConfig{}, ErrAuthFailed, "wrong password"},
		{"no such account", c, auth, noAccount, ServerConfig{}, ErrAuthFailed, `no account for user "User"`},
		{"tampered NTProofStr", c, tamperedProof, ocsLookup, ServerConfig{}, ErrAuthFailed, "does not verify"},
		{"tampered timestamp", c, tamperedBlob, ocsLookup, ServerConfig{}, ErrAuthFailed, "does not verify"},
		{"answer to another challenge", &otherChallenge, auth, ocsLookup, ServerConfig{}, ErrAuthFailed, "does not verify"},
		{"clock skew", c, auth, ocsLookup, ServerConfig{MaxClockSkew: time.Hour}, ErrAuthFailed, "clock"},
		{"NTLMv1", c, v1.Marshal(), ocsLookup, ServerConfig{}, ErrUnsupported, "NTLMv1"},
		{"no signing", c, noSign.Marshal(), ocsLookup, ServerConfig{}, ErrUnsupported, "lack SIGN|DATAGRAM"},
		{"a CHALLENGE instead", c, unhexT(t, ocsChallengeHex), ocsLookup, ServerConfig{}, ErrMalformed, "message type 2, want 3"},
		{"truncated", c, auth[:100], ocsLookup, ServerConfig{}, ErrMalformed, "beyond the 100-byte message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := ts
			if tt.cfg.MaxClockSkew > 0 {
				now = ts.Add(2 * time.Hour)
			}
			s, err := Accept(tt.cfg, tt.c, tt.msg, tt.lookup, now)
			if s != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Accept = %v, %v; want %v", s, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if strings.Contains(err.Error(), "Pa$$word") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	// Within the allowed skew the same message is accepted.
	if _, err := Accept(ServerConfig{MaxClockSkew: time.Hour}, c, auth, ocsLookup, ts.Add(30*time.Minute)); err != nil {
		t.Errorf("within the skew: %v", err)
	}
}

// roundTrip signs a client in to a server made with NewChallenge.
func roundTrip(t *testing.T, cfg ClientConfig, lookup Lookup) (*Session, *Session, error) {
	t.Helper()
	ch, err := NewChallenge(ServerConfig{NetBIOSDomain: "EXAMPLE", NetBIOSComputer: "GC", DNSDomain: "example.com",
		DNSComputer: "gc.example.com", DNSTree: "example.com"}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msg, client, err := Respond(cfg, ch.Marshal(), rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	server, err := Accept(ServerConfig{MaxClockSkew: time.Minute}, ch, msg, lookup, now)
	return client, server, err
}

func TestRoundTripUserNameForms(t *testing.T) {
	hash := NTHash("s3cret")
	// The accounts match names without regard to case, as a registrar must;
	// NTOWFv2 is computed over the name exactly as the client sent it.
	lookup := func(user, domain string) ([16]byte, bool) {
		switch strings.ToLower(user) {
		case "alice", "alice@example.com", "ålice":
			return hash, true
		}
		return [16]byte{}, false
	}
	for _, cfg := range []ClientConfig{
		{User: "alice", Domain: "EXAMPLE", Password: "s3cret"},
		{User: "ALICE", Domain: "example", Password: "s3cret"},
		{User: "alice@example.com", Password: "s3cret"}, // SIPE with no separate login: the UPN, empty domain
		{User: "ålice", Password: "s3cret", NoLMResponse: true},
	} {
		t.Run(cfg.User+"/"+cfg.Domain, func(t *testing.T) {
			client, server, err := roundTrip(t, cfg, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if server.User != cfg.User || server.Domain != cfg.Domain {
				t.Errorf("server sees %q %q", server.User, server.Domain)
			}
			msg := []byte("<NTLM><67e53af4><1><SIP Communications Service><gc.example.com><x><1><SUBSCRIBE><sip:alice@example.com><t><sip:alice@example.com><><><><0>")
			sig := client.Sign(msg, 100)
			if err := server.Verify(msg, sig); err != nil {
				t.Fatal(err)
			}
			back := server.Sign(msg, 100)
			if err := client.Verify(msg, back); err != nil {
				t.Fatal(err)
			}
			if back == sig {
				t.Error("both directions sign alike")
			}
			msg[10] ^= 1
			if err := server.Verify(msg, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("tampered message verifies: %v", err)
			}
			msg[10] ^= 1
			sig[5] ^= 1
			if err := server.Verify(msg, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("tampered signature verifies: %v", err)
			}
		})
	}
	if _, _, err := roundTrip(t, ClientConfig{User: "alice", Password: "wrong"}, lookup); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("wrong password: %v", err)
	}
	if _, _, err := roundTrip(t, ClientConfig{User: "mallory", Password: "s3cret"}, lookup); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("unknown user: %v", err)
	}
}

// SIPE upper-cases only ASCII letters; a server must accept that too.
func TestASCIIUppercaseClient(t *testing.T) {
	ch, err := NewChallenge(ServerConfig{NetBIOSComputer: "GC"}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "ålice", "pw"
	key := ntowfv2(NTHash(pass), asciiUpper(user), "") // "åLICE", not "ÅLICE"
	var cc [8]byte
	r := ComputeResponse(key, ch.ServerChallenge, cc, Filetime(time.Now()), ch.TargetInfo)
	a := &Authenticate{Flags: 0x62988255, NTResponse: r.NT, User: user, EncryptedRandomSessionKey: RC4K(r.SessionBaseKey[:], make([]byte, 16))}
	lookup := func(string, string) ([16]byte, bool) { return NTHash(pass), true }
	if _, err := Accept(ServerConfig{}, ch, a.Marshal(), lookup, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestRespondRefusesWeakServers(t *testing.T) {
	ch, _ := NewChallenge(ServerConfig{NetBIOSComputer: "GC", Flags: DatagramFlags &^ NegotiateExtendedSessionSecurity}, rand.Reader)
	if _, _, err := Respond(ClientConfig{User: "a", Password: "b"}, ch.Marshal(), rand.Reader, time.Now()); !errors.Is(err, ErrUnsupported) ||
		!strings.Contains(err.Error(), "EXTENDED_SESSIONSECURITY") {
		t.Fatalf("Respond to a server without ESS: %v", err)
	}
}

func TestRC4MatchesStandardLibrary(t *testing.T) {
	for n := 1; n <= 32; n++ {
		key := make([]byte, n)
		rand.Read(key)
		msg := make([]byte, 100)
		rand.Read(msg)
		want := make([]byte, len(msg))
		std, _ := rc4.NewCipher(key)
		std.XORKeyStream(want, msg)
		if got := RC4K(key, msg); !bytes.Equal(got, want) {
			t.Fatalf("key length %d: RC4K differs from crypto/rc4", n)
		}
	}
}

func TestSignatureHex(t *testing.T) {
	s, err := ParseSignature(ocsResponseSig)
	if err != nil {
		t.Fatal(err)
	}
	if s.SeqNum() != 100 || s.String() != strings.ToLower(ocsResponseSig) {
		t.Errorf("%v seq %d", s, s.SeqNum())
	}
	for _, bad := range []string{"", "0100", ocsResponseSig + "00", "0100000029618e9651b65a77640000zz"} {
		if _, err := ParseSignature(bad); !errors.Is(err, ErrBadSignature) {
			t.Errorf("ParseSignature(%q) = %v", bad, err)
		}
	}
	// Version other than 1 is refused.
	c, _ := ParseChallenge(unhexT(t, ocsChallengeHex))
	srv, err := Accept(ServerConfig{}, c, unhexT(t, ocsAuthHex), ocsLookup, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := ParseSignature(ocsRequestSig)
	sig[0] = 2
	if err := srv.Verify([]byte(ocsRequestSigned), sig); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}
}

func TestFlagsString(t *testing.T) {
	if got := Flags(0x62988255).String(); got != "UNICODE|REQUEST_TARGET|SIGN|DATAGRAM|NTLM|ALWAYS_SIGN|EXTENDED_SESSIONSECURITY|IDENTIFY|TARGET_INFO|VERSION|128|KEY_EXCH" {
		t.Errorf("got %s", got)
	}
	if got := Flags(0x08).String(); got != "0x00000008" {
		t.Errorf("got %s", got)
	}
}

func TestSignDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items on purpose: allocations are counted without it")
	}
	c, _ := ParseChallenge(unhexT(t, ocsChallengeHex))
	srv, err := Accept(ServerConfig{}, c, unhexT(t, ocsAuthHex), ocsLookup, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, req, sig := []byte(ocsResponseSigned), []byte(ocsRequestSigned), mustSig(ocsRequestSig)
	allocs := testing.AllocsPerRun(100, func() {
		srv.Sign(msg, 100)
		if err := srv.Verify(req, sig); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Sign+Verify allocate %.0f times", allocs)
	}
}

func mustSig(s string) Signature {
	sig, err := ParseSignature(s)
	if err != nil {
		panic(err)
	}
	return sig
}

// BenchmarkSign and BenchmarkVerify measure one MS-SIPAE signature over a
// signed string of a typical size (the OCS 200 OK's, 186 bytes).
func BenchmarkSign(b *testing.B) {
	srv := benchSession(b)
	msg := []byte(ocsResponseSigned)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		srv.Sign(msg, 100)
	}
}

func BenchmarkVerify(b *testing.B) {
	srv := benchSession(b)
	msg := []byte(ocsRequestSigned)
	sig := mustSig(ocsRequestSig)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := srv.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyNewSeqNum is the slow path: a sequence number other than
// the last one costs an MD5 and an RC4 key schedule (MS-SIPAE never does
// this: its sequence number is always 100).
func BenchmarkVerifyNewSeqNum(b *testing.B) {
	cli, srv := ocsSessions(b)
	msg := []byte(ocsRequestSigned)
	sigs := [2]Signature{cli.Sign(msg, 100), cli.Sign(msg, 101)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := srv.Verify(msg, sigs[i&1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// ocsSessions are the client and server sessions of the real OCS 2007 R2
// exchange.
func ocsSessions(tb testing.TB) (client, server *Session) {
	challenge := unhexT(tb, ocsChallengeHex)
	auth := unhexT(tb, ocsAuthHex)
	c := mustChallenge(tb)
	ts := FromFiletime(0x01CAB927179A5159)
	cc := unhexT(tb, "D6AE875CB0FDAA41")
	r := ComputeResponse(NTOWFv2(NTHash("Pa$$word"), "User", "COSMO"), c.ServerChallenge, [8]byte(cc), Filetime(ts), c.TargetInfo)
	exported := RC4K(r.SessionBaseKey[:], auth[len(auth)-16:])
	_, client, err := Respond(ClientConfig{User: "User", Domain: "COSMO", Password: "Pa$$word"}, challenge, bytes.NewReader(append(cc, exported...)), ts)
	if err != nil {
		tb.Fatal(err)
	}
	server, err = Accept(ServerConfig{}, c, auth, ocsLookup, ts)
	if err != nil {
		tb.Fatal(err)
	}
	return client, server
}

func mustChallenge(b testing.TB) *Challenge {
	c, err := ParseChallenge(unhexT(b, ocsChallengeHex))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchSession(b *testing.B) *Session {
	srv, err := Accept(ServerConfig{}, mustChallenge(b), unhexT(b, ocsAuthHex), ocsLookup, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

func BenchmarkAccept(b *testing.B) {
	c := mustChallenge(b)
	auth := unhexT(b, ocsAuthHex)
	hash := NTHash("Pa$$word")
	lookup := func(string, string) ([16]byte, bool) { return hash, true }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Accept(ServerConfig{}, c, auth, lookup, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(mustHex(nlmpChallengeHex))
	f.Add(mustHex(ocsChallengeHex))
	f.Add([]byte("NTLMSSP\x00\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChallenge(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := ParseChallenge(c.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if again.Flags != c.Flags || again.TargetName != c.TargetName || !bytes.Equal(again.TargetInfo, c.TargetInfo) || again.ServerChallenge != c.ServerChallenge {
			t.Fatalf("round trip changed the message: %+v vs %+v", again, c)
		}
		// A client must answer or refuse, never panic.
		_, _, _ = Respond(ClientConfig{User: "u", Password: "p"}, b, zeroReader{}, time.Unix(0, 0))
	})
}

func FuzzParseAuthenticate(f *testing.F) {
	f.Add(mustHex(nlmpAuthHex))
	f.Add(mustHex(ocsAuthHex))
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	c, err := ParseChallenge(mustHex(ocsChallengeHex))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthenticate(b)
		if err == nil {
			again, err := ParseAuthenticate(a.Marshal())
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if again.User != a.User || again.Domain != a.Domain || again.Workstation != a.Workstation ||
				!bytes.Equal(again.NTResponse, a.NTResponse) || !bytes.Equal(again.LMResponse, a.LMResponse) || again.Flags != a.Flags {
				t.Fatalf("round trip changed the message: %+v vs %+v", again, a)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		// The server refuses or accepts, never panics; and accepts only the
		// one real message.
		s, err := Accept(ServerConfig{}, c, b, ocsLookup, time.Now())
		if err == nil && !bytes.Equal(b, mustHex(ocsAuthHex)) && s.User != "User" {
			t.Fatalf("accepted a forged AUTHENTICATE for %q", s.User)
		}
	})
}

func FuzzParseTargetInfo(f *testing.F) {
	f.Add(AppendTargetInfo(nil, StringAV(AvNbDomainName, "Domain"), StringAV(AvNbComputerName, "Server")))
	f.Add([]byte{1, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := ParseTargetInfo(b)
		if err != nil {
			return
		}
		again, err := ParseTargetInfo(AppendTargetInfo(nil, pairs...))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("round trip: %v, %d vs %d pairs", err, len(again), len(pairs))
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The base64 form is what travels in gssapi-data; the SIPE test suite
// quotes the OCS CHALLENGE in both forms.
func TestOCSChallengeBase64(t *testing.T) {
	const b64 = "TlRMTVNTUAACAAAAAAAAADgAAADzgpji3Ruq9OfiGNEAAAAAAAAAAJYAlgA4AAAABQLODgAAAA8CAAoAQwBPAFMATQBPAAEAGABDAE8AUwBNAE8ALQBPAEMAUwAtAFIAMgAEABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAMAMABjAG8AcwBtAG8ALQBvAGMAcwAtAHIAMgAuAGMAbwBzAG0AbwAuAGwAbwBjAGEAbAAFABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAAAAAA="
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, unhexT(t, ocsChallengeHex)) {
		t.Fatal("base64 and hex forms differ")
	}
	c, _ := ParseChallenge(b)
	if !bytes.Equal(c.Marshal(), b) {
		t.Errorf("re-marshalled CHALLENGE differs\n got %X\nwant %X", c.Marshal(), b)
	}
}
