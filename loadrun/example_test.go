package loadrun_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/scenarios"
)

// A complete load test from Go: six users in one room sign in to the
// embedded reference server (no target is given), post for two seconds
// and every delivery is accounted for. The Result holds what gcload run
// prints and writes; Output.Dir would write it as a results folder.
func Example() {
	const scenario = `
name: example
seed: 1
users: {count: 6}
rooms:
  classes: [{name: room, size: 6, count: 1}]
phases:
  - name: signin
    signin: {rate: 50/s, arrival: constant}
  - name: steady
    duration: 2s
    posts: {rate: 5/s}
drain: 500ms
thresholds: [lost == 0, duplicated == 0]
`
	spec, _, err := scenarios.Parse("example.yaml", []byte(scenario), nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := loadrun.Run(ctx, spec, loadrun.Options{})
	if err != nil {
		log.Fatal(err)
	}
	s := res.Summary
	fmt.Println("verdict:", s.Verdict)
	fmt.Println("signed in:", s.Users.SignedIn, "of", s.Users.Planned)
	fmt.Println("lost:", s.Delivery.Lost, "duplicated:", s.Delivery.Duplicated)
	fmt.Println("every delivery received:", s.Delivery.Expected > 0 && s.Delivery.Received == s.Delivery.Expected)
	// Output:
	// verdict: pass
	// signed in: 6 of 6
	// lost: 0 duplicated: 0
	// every delivery received: true
}
