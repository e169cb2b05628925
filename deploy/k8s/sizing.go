package k8s

import (
	"fmt"
	"math"
	"time"

	"github.com/gcload/gcload/scenarios"
)

// The generator's measured costs, from docs/performance.md, which a shard
// pod's resource requests are derived from. Re-measure them with the
// benchmarks named when the generator changes, and update both.
const (
	// MemoryPerUser is the swarm's memory per idle signed-in user: 3,598
	// bytes of heap and stacks per user with 20,000 users signed in and
	// joined (BenchmarkIdleUserMemory in sipclient/swarm:
	// go test -run '^$' -bench IdleUserMemory -benchtime 20000x ./sipclient/swarm/).
	MemoryPerUser = 3598
	// CPUPerDelivery is the swarm's CPU per delivery received and
	// answered: 6.9-7.9 µs in rooms of 1,000 and 8.6-10.6 µs in rooms of
	// 100 (BenchmarkSwarmDelivery in sipclient/swarm:
	// go test -run '^$' -bench SwarmDelivery -benchtime 200000x ./sipclient/swarm/);
	// the top of the range is taken.
	CPUPerDelivery = 10600 * time.Nanosecond
)

// Floors of a shard's requests: not measurements, the least a pod is
// given whatever the scenario, so that a tiny shard still gets a
// schedulable share of a node.
const (
	// BaseMemory is added to the users' memory: the Go runtime, the
	// binary, the plan and the results being written. A floor chosen,
	// not measured.
	BaseMemory = 64 << 20
	// MinMilliCPU is the least CPU request, in thousandths of a core.
	MinMilliCPU = 100
)

// Sizing is a shard's load and the requests derived from it.
type Sizing struct {
	Shards int
	// UsersPerShard is the most users any shard runs (users u with
	// u % N == i−1).
	UsersPerShard int
	// Deliveries is the run's expected deliveries per second in its
	// busiest phase (posts/s × the members of the room posted to, by class
	// share), and DeliveriesPerShard a shard's part of them (its members'
	// deliveries: the members of every room are spread over the shards).
	Deliveries, DeliveriesPerShard float64
	// MemoryBytes and MilliCPU are the requests: BaseMemory + UsersPerShard
	// × MemoryPerUser, and DeliveriesPerShard × CPUPerDelivery (at least
	// MinMilliCPU).
	MemoryBytes int64
	MilliCPU    int64
}

// Size derives a shard's requests from the scenario and the number of
// shards.
func Size(spec *scenarios.Spec, shards int) Sizing {
	s := Sizing{Shards: shards, UsersPerShard: (spec.Users.Count + shards - 1) / shards}
	// members per post: by each class's share of posts
	total := 0
	given := true
	for _, c := range spec.Rooms.Classes {
		total += c.Count
		given = given && c.PostShare != nil
	}
	var members float64
	for _, c := range spec.Rooms.Classes {
		share := float64(c.Count) / float64(max(total, 1))
		if given {
			share = *c.PostShare
		}
		members += share * float64(c.Size)
	}
	for _, p := range spec.Phases {
		if p.Posts != nil {
			s.Deliveries = max(s.Deliveries, p.Posts.Rate.PerSecond()*members)
		}
	}
	s.DeliveriesPerShard = s.Deliveries / float64(shards)
	s.MemoryBytes = BaseMemory + int64(s.UsersPerShard)*MemoryPerUser
	s.MilliCPU = max(MinMilliCPU, int64(math.Ceil(s.DeliveriesPerShard*CPUPerDelivery.Seconds()*1000)))
	return s
}

// Memory is the memory request as a Kubernetes quantity, in whole MiB
// (rounded up).
func (s Sizing) Memory() string { return fmt.Sprintf("%dMi", (s.MemoryBytes+(1<<20)-1)>>20) }

// CPU is the CPU request as a Kubernetes quantity.
func (s Sizing) CPU() string { return fmt.Sprintf("%dm", s.MilliCPU) }

// Explain says how the requests were derived, for the manifests'
// annotations and the docs.
func (s Sizing) Explain() string {
	return fmt.Sprintf("memory %s = %d MiB base + %d users per shard x %d B per user (BenchmarkIdleUserMemory); cpu %s = %.0f deliveries/s per shard x %v per delivery (BenchmarkSwarmDelivery), at least %dm",
		s.Memory(), BaseMemory>>20, s.UsersPerShard, MemoryPerUser, s.CPU(), s.DeliveriesPerShard, CPUPerDelivery, MinMilliCPU)
}
