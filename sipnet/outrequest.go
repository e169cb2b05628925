package sipnet

import (
	"context"
	"strconv"
)

// OutRequest is an out-of-dialog request (REGISTER, SUBSCRIBE, a
// dialog-creating INVITE) that BeginRequest renders straight into bytes:
// the sign-in path of a simulated user, which builds several of them per
// user and need not go through sipgo's message model.
type OutRequest struct {
	Method, URI string
	// From and To are the header values as sent: a name-addr with its
	// parameters ("<sip:alice@example.com>;tag=1a2b;epid=3c").
	From, To string
	CallID   string
	CSeq     uint32
	// Headers go after CSeq, in order (never Via, Max-Forwards,
	// Content-Type or Content-Length, which BeginRequest writes).
	Headers     []Header
	ContentType string
	Body        []byte
}

// appendTo renders r with the topmost Via of c and branch br.
func (r *OutRequest) appendTo(dst []byte, c *Conn, br Branch) []byte {
	dst = r.appendLine(dst)
	return r.appendRest(appendVia(dst, c, br))
}

// AppendFields renders r as it will be sent but with a placeholder Via:
// what Scan needs to give the fields a signature covers (sipae.Fields)
// before the request is sent.
func (r *OutRequest) AppendFields(dst []byte) []byte {
	dst = r.appendLine(dst)
	return r.appendRest(append(dst, "Via: SIP/2.0/TCP 0.0.0.0;branch=z9hG4bKfields\r\n"...))
}

func (r *OutRequest) appendLine(dst []byte) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.URI...)
	return append(dst, " SIP/2.0\r\n"...)
}

func (r *OutRequest) appendRest(dst []byte) []byte {
	dst = append(dst, "Max-Forwards: 70\r\nFrom: "...)
	dst = append(dst, r.From...)
	dst = append(dst, "\r\nTo: "...)
	dst = append(dst, r.To...)
	dst = append(dst, "\r\nCall-ID: "...)
	dst = append(dst, r.CallID...)
	dst = append(dst, "\r\nCSeq: "...)
	dst = strconv.AppendUint(dst, uint64(r.CSeq), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Method...)
	dst = append(dst, "\r\n"...)
	for _, h := range r.Headers {
		dst = appendHeader(dst, h.Name, h.Value)
	}
	if r.ContentType != "" {
		dst = appendHeader(dst, "Content-Type", r.ContentType)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, r.Body...)
}

// BeginRequest sends r on c as a new client transaction, like Begin, and
// signs it with c's Security when it has one.
func (ep *Endpoint) BeginRequest(c *Conn, r *OutRequest) (*ClientTx, error) {
	br := ep.NewBranch()
	raw := c.signRaw(r.appendTo(make([]byte, 0, 512+len(r.Body)), c, br))
	tx := ep.newClientTx(c, br, r.Method, true)
	if r.Method == "INVITE" {
		via := appendVia(nil, c, br)
		tx.inv = &inviteInfo{
			ruri: r.URI, via: string(via[len("Via: ") : len(via)-2]), from: r.From, to: r.To,
			callID: r.CallID, cseq: r.CSeq,
		}
	}
	if err := ep.start(tx, raw); err != nil {
		return nil, err
	}
	return tx, nil
}

// DoRequest sends r and waits for its final response.
func (ep *Endpoint) DoRequest(ctx context.Context, c *Conn, r *OutRequest) (*Message, error) {
	tx, err := ep.BeginRequest(c, r)
	if err != nil {
		return nil, err
	}
	return tx.Wait(ctx)
}
