package scenarios_test

import (
	"fmt"

	"github.com/gcload/gcload/scenarios"
)

func ExampleParse() {
	doc := `name: demo
users: {count: 20}
rooms: {classes: [{size: 10, count: 2}]}
phases:
  - {name: in, signin: {rate: 10/s}}
  - {name: steady, duration: 1m, posts: {rate: 2/s}}
thresholds: [lost == 0]
`
	s, _, err := scenarios.Parse("demo.yaml", []byte(doc), []string{"phases.steady.duration=30s"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.PhaseDurations(), s.TotalDuration(), s.Drain)

	_, _, err = scenarios.Parse("demo.yaml", []byte(doc), []string{"users.count=5", "phases.steady.posts.rate=fast"})
	fmt.Println(err)
	// Output:
	// [2s 30s] 32s 5s
	// demo.yaml:3: rooms.classes[0].size: 10 is more than users.count (5): a room cannot have more distinct members than there are users
	// --set phases.steady.posts.rate: phases[1].posts.rate: "fast" is not a rate (want N/s, N/m, N/h or a number)
}
