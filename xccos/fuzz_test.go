package xccos

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gcload/gcload/internal/sipelog"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the FuzzParse seed corpus in testdata/fuzz/FuzzParse")

// fuzzSeeds are the named seed inputs of FuzzParse: every XCCOS envelope
// of the captured session, and inputs aimed at the tricky parts of the
// tokenizer. TestFuzzSeedCorpus keeps testdata/fuzz/FuzzParse in step.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	for _, dir := range []sipelog.Direction{sipelog.ClientToServer, sipelog.ServerToClient} {
		tag := "c2s"
		if dir == sipelog.ServerToClient {
			tag = "s2c"
		}
		for _, b := range sipelog.Blocks() {
			if b.Dir != dir || !strings.HasPrefix(b.StartLine(), "INFO ") {
				continue
			}
			what := "body"
			if env, err := Parse(b.Body()); err == nil {
				what = env.Items[0].Kind.String() + "-" + env.Items[0].Name
			}
			seeds[fmt.Sprintf("log-%s-line%04d-%s", tag, b.Line, what)] = b.Body()
		}
	}
	chat := `<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T14:26:17.6206356Z">`
	tricky := map[string]string{
		"cdata":         envelope(chat + `<chat>a<![CDATA[<b> & ]]]]><![CDATA[>]]>c</chat></grpchat>`),
		"entities":      envelope(`<cmd id="cmd:a&amp;&lt;&gt;&quot;&apos;&#9;&#x1F600;" seqid='&#49;'><data><chanib uri="x&#10;y" name='a"b'><info id="i">&lt;&#233;&gt;</info></chanib></data></cmd>`),
		"prefixes":      `<x:xccos xmlns:x="urn:parlano:xml:ns:xccos" ver="1" envid="7"><x:rpl id="rpl:join" seqid="1"><x:commandid seqid="1" envid="8"/><x:resp code="200">SUCCESS_OK</x:resp><x:data><x:uib id="0" uri="sip:a@d"/></x:data></x:rpl></x:xccos>`,
		"deep-ok":       envelope(`<cmd id="cmd:x"><data>` + strings.Repeat("<a>", MaxDepth-3) + strings.Repeat("</a>", MaxDepth-3) + `</data></cmd>`),
		"deep-too-deep": envelope(`<cmd id="cmd:x"><data>` + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + `</data></cmd>`),
		"truncated":     envelope(chat + `<chat>hello</chat></grpchat>`)[:120],
		"prolog":        "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c -->\n" + envelope("\n  "+chat+"<?pi x?><chat>x</chat></grpchat>\n") + "\n<!-- end -->\n",
		"crlf-text":     envelope(chat + "<chat>line 1\r\nline 2\rline 3\n</chat></grpchat>"),
		"attr-space":    envelope("<cmd id=\"cmd:x\" seqid=\"1\"><data><chanib uri=\"a\tb\r\nc\" topic='&#13;&#10;'/></data></cmd>"),
		"server-64bit":  `<xccos xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ver="1" envid="18446744073709551615" xmlns="urn:parlano:xml:ns:xccos">` + chat + `<chat>hi</chat></grpchat></xccos>`,
		"two-replies":   envelope(reply("join", `<data/>`) + reply("getinv", ``)),
		"getservinfo":   envelope(reply("getservinfo", `<data><sib infoType="123" serverTime="2010-09-14T14:26:17.6206356Z" searchLimit="999" messageSizeLimit="512" storySizeLimit="4096" rootUri="ma-cat://example.com/GUID" dbVersion="3ea3a5a8-ef36-46cf-898f-7a5133931d63"/></data>`)),
		"chansrch":      envelope(reply("chansrch", `<data><chanib uri="ma-chan://d/r" name="R"><info id="urn:parlano:ma:info:ucnt">3</info><info id="urn:parlano:ma:info:visibilty">private</info><prop id="urn:parlano:ma:prop:logged">true</prop><aib key="12276" value="0"/></chanib></data>`)),
		"ntc-part":      envelope(`<ntc id="ntc:part" seqid="1"><data><chanib uri="ma-chan://d/r"><uib uri="sip:bob@d"/></chanib></data></ntc>`),
		"history":       envelope(reply("bccontext", `<data><chanib uri="ma-chan://d/r"><msg id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T16:26:17+02:00"><chat>old</chat></msg></chanib></data>`)),
		"all-blocks":    string(NewReply(7, "all", 8, 200, "", &Data{Users: []UIB{{ID: "0", URI: "u", Affiliations: []AIB{{Key: "3984", Value: "r"}}}}, ChanIDs: []ChanID{{"0", "d", "r"}}, Query: &QIB{"BYNAME", "", "false"}, History: &BCQ{Last: 25}, Invites: []Inv{{InviteID: "1", Domain: "d"}}, File: &FTDB{"c", "f"}, Token: &Token{"t", "s"}, Search: &MsgQuery{Keyword: "k", Limit: 3}}).Marshal()),
		"unknown-data":  envelope(`<cmd id="cmd:x"><data><foo><bar/></foo><p:baz xmlns:p="u"/></data></cmd>`),
		"many-attrs":    envelope(`<cmd id="cmd:x" a1="1" a2="2" a3="3" a4="4" a5="5" a6="6" a7="7" a8="8" a9="9" a10="1" a11="1" a12="1" a13="1" a14="1" a15="1" a16="1" a17="1" a18="1" a17="dup"/>`),
		"doctype":       `<!DOCTYPE xccos [<!ENTITY e "expanded">]>` + envelope(chat+`<chat>&e;</chat></grpchat>`),
		"bad-ts":        envelope(`<grpchat id="grpchat" ts="2010-02-30T00:00:00Z"><chat/></grpchat>`),
		"bad-bcq":       envelope(`<cmd id="cmd:bccontext"><data><bcq><last cnt="x"/></bcq></data></cmd>`),
		"mismatched":    envelope(`<cmd id="cmd:x" seqid="1"></rpl>`),
		"garbage-after": envelope(`<cmd id="cmd:x"/>`) + `<x/>`,
		"not-utf8":      envelope(chat + "<chat>ok \xff\xfe\xc0\xaf</chat></grpchat>"),
		"control-char":  envelope(chat + "<chat>bell \x07</chat></grpchat>"),
	}
	for name, s := range tricky {
		seeds[name] = []byte(s)
	}
	return seeds
}

