package sipclient

import (
	"fmt"
	"testing"

	"github.com/gcload/gcload/xccos"
)

// TestChatMemosParseLikeParseChatString: a body seen again, even one that
// differs from the remembered one only after the bytes it is hashed by,
// or that is not canonical, is parsed exactly as xccos.ParseChatString
// parses it; the memo does not keep views of the caller's buffer.
func TestChatMemosParseLikeParseChatString(t *testing.T) {
	body := func(envid int, text string) []byte {
		return []byte(fmt.Sprintf(`<xccos ver="1" envid="%d" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/b-1" author="sip:user17@example.com" ts="2026-11-21T21:42:34.1234567Z"><chat>%s</chat></grpchat></xccos>`, envid, text))
	}
	m := newChatMemos()
	bodies := [][]byte{
		body(1, "first"), body(1, "first"), body(1, "second"), body(2, "first"), body(1, "first"),
		body(1, "x &amp; y"), body(1, "x &amp; y"), []byte(`<xccos ver="1" envid="1"><notcanonical/></xccos>`),
	}
	for i, b := range bodies {
		buf := append([]byte(nil), b...)
		envid, ch, ok := m.parse(buf)
		wantID, want, wantOK := xccos.ParseChatString(string(b))
		if envid != wantID || ch != want || ok != wantOK {
			t.Fatalf("body %d: memo (%d %+v %v), ParseChatString (%d %+v %v)", i, envid, ch, ok, wantID, want, wantOK)
		}
		for j := range buf { // the caller reuses its buffer
			buf[j] = 'z'
		}
		if ok && (ch.Text == "" || ch.Text[0] == 'z') {
			t.Fatalf("body %d: the parse keeps a view of the caller's buffer", i)
		}
	}
}
