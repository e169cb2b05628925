package capacity

import (
	"fmt"
	"math"
)

// truth is a server with known parameters; synth measures it.
type truth struct {
	a, b         float64 // CPU per post a + b·k, µs
	sigma, kappa float64 // USL
	eff          float64 // throughput at saturation / CPU bound
	fsyncUs      float64 // one synchronous commit
	wirePost     float64 // bytes per post
	wireDelivery float64 // bytes per delivery
	memUser      float64 // bytes per user
	memRoom      float64 // bytes per joined room
	baseUs       float64 // latency outside the server
	noise        float64 // relative amplitude of the (deterministic) CPU noise
}

func defaultTruth() truth {
	return truth{a: 40, b: 5, sigma: 0.05, kappa: 0, eff: 0.95, fsyncUs: 2000,
		wirePost: 600, wireDelivery: 700, memUser: 40000, memRoom: 1000, baseUs: 300, noise: 0.02}
}

var (
	synthSizes = []int{10, 30, 150, 1000}
	synthCores = []int{1, 2}
	synthLoads = []float64{0.2, 0.4, 0.6, 0.8, 1.3}
)

// synth runs the sweep sizes × cores × loads (fractions of capacity; above
// 1 saturates) against the truth.
func synth(tr truth, sizes, cores []int, loads []float64) Calibration {
	cal := Calibration{Version: CalibrationVersion, Machine: Machine{Host: "synthetic", LogicalCPUs: 4}}
	cal.Micro = Micro{HotPathDeliveryUs: tr.b, FsyncMeanUs: tr.fsyncUs, FsyncP99Us: 3 * tr.fsyncUs}
	i := 0
	for _, k := range sizes {
		for _, n := range cores {
			d := tr.a + tr.b*float64(k) // µs
			capX := tr.eff * Speedup(float64(n), tr.sigma, tr.kappa) / (d * 1e-6)
			for _, f := range loads {
				offered := f * capX
				achieved := math.Min(offered, capX)
				wall := 60.0
				posts := achieved * wall
				noise := 1 + tr.noise*math.Sin(1.3*float64(i)+0.7)
				perFlush := 1 + achieved*tr.fsyncUs*1e-6
				rho := achieved * d * 1e-6 / (tr.eff * Speedup(float64(n), tr.sigma, tr.kappa))
				fan := tr.b * float64(k) / math.Max(1-rho, 0.02)
				m := Measurement{
					Name:                  fmt.Sprintf("k%d-c%d-l%.1f", k, n, f),
					RoomSize:              k,
					OfferedPostsPerSec:    offered,
					AchievedPostsPerSec:   achieved,
					DeliveriesPerSec:      achieved * float64(k),
					UsersOnline:           4 * k,
					Cores:                 n,
					ServerCPUSeconds:      posts * d * 1e-6 * noise,
					GeneratorCPUSeconds:   posts * d * 1e-6,
					WallSeconds:           wall,
					DiskWriteBytes:        int64(posts * 2000),
					Fsyncs:                int64(math.Round(posts / perFlush)),
					WireBytesPerPost:      tr.wirePost,
					WireBytesPerDelivery:  tr.wireDelivery,
					MemBytesPerUser:       tr.memUser,
					MemBytesPerJoinedRoom: tr.memRoom,
					Latency: Latency{
						PostAckP50:          tr.baseUs + tr.fsyncUs + tr.a,
						PostAckP99:          tr.baseUs + 3*tr.fsyncUs + tr.a/(1-math.Min(rho, 0.98)),
						PostLastDeliveryP50: tr.baseUs + tr.fsyncUs + tr.a + fan,
						PostLastDeliveryP99: tr.baseUs + 3*tr.fsyncUs + tr.a + 2*fan,
					},
					GeneratorValid: true,
				}
				cal.Measurements = append(cal.Measurements, m)
				i++
			}
		}
	}
	return cal
}

// testProfile is the reference profile (8 cores, factor 1/5..1/3..1/2).
func testProfile() Profile {
	p, _ := BuiltinProfile("ocs-r2-reference")
	return p
}
