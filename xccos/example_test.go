package xccos_test

import (
	"errors"
	"fmt"

	"github.com/gcload/gcload/xccos"
)

func ExampleParse() {
	body := []byte(`<xccos ver="1" envid="1009" xmlns="urn:parlano:xml:ns:xccos">` +
		`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:alice@example.com" ts="2010-09-14T14:26:17.6206356Z">` +
		`<chat>fish &amp; chips?</chat></grpchat></xccos>`)
	env, err := xccos.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	it := env.Items[0]
	fmt.Println(env.EnvID, it.Kind, it.Chat.Author)
	fmt.Println(it.Chat.TS.Format("2006-01-02 15:04:05.0000000"), it.Chat.Text)

	// A malformed command still yields its envid, so the error reply can
	// be addressed.
	env, err = xccos.Parse([]byte(`<xccos ver="1" envid="42" xmlns="urn:parlano:xml:ns:xccos"><cmd id="rpl:join"/></xccos>`))
	fmt.Println(errors.Is(err, xccos.ErrBadID), env.EnvID)
	fmt.Println(err)
	// Output:
	// 1009 grpchat sip:alice@example.com
	// 2010-09-14 14:26:17.6206356 fish & chips?
	// true 42
	// xccos: offset 64: <cmd> id "rpl:join" does not start with "cmd:"
}

func ExampleNewCommand() {
	join := xccos.NewCommand(1100549431, "bjoin", &xccos.Data{
		ChanIDs: []xccos.ChanID{{Key: "0", Domain: "example.com", Value: "room1"}},
	})
	fmt.Printf("%s\n", join.Marshal())

	ok := xccos.NewReply(1001, "bjoin", 1100549431, 200, "", &xccos.Data{
		Users: []xccos.UIB{{ID: "0", URI: "sip:alice@example.com"}},
		Channels: []xccos.ChanIB{{
			URI:          xccos.ChanURI("example.com", "room1"),
			Affiliations: []xccos.AIB{{Key: xccos.AffMember, Value: "0"}},
		}},
	})
	fmt.Printf("%s\n", ok.Marshal())
	// Output:
	// <xccos ver="1" envid="1100549431" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:bjoin" seqid="1"><data><chanid key="0" domain="example.com" value="room1"/></data></cmd></xccos>
	// <xccos ver="1" envid="1001" xmlns="urn:parlano:xml:ns:xccos"><rpl id="rpl:bjoin" seqid="1"><commandid seqid="1" envid="1100549431"/><resp code="200">SUCCESS_OK</resp><data><uib id="0" uri="sip:alice@example.com"/><chanib uri="ma-chan://example.com/room1"><aib key="3984" value="0"/></chanib></data></rpl></xccos>
}

func ExampleAppendChat() {
	buf := make([]byte, 0, 512) // reused for every delivery
	c := xccos.Chat{ChanURI: "ma-chan://example.com/room1", Author: "sip:bob@example.com", TSRaw: "2026-11-21T21:42:34Z", Text: "hi"}
	buf = xccos.AppendChat(buf[:0], 1009, &c)
	fmt.Printf("%s\n", buf)
	// Output:
	// <xccos ver="1" envid="1009" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:bob@example.com" ts="2026-11-21T21:42:34Z"><chat>hi</chat></grpchat></xccos>
}
