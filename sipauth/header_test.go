package sipauth

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	q := func(n, v string) Param { return Param{Name: n, Value: v, Quoted: true} }
	u := func(n, v string) Param { return Param{Name: n, Value: v} }
	tests := []struct {
		name string
		in   string
		want Field
	}{
		{
			name: "SIPE first challenge (MS-SIPAE 4.1)",
			in:   `NTLM realm="SIP Communications Service", targetname="gc.example.com", version=3`,
			want: Field{Scheme: "NTLM", Params: []Param{q("realm", "SIP Communications Service"), q("targetname", "gc.example.com"), u("version", "3")}},
		},
		{
			name: "OC 2007 R2 signed REGISTER with the AUTHENTICATE (version 4)",
			in:   `NTLM qop="auth", realm="SIP Communications Service", opaque="2BDBAC9D", targetname="cosmo-ocs-r2.cosmo.local", version=4, gssapi-data="TlRMTVNTUAADAAAA", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"`,
			want: Field{Scheme: "NTLM", Params: []Param{
				q("qop", "auth"), q("realm", "SIP Communications Service"), q("opaque", "2BDBAC9D"),
				q("targetname", "cosmo-ocs-r2.cosmo.local"), u("version", "4"), q("gssapi-data", "TlRMTVNTUAADAAAA"),
				q("crand", "13317733"), q("cnum", "1"), q("response", "0100000029618e9651b65a7764000000"),
			}},
		},
		{
			name: "SIPE empty gssapi-data",
			in:   `NTLM qop="auth", realm="SIP Communications Service", targetname="gc.example.com", gssapi-data="", version=3`,
			want: Field{Scheme: "NTLM", Params: []Param{q("qop", "auth"), q("realm", "SIP Communications Service"), q("targetname", "gc.example.com"), q("gssapi-data", ""), u("version", "3")}},
		},
		{
			name: "RFC 3261 Authentication-Info has no scheme",
			in:   `nextnonce="47364c23432d2e131a5fb210812c", qop=auth, nc=00000001`,
			want: Field{Params: []Param{q("nextnonce", "47364c23432d2e131a5fb210812c"), u("qop", "auth"), u("nc", "00000001")}},
		},
		{
			name: "no spaces, odd case, empty items, trailing comma",
			in:   `Digest REALM="a",,nonce = "b" ,stale=TRUE,`,
			want: Field{Scheme: "Digest", Params: []Param{q("REALM", "a"), q("nonce", "b"), u("stale", "TRUE")}},
		},
		{
			name: "escapes in a quoted string",
			in:   `Digest realm="say \"hi\" \\ there"`,
			want: Field{Scheme: "Digest", Params: []Param{q("realm", `say "hi" \ there`)}},
		},
		{
			name: "scheme alone",
			in:   `Negotiate`,
			want: Field{Scheme: "Negotiate"},
		},
		{
			name: "unquoted base64-ish value",
			in:   `Digest response=ab/cd==, uri=sip:a@b`,
			want: Field{Scheme: "Digest", Params: []Param{u("response", "ab/cd=="), u("uri", "sip:a@b")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty value"},
		{"blank", "   ", "empty value"},
		{"unterminated", `NTLM realm="abc`, "unterminated quoted string"},
		{"CR LF injection", "NTLM realm=\"a\"\r\nVia: x", "control character 0x0d"},
		{"NUL", "NTLM realm=\"a\x00\"", "control character 0x00"},
		{"two schemes in a single value", `NTLM realm="a", Kerberos realm="b"`, `a second scheme "Kerberos"`},
		{"garbage after value", `NTLM realm="a" targetname="b"`, "expected ',' after the value of realm"},
		{"name without value after scheme", `NTLM realm`, "expected name=value after the scheme"},
		{"quote in unquoted value", `NTLM realm=a"b"`, "a quote inside the unquoted value"},
		{"not a token", `NTLM (x)=1`, "expected a parameter name"},
		{"scheme glued to garbage", `NTLM"x"`, "expected a space after the scheme"},
		{"trailing backslash", `NTLM realm="a\`, "a backslash ends the value"},
		{"too long", "NTLM gssapi-data=\"" + strings.Repeat("A", MaxLen) + "\"", "more than the 16384 allowed"},
		{"too many params", "NTLM " + strings.Repeat("a=1, ", MaxParams+1), "more than 32 parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error with %q", tt.in, tt.want)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	in := `NTLM realm="SIP Communications Service", targetname="gc.example.com", version=3, Kerberos realm="SIP Communications Service", targetname="sip/gc.example.com", version=3, Negotiate, Digest realm="x"`
	got, err := ParseList(in)
	if err != nil {
		t.Fatal(err)
	}
	var schemes []string
	for _, f := range got {
		schemes = append(schemes, f.Scheme)
	}
	if want := []string{"NTLM", "Kerberos", "Negotiate", "Digest"}; !reflect.DeepEqual(schemes, want) {
		t.Fatalf("schemes %v, want %v", schemes, want)
	}
	if v, _ := got[1].Get("TargetName"); v != "sip/gc.example.com" {
		t.Errorf("Kerberos targetname %q", v)
	}
	if len(got[2].Params) != 0 || len(got[3].Params) != 1 {
		t.Errorf("params: %+v", got)
	}
}

func TestRoundTrip(t *testing.T) {
	f := Field{Scheme: "NTLM"}
	f.Set("qop", "auth", true)
	f.Set("realm", `odd "realm" \ here`, true)
	f.Set("version", "4", false)
	f.Set("QOP", "auth-int", true) // replaces, keeps the first spelling
	s := f.String()
	if want := `NTLM qop="auth-int", realm="odd \"realm\" \\ here", version=4`; s != want {
		t.Fatalf("String() = %s, want %s", s, want)
	}
	back, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip\n got %#v\nwant %#v", back, f)
	}
	if !back.Is("ntlm") || back.Is("Kerberos") {
		t.Error("Is is wrong")
	}
}

func TestAppendParamNeutralisesControls(t *testing.T) {
	got := string(AppendParam(nil, "opaque", "ab\r\nVia: evil", true))
	if got != `opaque="ab  Via: evil"` {
		t.Fatalf("got %q", got)
	}
	got = string(AppendParam(nil, "version", "3\n", false))
	if got != `version=3 ` {
		t.Fatalf("got %q", got)
	}
}

func TestScannerDoesNotAllocate(t *testing.T) {
	v := `NTLM qop="auth", opaque="2BDBAC9D", realm="SIP Communications Service", targetname="gc.example.com", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"`
	var s Scanner
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n = 0
		if err := s.Reset(v); err != nil {
			t.Fatal(err)
		}
		for s.Next() {
			n++
		}
	})
	if n != 7 {
		t.Fatalf("scanned %d params, want 7", n)
	}
	if allocs != 0 {
		t.Fatalf("Scanner allocates %.0f times per value", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`NTLM realm="SIP Communications Service", targetname="gc.example.com", version=3`,
		`NTLM opaque="4452DFB0", gssapi-data="TlRMTVNTUAACAAAAAAAAADgAAADzgpji", targetname="gc.example.com", realm="SIP Communications Service", version=3`,
		`NTLM rspauth="0100000000000000BF2E52667DDF6DED", srand="0878F41B", snum="1", opaque="4452DFB0", qop="auth", targetname="ocs1.ocs.provo.novell.com", realm="SIP Communications Service"`,
		`Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
		`NTLM realm="a", Kerberos realm="b", Negotiate`,
		`nextnonce="x", qop=auth`,
		`Digest realm="a\"b"`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fields, err := ParseList(v)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		for _, fl := range fields {
			if len(fl.Params) > MaxParams {
				t.Fatalf("%d params accepted", len(fl.Params))
			}
			// What we write back must parse to the same field.
			if fl.Scheme == "" && len(fl.Params) == 0 {
				continue
			}
			back, err := Parse(fl.String())
			if err != nil {
				t.Fatalf("re-parse of %q: %v", fl.String(), err)
			}
			if !reflect.DeepEqual(normal(back), normal(fl)) {
				t.Fatalf("round trip of %q\n got %#v\nwant %#v", v, back, fl)
			}
		}
	})
}

// normal treats an unquoted empty value as a quoted one: both print as
// name= and name="" parses back quoted.
func normal(f Field) Field {
	out := Field{Scheme: f.Scheme}
	for _, p := range f.Params {
		if p.Value == "" {
			p.Quoted = true
		}
		out.Params = append(out.Params, p)
	}
	return out
}

func BenchmarkScanner(b *testing.B) {
	v := `NTLM qop="auth", opaque="2BDBAC9D", realm="SIP Communications Service", targetname="gc.example.com", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"`
	var s Scanner
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Reset(v); err != nil {
			b.Fatal(err)
		}
		for s.Next() {
		}
	}
}

// TestPlainRun holds the word-at-a-time scan of quoted strings to the
// byte-at-a-time one, on every byte value at every position of a word.
func TestPlainRun(t *testing.T) {
	slow := func(v string, i int) int {
		for i < len(v) && ctype[v[i]]&cQuoteStop == 0 {
			i++
		}
		return i
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz0123456789")
	for c := 0; c < 256; c++ {
		for pos := 0; pos < len(base); pos++ {
			b := append([]byte(nil), base...)
			b[pos] = byte(c)
			for start := 0; start < 9; start++ {
				v := string(b)
				if got, want := plainRun(v, start), slow(v, start); got != want {
					t.Fatalf("byte %#x at %d, from %d: %d, want %d", c, pos, start, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x60))
			if rng.IntN(30) == 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		v := string(b)
		if got, want := plainRun(v, 0), slow(v, 0); got != want {
			t.Fatalf("%q: %d, want %d", v, got, want)
		}
	}
}
