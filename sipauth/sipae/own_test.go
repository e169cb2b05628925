package sipae

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gcload/gcload/sipauth/ntlm"
)

// TestOwnSignedAgrees: the signed string written for an association's own
// protocol, realm and targetname (appendOwnSigned, used to sign and to
// verify own-shaped values) is AppendSigned's, byte for byte, for every
// version, requests and responses (status codes of 3 digits and others),
// fields empty or long, appended after what dst already holds.
func TestOwnSignedAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	word := func() string {
		const alphabet = "abcXYZ019:@;.<> -"
		b := make([]byte, r.IntN(3)*r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for round := 0; round < 5000; round++ {
		realm, target := word(), word()
		f := &Fields{Protocol: protocolNTLM, Rand: word(), Num: word(), Realm: realm, TargetName: target,
			CallID: word(), CSeqNum: word(), CSeqMethod: word(), FromURI: word(), FromTag: word(),
			ToURI: word(), ToTag: word(), PAISIP: word(), PAITel: word(), Expires: word()}
		switch r.IntN(4) {
		case 1:
			f.Status = 100 + r.IntN(600)
		case 2:
			f.Status = []int{1, 99, 1000, 65535, -5}[r.IntN(5)]
		}
		version := 2 + r.IntN(3)
		prefix := []byte(strings.Repeat("x", r.IntN(5)))
		want := string(AppendSigned(append([]byte(nil), prefix...), version, f))
		got := string(appendOwnSigned(append([]byte(nil), prefix...), version, ownMid(realm, target), f, []byte(f.Rand), []byte(f.Num)))
		if got != want {
			t.Fatalf("version %d, fields %+v:\nown     %q\nwant    %q", version, f, got, want)
		}
	}
}

// TestOwnPathRefusesTampering: values in the association's own shape are
// verified through the fast path (scanOwn, appendOwnSigned, the signed
// string hashed where it is written) on both sides, and that path still
// refuses a message any covered field of which was changed, a changed
// rand, num or signature digit, and a replay; the genuine message passes.
func TestOwnPathRefusesTampering(t *testing.T) {
	type side struct {
		name   string
		sign   func(f *Fields) string
		verify func(v string, f *Fields) error
		a      *sa
		names  [3]string
	}
	ssa, csa, srv := benchSAs(t)
	sides := []side{
		{"server checks the client's 200", func(f *Fields) string { return string(csa.Sign(nil, f)) },
			func(v string, f *Fields) error { return srv.Check(ssa, v, f) }, &ssa.sa, [3]string{"crand", "cnum", "response"}},
		{"client verifies the server's INFO", func(f *Fields) string { return string(ssa.Sign(nil, f)) },
			func(v string, f *Fields) error { return csa.Verify(v, f) }, &csa.sa, [3]string{"srand", "snum", "rspauth"}},
	}
	info, ok := deliveryFields()
	ok.PAISIP, ok.Expires = "sip:alice@example.com", "900"
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			for _, base := range []*Fields{info, ok} {
				mutations := []func(f *Fields){
					func(f *Fields) { f.CallID += "x" },
					func(f *Fields) { f.CSeqNum = "9" + f.CSeqNum },
					func(f *Fields) { f.CSeqMethod = "BYE" },
					func(f *Fields) { f.FromURI = "sip:mallory@example.com" },
					func(f *Fields) { f.FromTag += "1" },
					func(f *Fields) { f.ToURI = "sip:mallory@example.com" },
					func(f *Fields) { f.ToTag = "" },
					func(f *Fields) { f.PAISIP = "sip:x@example.com" },
					func(f *Fields) { f.PAITel = "tel:+1" },
					func(f *Fields) { f.Expires = "0" },
					func(f *Fields) { f.Status = 403 },
				}
				for i, mutate := range mutations {
					f := *base
					v := s.sign(&f)
					if _, own := s.a.scanOwn(v, s.names[0], s.names[1], s.names[2]); !own {
						t.Fatalf("%q does not take the own path", v)
					}
					g := *base
					mutate(&g)
					if err := s.verify(v, &g); !errors.Is(err, ntlm.ErrBadSignature) {
						t.Errorf("mutation %d of %+v: %v, want a bad signature", i, base, err)
					}
				}
				header := []func(v string) string{
					func(v string) string { return bumpParam(t, v, s.names[0]) }, // rand
					func(v string) string { return bumpParam(t, v, s.names[1]) }, // num
					func(v string) string { return bumpParam(t, v, s.names[2]) }, // the signature's last digit (its sequence number)
					func(v string) string { return flipChecksum(t, v, s.names[2]) },
				}
				for i, mutate := range header {
					f := *base
					v := mutate(s.sign(&f))
					if _, own := s.a.scanOwn(v, s.names[0], s.names[1], s.names[2]); !own {
						t.Fatalf("%q does not take the own path", v)
					}
					g := *base
					if err := s.verify(v, &g); !errors.Is(err, ntlm.ErrBadSignature) {
						t.Errorf("header mutation %d (%s): %v, want a bad signature", i, v, err)
					}
				}
				f := *base
				v := s.sign(&f)
				g, h := *base, *base
				if err := s.verify(v, &g); err != nil {
					t.Fatalf("the genuine message: %v", err)
				}
				if err := s.verify(v, &h); !errors.Is(err, ErrReplay) {
					t.Fatalf("a replay: %v", err)
				}
			}
		})
	}
}

