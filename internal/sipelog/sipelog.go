// Package sipelog reads the captured SIPE session log (a real pidgin-sipe
// 1.25 client talking to a throw-away mock server) into messages, so tests
// can replay the client's bytes against the reference server and use its
// XCCOS envelopes as golden fixtures.
//
// Every "C->S" block holds the real client's bytes; "S->C" blocks came from
// the mock server and are only one acceptable answer.
package sipelog

import (
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

//go:embed sipe-1.25-session.log
var raw []byte

// Direction tells who sent a block.
type Direction int

const (
	// ClientToServer marks a block sent by the SIPE client.
	ClientToServer Direction = iota + 1
	// ServerToClient marks a block sent by the mock server.
	ServerToClient
)

func (d Direction) String() string {
	if d == ClientToServer {
		return "C->S"
	}
	return "S->C"
}

// Block is one SIP message of the log.
type Block struct {
	Dir  Direction
	Time string // wall-clock time printed in the separator line, HH:MM:SS
	Line int    // 1-based line of the separator in the log
	Msg  []byte // the whole SIP message: headers, CRLF CRLF, Content-Length bytes of body
}

// StartLine returns the first line of the message.
func (b Block) StartLine() string {
	i := bytes.Index(b.Msg, []byte("\r\n"))
	if i < 0 {
		return string(b.Msg)
	}
	return string(b.Msg[:i])
}

// Body returns the message body (the bytes after the blank line).
func (b Block) Body() []byte {
	i := bytes.Index(b.Msg, []byte("\r\n\r\n"))
	if i < 0 {
		return nil
	}
	return b.Msg[i+4:]
}

// Blocks parses the embedded log. It panics on a malformed log, which is a
// build-time fixture, not input.
func Blocks() []Block {
	bs, err := Parse(raw)
	if err != nil {
		panic(err)
	}
	return bs
}

// Client returns only the client's blocks, in order.
func Client() []Block {
	var out []Block
	for _, b := range Blocks() {
		if b.Dir == ClientToServer {
			out = append(out, b)
		}
	}
	return out
}

// Parse splits a log in the capture format into blocks.
func Parse(log []byte) ([]Block, error) {
	var blocks []Block
	lines := bytes.SplitAfter(log, []byte("\n"))
	var cur *Block
	var buf bytes.Buffer
	flush := func() error {
		if cur == nil {
			return nil
		}
		msg, err := frame(buf.Bytes())
		if err != nil {
			return fmt.Errorf("sipelog: block at line %d: %w", cur.Line, err)
		}
		cur.Msg = msg
		blocks = append(blocks, *cur)
		cur = nil
		buf.Reset()
		return nil
	}
	for i, l := range lines {
		s := string(l)
		if strings.HasPrefix(s, "===== ") {
			if err := flush(); err != nil {
				return nil, err
			}
			f := strings.Fields(s)
			if len(f) != 3 {
				return nil, fmt.Errorf("sipelog: line %d: bad separator %q", i+1, strings.TrimSpace(s))
			}
			b := &Block{Line: i + 1, Time: f[2]}
			switch f[1] {
			case "C->S":
				b.Dir = ClientToServer
			case "S->C":
				b.Dir = ServerToClient
			default:
				return nil, fmt.Errorf("sipelog: line %d: unknown direction %q", i+1, f[1])
			}
			cur = b
			continue
		}
		if cur == nil {
			continue // header comments before the first block
		}
		buf.Write(l)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return blocks, nil
}

// frame cuts one SIP message out of a block: the header section up to the
// blank line, then exactly Content-Length bytes of body.
func frame(b []byte) ([]byte, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, fmt.Errorf("no blank line after headers")
	}
	head := b[:end]
	n := 0
	for _, h := range bytes.Split(head, []byte("\r\n")) {
		name, val, ok := bytes.Cut(h, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "Content-Length") {
			v, err := strconv.Atoi(strings.TrimSpace(string(val)))
			if err != nil {
				return nil, fmt.Errorf("bad Content-Length %q", val)
			}
			n = v
		}
	}
	bodyStart := end + 4
	if bodyStart+n > len(b) {
		return nil, fmt.Errorf("body shorter than Content-Length %d", n)
	}
	out := make([]byte, bodyStart+n)
	copy(out, b[:bodyStart+n])
	return out, nil
}
