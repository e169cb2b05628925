package sipclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

// One simulated user against the reference server started in-process:
// it signs in (REGISTER and the provisioning SUBSCRIBE), looks up a
// channel service, opens its session, joins a room and posts; the post
// comes back to its author as a delivery event, and the client checked
// every message the server sent against the protocol rules on the way.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, embedded.Options{Domain: "example.com",
		Rooms: []adminapi.NewRoom{{ID: "eng", Name: "Engineering", Members: []string{"sip:alice@example.com"}}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := sipclient.New(sipclient.Config{User: "sip:alice@example.com", Server: srv.Target().Server()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	if err := c.SignIn(ctx); err != nil {
		log.Fatal(err)
	}
	service, err := c.Lookup(ctx, sipclient.FlowClient)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("channel service:", service)
	if err := c.OpenChannel(ctx, service); err != nil {
		log.Fatal(err)
	}
	room := xccos.ChanURI("example.com", "eng")
	joined, err := c.Join(ctx, room)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("joined:", joined.Rooms[0].URI)
	if _, err := c.Post(ctx, room, "hello, room"); err != nil {
		log.Fatal(err)
	}
	for delivered := false; !delivered; {
		select {
		case ev := <-c.Events():
			if delivered = ev.Kind == sipclient.Delivery; delivered {
				fmt.Printf("%s: %s said %q\n", ev.Kind, ev.Chat.Author, ev.Chat.Text)
			}
		case <-ctx.Done():
			log.Fatal("no delivery")
		}
	}
	fmt.Println("violations:", len(c.Violations()))
	// Output:
	// channel service: sip:gcs1@example.com
	// joined: ma-chan://example.com/eng
	// delivery: sip:alice@example.com said "hello, room"
	// violations: 0
}
