package sipae

import (
	"slices"
	"strconv"
	"strings"
)

// Fields are the parts of a SIP message a signature covers (MS-SIP
// 3.1.4.2, MS-SIPAE 3.2.5.2), each as it appears in the message, byte for
// byte: the signature is over the text, not its meaning.
type Fields struct {
	// From the Authorization / Authentication-Info header (the signer's
	// security association fills them when signing).
	Protocol   string // "NTLM"
	Rand       string // crand or srand
	Num        string // cnum or snum
	Realm      string
	TargetName string

	CallID     string
	CSeqNum    string // the number of the CSeq header, as written
	CSeqMethod string
	FromURI    string // the URI of From: inside <...>, or up to the first ';'
	FromTag    string
	ToURI      string
	ToTag      string
	PAISIP     string // the sip: URI of P-Asserted-Identity (or P-Preferred-Identity)
	PAITel     string // its tel: URI
	Expires    string // the Expires header ("" when absent)
	// Status is the status code of a response; 0 for a request.
	Status int
}

// AppendSigned appends the string a signature covers (MS-SIP 3.1.4.2):
// each field in angle brackets, in the order
//
//	<protocol><rand><num><realm><targetname><Call-ID><CSeq number><CSeq method>
//	<From URI><From tag><To URI><To tag><PAI sip URI><PAI tel URI><Expires>
//
// then <status code> for a response. Versions before 3 leave out the To
// URI and both P-Asserted-Identity URIs.
func AppendSigned(dst []byte, version int, f *Fields) []byte {
	return appendSigned(dst, version, f, f.Rand, f.Num)
}

func appendSigned[T string | []byte](dst []byte, version int, f *Fields, rand, num T) []byte {
	n := len(f.Protocol) + len(rand) + len(num) + len(f.Realm) + len(f.TargetName) + len(f.CallID) +
		len(f.CSeqNum) + len(f.CSeqMethod) + len(f.FromURI) + len(f.FromTag) + len(f.ToTag) + len(f.Expires) + 2*12 + 8
	if version >= 3 {
		n += len(f.ToURI) + len(f.PAISIP) + len(f.PAITel) + 2*3
	}
	dst = slices.Grow(dst, n)
	dst = field(dst, f.Protocol)
	dst = field(dst, rand)
	dst = field(dst, num)
	dst = field(dst, f.Realm)
	dst = field(dst, f.TargetName)
	dst = field(dst, f.CallID)
	dst = field(dst, f.CSeqNum)
	dst = field(dst, f.CSeqMethod)
	dst = field(dst, f.FromURI)
	dst = field(dst, f.FromTag)
	if version >= 3 {
		dst = field(dst, f.ToURI)
	}
	dst = field(dst, f.ToTag)
	if version >= 3 {
		dst = field(dst, f.PAISIP)
		dst = field(dst, f.PAITel)
	}
	dst = field(dst, f.Expires)
	if f.Status != 0 {
		dst = append(dst, '<')
		dst = strconv.AppendInt(dst, int64(f.Status), 10)
		dst = append(dst, '>')
	}
	return dst
}

// field appends <v>; the caller has grown dst to fit.
func field[T string | []byte](dst []byte, v T) []byte {
	n := len(dst)
	dst = dst[:n+len(v)+2]
	dst[n] = '<'
	copy(dst[n+1:], v)
	dst[n+1+len(v)] = '>'
	return dst
}

// Headers gives the value of the first header of a name (compact forms
// understood), as received. sipnet.Message satisfies it.
type Headers interface {
	Header(name string) (string, bool)
}

// SetMessage fills the message fields (Call-ID to Expires) from its
// headers, as the SIPE client reads them, without allocating; status is
// the status code of a response, 0 for a request. The header fields
// (Protocol to TargetName) are left as they are.
func (f *Fields) SetMessage(h Headers, status int) {
	f.Status = status
	f.CallID, _ = h.Header("Call-ID")
	cseq, _ := h.Header("CSeq")
	cseq = strings.TrimSpace(cseq)
	f.CSeqNum, f.CSeqMethod = cseq, ""
	if i := strings.IndexAny(cseq, " \t"); i >= 0 {
		f.CSeqNum, f.CSeqMethod = cseq[:i], strings.TrimSpace(cseq[i+1:])
	}
	from, _ := h.Header("From")
	f.FromURI, f.FromTag = addrAndTag(from)
	to, _ := h.Header("To")
	f.ToURI, f.ToTag = addrAndTag(to)
	pai, ok := h.Header("P-Asserted-Identity")
	if !ok {
		pai, _ = h.Header("P-Preferred-Identity")
	}
	f.PAISIP, f.PAITel = assertedIdentity(pai)
	f.Expires, _ = h.Header("Expires")
	f.Expires = strings.TrimSpace(f.Expires)
}

// addrAndTag splits a From or To value into its URI (inside <...>, or an
// addr-spec up to ';') and its tag parameter.
func addrAndTag(v string) (uri, tag string) {
	if uri, tag, ok := addrAndTagFast(v); ok {
		return uri, tag
	}
	return addrAndTagGeneral(v)
}

