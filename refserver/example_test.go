package refserver_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

// A reference server on a loopback port with one room and its database
// in a folder of its own; a client signs in, joins the room and posts,
// and the server counts the post it stored and delivered.
func Example() {
	dir, err := os.MkdirTemp("", "refserver-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv, err := refserver.New(ctx,
		refserver.WithDomain("example.com"),
		refserver.WithTCP("127.0.0.1:0"),
		refserver.WithDB(filepath.Join(dir, "gc.db")),
		refserver.WithRooms(store.Room{ID: "eng", Name: "Engineering", Members: []string{"sip:alice@example.com"}}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fmt.Println("lookup service:", srv.LookupURI())

	alice, err := sipclient.New(sipclient.Config{User: "sip:alice@example.com", Server: srv.TCPAddr()})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close(ctx)
	if err := alice.Connect(ctx); err != nil { // sign in, look up a channel service, open the session
		log.Fatal(err)
	}
	room := xccos.ChanURI("example.com", "eng")
	if _, err := alice.Join(ctx, room); err != nil {
		log.Fatal(err)
	}
	if _, err := alice.Post(ctx, room, "hello"); err != nil { // returns once the post is durable
		log.Fatal(err)
	}
	for delivered := false; !delivered; {
		select {
		case ev := <-alice.Events():
			if delivered = ev.Kind == sipclient.Delivery; delivered { // the post's echo
				fmt.Println("delivered to alice:", ev.Chat.Text, "by", ev.Chat.Author)
			}
		case <-ctx.Done():
			log.Fatal("no delivery")
		}
	}
	st := srv.Stats()
	fmt.Println("posts:", st.Channel.Posts, "deliveries:", st.Channel.Deliveries, "stored:", st.Store.Appended)
	// Output:
	// lookup service: sip:ocschat@example.com
	// delivered to alice: hello by sip:alice@example.com
	// posts: 1 deliveries: 1 stored: 1
}