// bumpParam changes the last character of a quoted parameter's value
// (another digit or hex digit).
func bumpParam(t *testing.T, v, name string) string {
	t.Helper()
	i := strings.Index(v, ", "+name+`="`)
	if i < 0 {
		t.Fatalf("no %s in %s", name, v)
	}
	j := i + len(name) + 4 + strings.IndexByte(v[i+len(name)+4:], '"') - 1
	b := []byte(v)
	if b[j] == '1' {
		b[j] = '2'
	} else {
		b[j] = '1'
	}
	return string(b)
}

// TestAddrAndTagFastAgrees: whatever From or To value the one-pass reader
// takes, the general reader splits the same way; it takes the usual
// `<uri>;tag=x` and leaves other shapes to the general reader.
func TestAddrAndTagFastAgrees(t *testing.T) {
	corpus := []string{"<sip:gcs1@example.com>;tag=4b7e9a0c13", "<sip:a@b>;tag=1", "<sip:a@b;transport=tcp>;tag=x"}
	for _, v := range corpus {
		if _, _, ok := addrAndTagFast(v); !ok {
			t.Fatalf("the fast reader refused %q", v)
		}
	}
	for _, v := range []string{`"A" <sip:a@b>;tag=1`, "<sip:a@b>;tag=1;x=y", "<sip:a@b>;tag=1 ", " <sip:a@b>;tag=1", "<sip:a@b>;TAG=1", "<sip:a@b>;tag=", "sip:a@b;tag=1", "<sip:a@b>;x=y;tag=1"} {
		if _, _, ok := addrAndTagFast(v); ok {
			t.Errorf("the fast reader took %q", v)
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	const alphabet = "<>;= \t\"tagTAG1x\x85\xa0"
	taken := 0
	for round := 0; round < 50000; round++ {
		b := []byte(corpus[round%len(corpus)])
		for k := 0; k < 1+r.IntN(2); k++ {
			b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
		}
		v := string(b)
		u, g, ok := addrAndTagFast(v)
		if !ok {
			continue
		}
		taken++
		// the general reader, without the shortcut
		wu, wg := addrAndTagGeneral(v)
		if u != wu || g != wg {
			t.Fatalf("%q: fast %q %q, general %q %q", v, u, g, wu, wg)
		}
	}
	if taken == 0 {
		t.Fatal("the fast reader took no mutated value: the comparison proved nothing")
	}
}

// BenchmarkSignedString reports the length of the signed strings of a
// delivery (the INFO to a member and its 200 OK, as the delivery
// benchmarks sign them) and the MD5 blocks each HMAC-MD5 over it hashes
// after the precomputed key blocks: the inner hash reads the 4-byte
// sequence number, the string and at least 9 bytes of padding, the outer
// one block. Those blocks, at BenchmarkMD5Block's cost, are the floor of
// signing (docs/performance.md).
func BenchmarkSignedString(b *testing.B) {
	ssa, _, _ := benchSAs(b)
	info, ok := deliveryFields()
	for _, c := range []struct {
		name string
		f    *Fields
	}{{"info", info}, {"ok", ok}} {
		b.Run(c.name, func(b *testing.B) {
			f := *c.f
			f.Protocol, f.Rand, f.Num, f.Realm, f.TargetName = protocolNTLM, "0123abcd", "1009", ssa.realm, ssa.target
			var n int
			for b.Loop() {
				n = len(appendOwnSigned(make([]byte, 0, 256), ssa.version, ssa.mid, &f, f.Rand, f.Num))
			}
			b.ReportMetric(float64(n), "bytes")
			b.ReportMetric(float64((4+n+9+63)/64+1), "md5-blocks/signature")
		})
	}
}
