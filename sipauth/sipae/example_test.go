package sipae_test

import (
	"fmt"
	"strings"

	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/sipae"
)

// The three-step NTLM sign-in of MS-SIPAE and a signed message each way,
// with both sides in one process. In a registrar the header values travel
// in the 401s and REGISTERs; Fields come from each message
// (Fields.SetMessage).
func Example() {
	store := accounts.NewStore("example.com")
	_ = store.Add(accounts.Credential{URI: "sip:alice@example.com", Password: "wonderland"})
	srv, _ := sipae.NewServer(sipae.ServerConfig{TargetName: "gc.example.com", Lookup: store.NTLM})

	// 1. REGISTER without credentials: 401 with the offer.
	offer := srv.Offer()
	fmt.Println("401 WWW-Authenticate:", offer)

	// 2. REGISTER asking for the NTLM challenge: 401 with it.
	cli := sipae.NewClient(sipae.ClientConfig{User: "alice@example.com", Password: "wonderland"})
	step2, _ := cli.Begin(offer)
	reg := &sipae.Fields{CallID: "c1", CSeqNum: "2", CSeqMethod: "REGISTER", FromURI: "sip:alice@example.com", FromTag: "t1", ToURI: "sip:alice@example.com"}
	_, challenge, _ := srv.Authorize(step2, reg)
	fmt.Println("401 carries an NTLM CHALLENGE:", strings.Contains(challenge.String(), `gssapi-data="TlRMTVNTUAACAAAA`))

	// 3. REGISTER with the AUTHENTICATE: signed in.
	reg.CSeqNum = "3"
	step3, csa, _ := cli.Continue(*challenge, reg)
	ssa, _, err := srv.Authorize(step3, reg)
	fmt.Println("signed in as", ssa.User, err)

	// Every later message is signed by its sender and verified by the other side.
	info := &sipae.Fields{CallID: "d1", CSeqNum: "7", CSeqMethod: "INFO", FromURI: "sip:alice@example.com", FromTag: "t2", ToURI: "sip:gcs1@example.com"}
	_, _, err = srv.Authorize(string(csa.Sign(nil, info)), info)
	fmt.Println("client's INFO verifies:", err == nil)
	ok := *info
	ok.ToTag, ok.Status = "t3", 200
	err = csa.Verify(string(ssa.Sign(nil, &ok)), &ok)
	fmt.Println("server's 200 verifies:", err == nil)
	// Output:
	// 401 WWW-Authenticate: NTLM realm="SIP Communications Service", targetname="gc.example.com", version=3
	// 401 carries an NTLM CHALLENGE: true
	// signed in as alice@example.com <nil>
	// client's INFO verifies: true
	// server's 200 verifies: true
}