// corpusFile renders a seed in the "go test fuzz v1" format.
func corpusFile(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range fuzzSeeds() {
		path := filepath.Join(dir, name)
		want := corpusFile(b)
		if *updateCorpus {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale in %s (run go test -run TestFuzzSeedCorpus -update-corpus): %v", name, dir, err)
		}
	}
}

var sentinels = []error{ErrSyntax, ErrNotXCCOS, ErrEnvID, ErrEmpty, ErrUnknownElement, ErrBadID, ErrBadReply, ErrBadTime}

// normalise undoes what Marshal canonicalises: empty version, namespace
// and seqids render their defaults, and unknown data elements are dropped.
func normalise(e *Envelope) *Envelope {
	if e.Ver == "" {
		e.Ver = Version
	}
	if e.NS == "" {
		e.NS = Namespace
	}
	for i := range e.Items {
		it := &e.Items[i]
		if it.SeqID == "" {
			it.SeqID = "1"
		}
		if it.Reply != nil && it.Reply.CommandSeqID == "" {
			it.Reply.CommandSeqID = "1"
		}
		if it.Data != nil {
			it.Data.Unknown = nil
		}
	}
	return e
}

func FuzzParse(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Parse(b)
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) || !strings.HasPrefix(err.Error(), "xccos: ") || xe.Offset < 0 {
				t.Fatalf("error %q (%T) is not an *Error with an offset", err, err)
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			if env != nil && len(env.Items) > 0 && errors.Is(err, ErrEmpty) {
				t.Fatalf("ErrEmpty with items: %s", dump(env))
			}
			return
		}
		if len(env.Items) == 0 {
			t.Fatalf("Parse succeeded with no items")
		}
		if at, r := InvalidChar(string(b)); at >= 0 {
			t.Fatalf("Parse accepted %U at offset %d", r, at)
		}
		out := env.Marshal()
		// Escaping can make the canonical form longer than the input, so
		// the second parse lifts the size limit.
		again, err := parse(out, max(MaxSize, len(out)))
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))): %v\nMarshal: %s", b, err, out)
		}
		if out2 := again.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("canonical form is not stable\nfirst:  %s\nsecond: %s", out, out2)
		}
		if a, b := normalise(env), normalise(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip differs\nfirst:  %s\nsecond: %s\nMarshal: %s", dump(a), dump(b), out)
		}
	})
}
