package capacity_test

import (
	"fmt"
	"log"
	"math"

	"github.com/gcload/gcload/capacity"
)

// A capacity estimate from a small calibration held in memory: runs at
// four room sizes on one and two cores, from a server that spends
// 40 µs + 5 µs per delivery of CPU on each post and flushes its disk once
// per post. Fit recovers that line; Predict maps the model onto the
// reference hardware profile for rooms of 150 members: each resource's
// limit, and the one that binds (the synchronous commits, since no run
// showed the server batching them).
func Example() {
	cal := capacity.Calibration{
		Version: capacity.CalibrationVersion,
		Micro:   capacity.Micro{HotPathDeliveryUs: 5, FsyncMeanUs: 2000, FsyncP99Us: 6000},
	}
	for _, k := range []int{10, 30, 150, 1000} {
		for _, cores := range []int{1, 2} {
			for _, load := range []float64{0.3, 0.6} {
				cpuPerPost := (40 + 5*float64(k)) * 1e-6 // seconds
				rate := load * float64(cores) / cpuPerPost
				cal.Measurements = append(cal.Measurements, capacity.Measurement{
					Name: fmt.Sprintf("k%d-c%d-l%.1f", k, cores, load), RoomSize: k, Cores: cores,
					OfferedPostsPerSec: rate, AchievedPostsPerSec: rate, DeliveriesPerSec: rate * float64(k),
					UsersOnline: 4 * k, WallSeconds: 60, ServerCPUSeconds: rate * 60 * cpuPerPost,
					Fsyncs: int64(rate * 60), WireBytesPerPost: 600, WireBytesPerDelivery: 700,
					MemBytesPerUser: 40000, MemBytesPerJoinedRoom: 1000,
					Latency: capacity.Latency{PostAckP50: 2400, PostAckP99: 6500,
						PostLastDeliveryP50: 2400 + 5*float64(k), PostLastDeliveryP99: 6500 + 10*float64(k)},
					GeneratorValid: true,
				})
			}
		}
	}
	m, err := capacity.Fit(cal)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("CPU per post: %.0f µs + %.1f µs per delivery\n", m.CPU.A, m.CPU.B)

	profile, _ := capacity.BuiltinProfile("ocs-r2-reference")
	p, err := capacity.Predict(cal, profile, capacity.SingleSize(150), capacity.DefaultObjective())
	if err != nil {
		log.Fatal(err)
	}
	b := p.MaxPostsPerSec
	fmt.Println("max posts/s bounded by:", p.PostsBinding)
	for _, c := range p.Constraints {
		fmt.Printf("  %-9s %6.0f posts/s\n", c.Resource, c.MaxPostsPerSec.Mid)
	}
	fmt.Println("band ordered (low ≤ mid ≤ high):", b.Low <= b.Mid && b.Mid <= b.High)
	fmt.Println("deliveries/s = 150 × posts/s:", math.Abs(p.MaxDeliveriesPerSec.Mid-150*b.Mid) < 1e-6*b.Mid)
	// Output:
	// CPU per post: 40 µs + 5.0 µs per delivery
	// max posts/s bounded by: disk-sync
	//   cpu         3376 posts/s
	//   disk-sync    204 posts/s
	//   disk-iops    340 posts/s
	//   nic         1184 posts/s
	//   ram         +Inf posts/s
	// band ordered (low ≤ mid ≤ high): true
	// deliveries/s = 150 × posts/s: true
}
