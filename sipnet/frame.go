package sipnet

import (
	"bytes"
	"fmt"
	"strconv"
)

// frame finds the first SIP message in a stream buffer. skip is the number
// of leading CR/LF bytes (keep-alives) to discard before the message; n is
// the length of the message after them, 0 when more bytes are needed. err is
// set when the stream cannot be framed any more (no header end within max
// bytes): the connection must then be closed.
//
// A message without Content-Length is taken to have an empty body, and bare
// LF line ends are accepted, so that a malformed message still frames and
// can be answered 400 instead of wedging the stream.
func frame(buf []byte, max int) (skip, n int, err error) {
	for skip < len(buf) && (buf[skip] == '\r' || buf[skip] == '\n') {
		skip++
	}
	b := buf[skip:]
	if len(b) == 0 {
		return skip, 0, nil
	}
	hdrEnd := -1
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		hdrEnd = i + 4
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (hdrEnd < 0 || i+2 < hdrEnd) {
		hdrEnd = i + 2
	}
	if hdrEnd < 0 {
		if len(b) > max {
			return skip, 0, fmt.Errorf("%w: no end of headers within %d bytes", ErrMalformed, max)
		}
		return skip, 0, nil
	}
	clen := contentLength(b[:hdrEnd])
	total := hdrEnd + clen
	if total > max {
		// The body cannot be accepted, but the boundary is known: the
		// caller reads past it once it has arrived.
		if clen > 16*max {
			return skip, 0, fmt.Errorf("%w: Content-Length %d over the limit", ErrMalformed, clen)
		}
	}
	if len(b) < total {
		return skip, 0, nil
	}
	return skip, total, nil
}

// contentLength finds the Content-Length (or compact "l") header in a header
// block; 0 when absent or unreadable.
func contentLength(h []byte) int {
	for len(h) > 0 {
		nl := bytes.IndexByte(h, '\n')
		line := h
		if nl >= 0 {
			line, h = h[:nl], h[nl+1:]
		} else {
			h = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if bytes.EqualFold(name, []byte("content-length")) || bytes.EqualFold(name, []byte("l")) {
			v, err := strconv.Atoi(string(bytes.TrimSpace(line[colon+1:])))
			if err != nil || v < 0 {
				return 0
			}
			return v
		}
	}
	return 0
}
