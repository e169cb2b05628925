package sipelog

import (
	"bytes"
	"strings"
	"testing"
)

func TestBlocks(t *testing.T) {
	bs := Blocks()
	var c, s int
	for _, b := range bs {
		if b.Dir == ClientToServer {
			c++
		} else {
			s++
		}
		if !bytes.Contains(b.Msg, []byte("\r\n\r\n")) {
			t.Fatalf("block at line %d not framed", b.Line)
		}
	}
	if c != 33 || s != 29 {
		t.Fatalf("got %d client and %d server blocks, want 33 and 29", c, s)
	}
	first := Client()[0]
	if first.StartLine() != "REGISTER sip:example.com SIP/2.0" {
		t.Fatalf("first client block starts %q", first.StartLine())
	}
	var infos int
	for _, b := range Client() {
		if strings.HasPrefix(b.StartLine(), "INFO ") {
			infos++
			if !bytes.HasPrefix(b.Body(), []byte("<xccos ")) || !bytes.HasSuffix(b.Body(), []byte("</xccos>")) {
				t.Fatalf("INFO at line %d: body %q is not one envelope", b.Line, b.Body())
			}
		}
	}
	if infos != 9 {
		t.Fatalf("got %d client INFOs, want 9", infos)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"bad direction": "===== X->Y 00:00:00\nINFO x SIP/2.0\r\n\r\n",
		"no blank line": "===== C->S 00:00:00\nINFO x SIP/2.0\r\n",
		"short body":    "===== C->S 00:00:00\nINFO x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
