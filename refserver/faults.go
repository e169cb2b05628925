package refserver

import (
	"bytes"
	"strconv"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/sipnet"
)

// noDialog answers an in-dialog request that matches no dialog: 481, or
// 200 under accept-unknown-dialog.
func (s *Server) noDialog(tx *sipnet.ServerTx) {
	if s.o.faults.Has(fault.AcceptUnknownDialog) {
		_ = tx.Respond(200, "OK")
		return
	}
	_ = tx.Respond(481, "Call/Transaction Does Not Exist")
}

// optionsWrongCSeq renders a 200 to an OPTIONS request whose CSeq number
// is one more than the request's (mismatched-response): the Via, From,
// To, Call-ID lines are the request's, as RFC 3261 8.2.6.2 wants.
func optionsWrongCSeq(m *sipnet.Message) []byte {
	out := []byte("SIP/2.0 200 OK\r\n")
	head := m.Raw
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i]
	}
	lines := bytes.Split(head, []byte("\r\n"))
	for _, l := range lines[1:] {
		name, _, _ := bytes.Cut(l, []byte(":"))
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "via", "v", "from", "f", "call-id", "i":
			out = append(append(out, l...), "\r\n"...)
		case "to", "t":
			out = append(append(out, l...), ";tag=gcload-fault\r\n"...)
		}
	}
	out = append(out, "CSeq: "+strconv.FormatUint(uint64(m.CSeq)+1, 10)+" OPTIONS\r\nContent-Length: 0\r\n\r\n"...)
	return out
}
