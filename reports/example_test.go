package reports_test

import (
	"fmt"
	"os"
	"time"

	"github.com/gcload/gcload/reports"
)

func ExampleRecorder() {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := reports.NewRecorder(start, time.Second)
	for i := 1; i <= 100; i++ {
		rec.Record(reports.OpPostAck, time.Duration(i)*time.Millisecond)
		rec.Add(reports.CounterPosts, 1)
	}
	rec.Tick(start.Add(time.Second))

	res := rec.Result(reports.Summary{Start: start, End: start.Add(time.Second), Seconds: 1})
	th, err := reports.ParseThreshold("post_ack.p99 < 500ms")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := th.Eval(&res.Summary, res.Hists)
	fmt.Println(r.Pass, r.Detail)
	// Output: true p99 99.01ms < 500ms
}

func ExampleNewProgress() {
	p := reports.NewProgress(os.Stdout, false, time.Minute, 0)
	p.Update(reports.Snapshot{Elapsed: 30 * time.Second, Phase: "steady", UsersOnline: 990, UsersPlanned: 1000,
		PostsPerSec: 40, DeliveriesPerSec: 39600, P99PostToDelivery: 85 * time.Millisecond, HasP99: true})
	p.Done()
	// Output: 00:30/01:00 steady  users 990/1,000  posts 40.0/s  deliveries 39,600/s  p99 delivery 85ms  errors 0  dropped 0  violations 0
}
