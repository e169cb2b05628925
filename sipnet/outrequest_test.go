package sipnet

import (
	"context"
	"testing"
	"time"
)

// TestBeginRequest: an OutRequest goes out as a well-formed request that
// sipgo's full parser reads back with every header the caller set, and an
// INVITE sent this way can be cancelled (its transaction keeps what the
// CANCEL repeats).
func TestBeginRequest(t *testing.T) {
	t.Parallel()
	got := make(chan *Message, 4)
	_, cli, c := pair(t, TCP, func(tx *ServerTx) {
		got <- tx.Msg
		switch tx.Msg.Method {
		case "INVITE":
			_ = tx.Reply(Reply{Code: 183, Reason: "Session Progress"})
		default:
			_ = tx.Respond(200, "OK")
		}
	}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := &OutRequest{
		Method: "REGISTER", URI: "sip:example.com",
		From: "<sip:alice@example.com>;tag=t1;epid=e1", To: "<sip:alice@example.com>",
		CallID: "call-1", CSeq: 7,
		Headers:     []Header{{Name: "Event", Value: "registration"}, {Name: "Supported", Value: "a"}, {Name: "Supported", Value: "b"}},
		ContentType: "text/plain", Body: []byte("hello"),
	}
	res, err := cli.DoRequest(ctx, c, reg)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	m := <-got
	if m.Method != "REGISTER" || m.RequestURI != "sip:example.com" || m.CallID != "call-1" || m.CSeq != 7 || m.CSeqMethod != "REGISTER" ||
		m.FromTag != "t1" || m.ToTag != "" || m.ContentType != "text/plain" || string(m.Body) != "hello" {
		t.Fatalf("scanned %+v", m)
	}
	if v := m.Headers("Supported"); len(v) != 2 || v[0] != "a" || v[1] != "b" {
		t.Fatalf("Supported %q", v)
	}
	p, err := m.Parse()
	if err != nil {
		t.Fatalf("sipgo cannot parse what BeginRequest sent: %v\n%s", err, m.Raw)
	}
	if p.CallID().Value() != "call-1" || p.From().Params.GetOr("epid", "") != "e1" {
		t.Fatalf("sipgo read %s", m.Raw)
	}

	inv := &OutRequest{Method: "INVITE", URI: "sip:gcs1@example.com", From: "<sip:alice@example.com>;tag=t2", To: "<sip:gcs1@example.com>", CallID: "call-2", CSeq: 1}
	tx, err := cli.BeginRequest(c, inv)
	if err != nil {
		t.Fatal(err)
	}
	if p := <-tx.Responses(); p.StatusCode != 183 {
		t.Fatalf("provisional %d", p.StatusCode)
	}
	ctx2, err := tx.Cancel()
	if err != nil {
		t.Fatal(err)
	}
	if cres, err := ctx2.Wait(ctx); err != nil || cres.StatusCode != 200 {
		t.Fatalf("CANCEL: %v %v", cres, err)
	}
	if fin, err := tx.Wait(ctx); err != nil || fin.StatusCode != 487 {
		t.Fatalf("INVITE after CANCEL: %v %v", fin, err)
	}
}