// addrAndTagGeneral is addrAndTag for any shape.
func addrAndTagGeneral(v string) (uri, tag string) {
	v = strings.TrimSpace(v)
	params := ""
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", ""
		}
		uri, params = v[i+1:i+j], v[i+j+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		uri, params = strings.TrimSpace(v[:i]), v[i:]
	} else {
		uri = v
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		p = strings.TrimSpace(p)
		if len(p) > 4 && strings.EqualFold(p[:4], "tag=") {
			return uri, strings.TrimSpace(p[4:])
		}
	}
	return uri, ""
}

// addrAndTagFast reads the shape signers write, `<URI>;tag=TAG` with
// nothing around it and no other parameter, in one pass; false for
// anything else, which addrAndTag reads the general way
// (TestAddrAndTagFastAgrees).
func addrAndTagFast(v string) (uri, tag string, ok bool) {
	if len(v) < 8 || v[0] != '<' {
		return "", "", false
	}
	j := strings.IndexByte(v, '>')
	if j < 0 || len(v)-j < 7 || v[j+1:j+6] != ";tag=" {
		return "", "", false
	}
	tag = v[j+6:]
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c == ';' || c >= 0x7f {
			return "", "", false
		}
	}
	return v[1:j], tag, true
}

// assertedIdentity finds the sip: and tel: URIs of a P-Asserted-Identity
// value: a bare tel: URI, or name-addrs separated by commas.
func assertedIdentity(v string) (sipURI, telURI string) {
	v = strings.TrimSpace(v)
	if hasPrefixFold(v, "tel:") {
		return "", v
	}
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		i := strings.IndexByte(part, '<')
		if i < 0 {
			continue
		}
		j := strings.IndexByte(part[i:], '>')
		if j < 0 {
			continue
		}
		u := part[i+1 : i+j]
		switch {
		case hasPrefixFold(u, "sip:") && sipURI == "":
			sipURI = u
		case hasPrefixFold(u, "tel:") && telURI == "":
			telURI = u
		}
	}
	return sipURI, telURI
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// SplitAddr splits a From or To header value into the URI and the tag a
// signature covers (as Fields.SetMessage reads them): the URI inside
// <...>, or an addr-spec up to ';', and the tag parameter.
func SplitAddr(v string) (uri, tag string) { return addrAndTag(v) }

// AssertedIdentity returns the sip: and tel: URIs a signature covers of a
// P-Asserted-Identity (or P-Preferred-Identity) value.
func AssertedIdentity(v string) (sipURI, telURI string) { return assertedIdentity(v) }

// appendOwnSigned is appendSigned for a message whose protocol, realm and
// targetname are the association's own (a signer's, or a verifier's whose
// peer wrote them as its head: scanOwn): those are one string made once
// (mid), and the rest is written with one copy per field into the space
// grown once. TestOwnSignedAgrees holds it to AppendSigned.
func appendOwnSigned[T string | []byte](dst []byte, version int, mid string, f *Fields, rand, num T) []byte {
	n := len(rand) + len(num) + len(mid) + len(f.CallID) + len(f.CSeqNum) + len(f.CSeqMethod) +
		len(f.FromURI) + len(f.FromTag) + len(f.ToTag) + len(f.Expires) + len(ownPrefix) + 2*7 + 1
	if version >= 3 {
		n += len(f.ToURI) + len(f.PAISIP) + len(f.PAITel) + 2*3
	}
	status := f.Status
	if status != 0 {
		n += 2 + 3
		if status < 100 || status > 999 {
			n += 20
		}
	}
	start := len(dst)
	dst = slices.Grow(dst, n)
	b := dst[start : start+n]
	i := copy(b, ownPrefix)
	i += copy(b[i:], rand)
	b[i], b[i+1] = '>', '<'
	i += 2
	i += copy(b[i:], num)
	i += copy(b[i:], mid)
	i += copy(b[i:], f.CallID)
	i = sep(b, i)
	i += copy(b[i:], f.CSeqNum)
	i = sep(b, i)
	i += copy(b[i:], f.CSeqMethod)
	i = sep(b, i)
	i += copy(b[i:], f.FromURI)
	i = sep(b, i)
	i += copy(b[i:], f.FromTag)
	i = sep(b, i)
	if version >= 3 {
		i += copy(b[i:], f.ToURI)
		i = sep(b, i)
	}
	i += copy(b[i:], f.ToTag)
	i = sep(b, i)
	if version >= 3 {
		i += copy(b[i:], f.PAISIP)
		i = sep(b, i)
		i += copy(b[i:], f.PAITel)
		i = sep(b, i)
	}
	i += copy(b[i:], f.Expires)
	b[i] = '>'
	i++
	if status != 0 {
		b[i] = '<'
		i++
		if status >= 100 && status <= 999 {
			b[i], b[i+1], b[i+2] = byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10)
			i += 3
		} else {
			i += len(strconv.AppendInt(b[i:i], int64(status), 10))
		}
		b[i] = '>'
		i++
	}
	return dst[:start+i]
}

// ownPrefix opens an own signed string: the protocol, and the rand's
// bracket.
const ownPrefix = "<" + protocolNTLM + "><"

// ownMid is what an association's signed strings hold between the num
// and the Call-ID: its realm and targetname.
func ownMid(realm, target string) string {
	return "><" + realm + "><" + target + "><"
}

// sep writes "><" at b[i:].
func sep(b []byte, i int) int {
	b[i], b[i+1] = '>', '<'
	return i + 2
}
