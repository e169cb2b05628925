package xccos

import (
	"testing"
)

// A grpchat delivery as a real server sends it: 64-bit envid, 7-digit
// fraction timestamp (about 250 bytes).
const benchChat = `<xccos ver="1" envid="18446744073709551615" xmlns="urn:parlano:xml:ns:xccos">` +
	`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:alice@example.com" ts="2010-09-14T14:26:17.6206356Z">` +
	`<chat>hi bob, lunch at noon?</chat></grpchat></xccos>`

// A bjoin reply listing three members and the room.
const benchBJoin = `<xccos ver="1" envid="1005" xmlns="urn:parlano:xml:ns:xccos"><rpl id="rpl:bjoin" seqid="1">` +
	`<commandid seqid="1" envid="505417530"/><resp code="200">SUCCESS_OK</resp><data>` +
	`<uib id="0" uri="sip:alice@example.com"/><uib id="1" uri="sip:bob@example.com"/><uib id="2" uri="sip:carol@example.com"/>` +
	`<chanib uri="ma-chan://example.com/room1" name="Room One" topic="test topic"><aib key="3984" value="0,1,2"/><aib key="12276" value="0"/></chanib>` +
	`</data></rpl></xccos>`

func BenchmarkParseChat(b *testing.B) {
	in := []byte(benchChat)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBJoinReply(b *testing.B) {
	in := []byte(benchBJoin)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendChat(b *testing.B) {
	env, err := Parse([]byte(benchChat))
	if err != nil {
		b.Fatal(err)
	}
	c := env.Items[0].Chat
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(AppendChat(buf[:0], env.EnvID, c))))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChat(buf[:0], env.EnvID, c)
	}
}

func BenchmarkMarshalReply(b *testing.B) {
	env, err := Parse([]byte(benchBJoin))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(env.Marshal())))
	b.ReportAllocs()
	for b.Loop() {
		env.Marshal()
	}
}

func TestBenchInputs(t *testing.T) {
	if n := len(benchChat); n < 230 || n > 270 {
		t.Errorf("benchChat is %d bytes, want about 250", n)
	}
	for _, in := range []string{benchChat, benchBJoin} {
		env, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(env.Marshal()); got != in {
			t.Errorf("benchmark input is not canonical:\n got: %s\nwant: %s", got, in)
		}
	}
}

// TestParseAllocs guards the allocation budget of the hot paths.
func TestParseAllocs(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		max  float64
	}{
		{"chat delivery", benchChat, 6},
		{"bjoin reply", benchBJoin, 10},
	} {
		in := []byte(tt.in)
		if n := testing.AllocsPerRun(100, func() { _, _ = Parse(in) }); n > tt.max {
			t.Errorf("Parse(%s) allocates %v times, want at most %v", tt.name, n, tt.max)
		}
	}
}
