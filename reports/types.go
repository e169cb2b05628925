package reports

import (
	"time"
)

// Op names an operation with a latency histogram.
type Op string

// The operations measured, in microseconds.
const (
	OpSignIn             Op = "signin"                // REGISTER sent -> channel INVITE answered (whole sign-in)
	OpRegister           Op = "register"              // REGISTER + provisioning SUBSCRIBE
	OpLookup             Op = "lookup"                // lookup flow until the channel URI is known
	OpChannelInvite      Op = "channel_invite"        // INVITE to the channel service -> 200
	OpJoin               Op = "join"                  // cmd:join/bjoin -> rpl
	OpPostAck            Op = "post_ack"              // post intended time -> INFO answered 200
	OpPostToDelivery     Op = "post_to_delivery"      // post intended time -> each delivery
	OpPostToLastDelivery Op = "post_to_last_delivery" // post intended time -> last delivery (fan-out completion)
	OpHistory            Op = "history"               // cmd:bccontext -> rpl
	OpSearch             Op = "search"                // cmd:chansrch -> rpl
	OpPart               Op = "part"                  // cmd:part -> rpl (churn)
	OpSchedLag           Op = "sched_lag"             // intended time -> operation started (the generator's own lag)
)

// Ops lists every operation in report order.
var Ops = []Op{OpSignIn, OpRegister, OpLookup, OpChannelInvite, OpJoin, OpPostAck, OpPostToDelivery, OpPostToLastDelivery, OpHistory, OpSearch, OpPart, OpSchedLag}

// Counter names (a counter may also be "sip.<code>" per SIP response
// status, or "violations.<rule>" per protocol rule).
const (
	CounterDropped       = "dropped_sends"          // operations that could not start on time
	CounterTimeouts      = "timeouts"               // SIP transactions that timed out
	CounterRetransmits   = "retransmissions"        // requests re-sent over UDP
	CounterErrors        = "errors"                 // operations that failed (any reason)
	CounterViolations    = "conformance_violations" // protocol violations (all rules)
	CounterSkipped       = "skipped"                // operations whose user was not online
	CounterPosts         = "posts"                  // posts acknowledged
	CounterDeliveries    = "deliveries"             // grpchat deliveries received
	CounterNotices       = "notices"                // ntc notices received
	CounterSignInFailed  = "signin_failed"
	CounterRejectedPosts = "rejected_posts" // posts the server refused with an error reply
)

// OpSummary is one operation's latency summary; times in microseconds.
type OpSummary struct {
	Count int64   `json:"count"`
	Rate  float64 `json:"rate_per_s"` // count / run duration
	Min   int64   `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p99_9_us"`
	Max   int64   `json:"max_us"`
}

// Delivery is the delivery accounting of a set of posts.
type Delivery struct {
	Posts      int64 `json:"posts"`        // posts sent and acknowledged
	Expected   int64 `json:"expected"`     // deliveries expected: members online at post time, author included
	Received   int64 `json:"received"`     // expected deliveries that arrived
	Lost       int64 `json:"lost"`         // expected deliveries that never arrived
	Duplicated int64 `json:"duplicated"`   // deliveries of a post a member already had
	OutOfOrder int64 `json:"out_of_order"` // deliveries after a post that was sent after them was acknowledged
	Spoofed    int64 `json:"spoofed"`      // deliveries whose author is not the poster
	Extra      int64 `json:"extra"`        // deliveries to members not expected (joining or leaving around the post)
}

// RoomDelivery is one room's accounting.
type RoomDelivery struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
	Delivery
}

// Generator is what the load generator saw of itself.
type Generator struct {
	CPUSeconds     float64  `json:"cpu_seconds"`      // process CPU (includes the embedded server)
	CPUUtilization float64  `json:"cpu_utilization"`  // CPU seconds / (wall seconds * GOMAXPROCS)
	SchedLagP99    int64    `json:"sched_lag_p99_us"` // dispatch lag of the generator's own scheduler
	GoSchedP99     int64    `json:"go_sched_p99_us"`  // Go runtime run-queue latency p99
	GCPauseTotal   float64  `json:"gc_pause_seconds"` // total stop-the-world pause
	GCPauseMax     float64  `json:"gc_pause_max_seconds"`
	HeapPeakBytes  uint64   `json:"heap_peak_bytes"`
	Valid          bool     `json:"valid"`
	InvalidReasons []string `json:"invalid_reasons,omitempty"`
	EmbeddedServer bool     `json:"embedded_server"`
	GOMAXPROCS     int      `json:"gomaxprocs"`
}

// ThresholdResult is one threshold's evaluation.
type ThresholdResult struct {
	Expr   string  `json:"expr"`   // as written
	Metric string  `json:"metric"` // e.g. post_to_last_delivery.p99
	Actual float64 `json:"actual"` // in the metric's unit (µs for latencies)
	Pass   bool    `json:"pass"`
	Detail string  `json:"detail"` // e.g. "p99 412ms < 500ms"
}

// Verdict values.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"          // a threshold failed
	VerdictNonconf = "nonconformant" // protocol violations
	VerdictInvalid = "invalid"       // the generator, not the server, was the bottleneck
	VerdictAborted = "aborted"       // stopped before the end (Ctrl-C)
)

// Summary is the end-of-run summary, written as summary.json.
type Summary struct {
	Scenario   string            `json:"scenario"`
	Shard      string            `json:"shard"` // "i/N", "1/1" for an unsplit run
	Target     string            `json:"target"`
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end"`
	Seconds    float64           `json:"seconds"`
	Users      Users             `json:"users"`
	Ops        map[Op]OpSummary  `json:"ops"`
	Counters   map[string]int64  `json:"counters"`
	Delivery   Delivery          `json:"delivery"`
	Rooms      []RoomDelivery    `json:"rooms"`
	Generator  Generator         `json:"generator"`
	Thresholds []ThresholdResult `json:"thresholds"`
	Verdict    string            `json:"verdict"`
	Reasons    []string          `json:"reasons,omitempty"` // why the verdict is not pass
	Aborted    bool              `json:"aborted,omitempty"`
}

// Users counts the simulated users.
type Users struct {
	Planned    int `json:"planned"`
	SignedIn   int `json:"signed_in"`
	Failed     int `json:"failed"`
	PeakOnline int `json:"peak_online"`
}
