package sipnet

import (
	"bytes"
	"fmt"
)

// frame finds the first SIP message in a stream buffer. skip is the number
// of leading CR/LF bytes (keep-alives) to discard before the message; n is
// the length of the message after them, 0 when more bytes are needed. err is
// set when the stream cannot be framed any more: no header end within max
// bytes, two Content-Length headers that differ (ErrMalformed), or a
// Content-Length that makes the message larger than max (ErrTooLarge). The
// connection must then be closed (after an answer, see refuseFraming).
//
// A message without Content-Length is taken to have an empty body, and bare
// LF line ends are accepted, so that a malformed message still frames and
// can be answered 400 instead of wedging the stream. One pass over the
// header lines finds both the blank line and Content-Length.
func frame(buf []byte, max int) (skip, n int, err error) { return frameWith(buf, max, false) }

// frameWith is frame; lenient (for connections the endpoint dialed, whose
// peer is the server it chose) frames a message over max as long as its
// Content-Length is within 16 times max, for the caller to refuse and
// skip, instead of failing the stream.
func frameWith(buf []byte, max int, lenient bool) (skip, n int, err error) {
	for skip < len(buf) && (buf[skip] == '\r' || buf[skip] == '\n') {
		skip++
	}
	b := buf[skip:]
	if len(b) == 0 {
		return skip, 0, nil
	}
	clen, pos, hdrEnd, seen := 0, 0, -1, false
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			if len(b) > max {
				return skip, 0, fmt.Errorf("%w: no end of headers within %d bytes", ErrMalformed, max)
			}
			return skip, 0, nil
		}
		line := b[pos : pos+i]
		next := pos + i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			hdrEnd = next
			break
		}
		if pos > 0 {
			if c := line[0] | 0x20; c == 'c' || c == 'l' {
				if v, ok := contentLengthLine(line); ok {
					if seen && v != clen {
						return skip, 0, fmt.Errorf("%w: conflicting Content-Length headers (%d and %d)", ErrMalformed, clen, v)
					}
					clen, seen = v, true
				}
			}
		}
		pos = next
		if pos > max {
			return skip, 0, fmt.Errorf("%w: no end of headers within %d bytes", ErrMalformed, max)
		}
	}
	total := hdrEnd + clen
	if total > max && (!lenient || clen > 16*max) {
		// refused before its body is buffered: a peer announcing a large
		// body holds no more memory than the limit
		return skip, 0, fmt.Errorf("%w: Content-Length %d makes a message of %d bytes, over the limit of %d", ErrTooLarge, clen, total, max)
	}
	if len(b) < total {
		return skip, 0, nil
	}
	return skip, total, nil
}

// contentLengthLine reads a "Content-Length: N" (or "l: N") line.
func contentLengthLine(line []byte) (int, bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return 0, false
	}
	if headerKind(bytes.TrimSpace(line[:colon])) != hContentLength {
		return 0, false
	}
	digits := bytes.TrimSpace(line[colon+1:])
	if len(digits) == 0 || len(digits) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
