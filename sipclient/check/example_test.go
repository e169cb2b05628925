package check_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/sipclient/check"
)

// Part of the conformance suite against the reference server started
// in-process, with rooms the suite makes through the server's admin API:
// the SIP, lookup, access and disabled-room rules pass; the same server
// with a deliberate fault (its lookup service always hands out the first
// channel service) fails the rule about it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conform := func(faults fault.Set, rules ...string) {
		srv, err := embedded.Start(ctx, embedded.Options{Domain: "example.com", Admin: true,
			Options: []refserver.Option{refserver.WithChannels(2), refserver.WithFaults(faults)}})
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Close()
		tg := check.Target{Target: srv.Target(), ChannelServices: 2}
		for i := range 4 {
			tg.Users = append(tg.Users, fmt.Sprintf("sip:user%d@example.com", i))
		}
		sel, err := check.SelectRules(rules)
		if err != nil {
			log.Fatal(err)
		}
		rep, err := check.Run(ctx, tg, check.Options{Rules: sel})
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range rep.Results {
			fmt.Println(r.Status, r.ID)
		}
		fmt.Println("failed:", rep.Failed())
	}
	conform(fault.Set{}, "sip/", "lookup/", "flow/", "access/", "room/")
	conform(fault.Set{}.With(fault.NoRoundRobin), "lookup/")
	// Output:
	// pass sip/keepalive-crlf
	// pass sip/transaction-match
	// pass sip/no-branch
	// pass lookup/requri-uri
	// pass lookup/round-robin
	// pass flow/cancel-487
	// pass access/closed-room-403
	// pass room/disabled-409
	// failed: false
	// pass lookup/requri-uri
	// fail lookup/round-robin
	// failed: true
}
