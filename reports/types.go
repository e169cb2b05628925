package reports

import (
	"time"
)

// Op names an operation with a latency histogram.
type Op string

// The operations measured, in microseconds. Latency is measured from an
// operation's intended time (the open model's response time: the
// generator's own lag counts); each operation the dispatcher starts has a
// twin with the suffix _service measured from the moment its request was
// actually sent (the service time: the wire and the server only).
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
	OpFileUpload         Op = "file_upload"           // upload intended time -> 201 (getfutok, HTTP upload, file post durable)
	OpFileDownload       Op = "file_download"         // download intended time -> last byte (getfdtok, HTTP download)
	OpFilePostToDelivery Op = "file_post_to_delivery" // upload intended time -> each delivery of the file post
	OpMessageSearch      Op = "message_search"        // cmd:msgsrch -> rpl
	OpManage             Op = "manage"                // a manager's cmd:chanupd -> rpl (membership change)
	OpReconnect          Op = "reconnect"             // session lost -> signed in again through another server and rejoined

	OpSignInService             Op = "signin_service"                // first request sent -> channel INVITE answered
	OpPostAckService            Op = "post_ack_service"              // post sent -> INFO answered 200
	OpPostToDeliveryService     Op = "post_to_delivery_service"      // post sent -> each delivery
	OpPostToLastDeliveryService Op = "post_to_last_delivery_service" // post sent -> last delivery
	OpHistoryService            Op = "history_service"               // cmd:bccontext sent -> rpl
	OpSearchService             Op = "search_service"                // cmd:chansrch sent -> rpl
	OpPartService               Op = "part_service"                  // cmd:part sent -> rpl
	OpFileUploadService         Op = "file_upload_service"           // getfutok sent -> 201
	OpFileDownloadService       Op = "file_download_service"         // getfdtok sent -> last byte
	OpMessageSearchService      Op = "message_search_service"        // cmd:msgsrch sent -> rpl
	OpManageService             Op = "manage_service"                // cmd:chanupd sent -> rpl
)

// Ops lists every operation in report order: each response time, then
// its service time.
var Ops = []Op{
	OpSignIn, OpSignInService, OpRegister, OpLookup, OpChannelInvite, OpJoin,
	OpPostAck, OpPostAckService, OpPostToDelivery, OpPostToDeliveryService, OpPostToLastDelivery, OpPostToLastDeliveryService,
	OpHistory, OpHistoryService, OpSearch, OpSearchService, OpPart, OpPartService,
	OpFileUpload, OpFileUploadService, OpFilePostToDelivery, OpFileDownload, OpFileDownloadService,
	OpMessageSearch, OpMessageSearchService, OpManage, OpManageService, OpSchedLag, OpReconnect,
}

// Counter names (a counter may also be "sip.<code>" per SIP response
// status, or "violations.<rule>" per protocol rule).
const (
	CounterDropped       = "dropped_sends"          // operations that could not start on time
	CounterTimeouts      = "timeouts"               // SIP transactions that timed out, and commands whose reply did not come in time
	CounterRetransmits   = "retransmissions"        // requests re-sent over UDP
	CounterErrors        = "errors"                 // operations that failed (any reason)
	CounterViolations    = "conformance_violations" // protocol violations (all rules)
	CounterSkipped       = "skipped"                // operations whose user was not online
	CounterPosts         = "posts"                  // posts acknowledged
	CounterDeliveries    = "deliveries"             // grpchat deliveries received
	CounterNotices       = "notices"                // ntc notices received
	CounterSignInFailed  = "signin_failed"          // sign-ins that failed (the server refused, timed out, or could not be reached)
	CounterRejectedPosts = "rejected_posts"         // posts the server refused with an error reply
	CounterSpoofedSent   = "spoofed_sent"           // posts sent with a forged author (posts.spoofed): a server must refuse them
	CounterSessionsLost  = "sessions_lost"          // channel sessions the server ended or whose connection closed
	CounterLateReplies   = "late_replies"           // answers and replies that came after the client's timeout
	CounterOutOfFiles    = "out_of_files"           // connections the generator could not open for lack of file descriptors (its own limit)
	// reconnection (scenario reconnect:)
	CounterReconnected     = "reconnected"      // lost sessions whose user signed in again and rejoined
	CounterReconnectFailed = "reconnect_failed" // lost sessions whose user could not come back (every try failed)
	CounterSkippedOffline  = "skipped_offline"  // operations whose user was signing in again after a lost session
	CounterRecovered       = "recovered"        // posts a user missed while offline and found in history after rejoining
	// from the delivery accounting
	CounterIncompleteFanouts = "incomplete_fanouts"    // posts some expected member never got
	CounterWrongRoom         = "deliveries_wrong_room" // deliveries of a post in a room it was not posted to
	CounterForeign           = "deliveries_foreign"    // deliveries of posts of another run
	// from the compliance cross-check (reference servers, docs/compliance.md)
	CounterComplianceChecked = "compliance_checked" // acknowledged posts, joins, parts and history views looked for in the archive
	CounterComplianceMissing = "compliance_missing" // acknowledged ones the archive lacks
	CounterComplianceExtra   = "compliance_extra"   // archive records beyond what was acknowledged or left unanswered
)

// Compliance is the cross-check of a reference server's compliance archive
// at the end of a run: every acknowledged post, join, part and history view
// of the run's users must be in it exactly once.
type Compliance struct {
	Checked int64 `json:"checked"`
	Missing int64 `json:"missing"`
	Extra   int64 `json:"extra"`
	// Examples are a few of the findings, for people.
	Examples []string `json:"examples"`
	// Error says why the check could not be done (the run then fails).
	Error string `json:"error,omitempty"`
}

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
	// MissedOffline counts posts due to a member while it was offline (its
	// session lost, until it signed in again and rejoined) that it found in
	// the room's history afterwards; one it found neither live nor there
	// is lost (and expected).
	MissedOffline int64 `json:"missed_offline"`
}

// RoomDelivery is one room's accounting.
type RoomDelivery struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
	// Status is RoomClean, RoomProblems or NotExercised (no post was
	// expected to reach anyone in the room).
	Status string `json:"status,omitempty"`
	Delivery
}

// Room statuses, and the status of a rule or room that saw no traffic.
const (
	RoomClean    = "clean"         // deliveries expected, none lost, duplicated, out of order or spoofed
	RoomProblems = "problems"      // some delivery was lost, duplicated, out of order or spoofed
	NotExercised = "not_exercised" // nothing happened that could have broken it
)

// StatusOf returns the room's status from its accounting.
func (r *RoomDelivery) StatusOf() string {
	switch {
	case r.Lost+r.Duplicated+r.OutOfOrder+r.Spoofed > 0:
		return RoomProblems
	case r.Expected == 0 && r.Received == 0:
		return NotExercised
	}
	return RoomClean
}

// RuleStatus is a conformance rule's outcome in a run: how many messages
// (or posts) it was checked on and how many broke it.
type RuleStatus struct {
	Rule       string `json:"rule"`
	Checks     int64  `json:"checks"`
	Violations int64  `json:"violations"`
	// Status is RulePass, RuleFail or NotExercised (no check and no
	// violation: nothing the rule is about was seen).
	Status string `json:"status"`
}

// Rule statuses (besides NotExercised).
const (
	RulePass = "pass"
	RuleFail = "fail"
)

// RuleStatusOf returns the status of a rule checked checks times with
// violations violations.
func RuleStatusOf(checks, violations int64) string {
	switch {
	case violations > 0:
		return RuleFail
	case checks == 0:
		return NotExercised
	}
	return RulePass
}

// ErrorKind is one kind of error of a run, as k6 groups them: the
// operation and the cause, how many, and the first one seen.
type ErrorKind struct {
	Op    string `json:"op"`    // the operation: register, post, history, ...
	Cause string `json:"cause"` // connection refused, timeout, SIP 503, XCCOS 403, ...
	Count int64  `json:"count"`
	// First is the message of the first error of the kind, FirstAt when
	// it happened, in seconds from the run's start.
	First   string  `json:"first"`
	FirstAt float64 `json:"first_at_s"`
}

// PhaseSummary is one phase of a run: when it ran and what was done in
// it, with rates over the phase's own duration (a sign-in phase of 2 s at
// 25/s shows 25/s, not 50 sign-ins averaged over the whole run). The last
// entry of Summary.Phases is the drain (Drain set, Name DrainPhase): the
// time after the last phase until the run's end, when deliveries in
// flight still arrive.
type PhaseSummary struct {
	Name    string  `json:"name"`
	StartS  float64 `json:"start_s"` // from the run's start
	Seconds float64 `json:"seconds"`
	Drain   bool    `json:"drain"`
	// Counts and Rates: completed operations of the phase by name (the
	// operations of Ops, and deliveries), each counted in the phase of
	// its intended time (deliveries: when received), and the counts per
	// second over Seconds.
	Counts map[string]int64   `json:"counts"`
	Rates  map[string]float64 `json:"rates_per_s"`
	// Intervals is how many intervals of the run's time series belong to
	// the phase (an interval belongs to the phase its midpoint falls in:
	// see Result.RecomputePhases) and IntervalSeconds the time they
	// cover. Ops and Counters are theirs.
	Intervals       int     `json:"intervals"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// Ops is the latency summary per operation of the samples recorded in
	// the phase's intervals, from their merged histograms (exact, as
	// Summary.Ops), with rates over IntervalSeconds.
	Ops map[Op]OpSummary `json:"ops"`
	// Counters are the counters' increments in the phase's intervals.
	Counters map[string]int64 `json:"counters"`
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
	InvalidReasons []string `json:"invalid_reasons"`
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
	// VerdictUnreachable: the target could not be reached, or no work
	// was done at all (no user could sign in).
	VerdictUnreachable = "unreachable"
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
	// Phases are the phases as run, with their own rates.
	Phases []PhaseSummary `json:"phases"`
	// Rules are the conformance rules the run checked as it went, with
	// their status (a rule nothing exercised is not_exercised).
	Rules []RuleStatus `json:"rules"`
	// Errors are the run's errors grouped by operation and cause, most
	// frequent first.
	Errors  []ErrorKind `json:"errors"`
	Verdict string      `json:"verdict"`
	Reasons []string    `json:"reasons"` // why the verdict is not pass
	Aborted bool        `json:"aborted,omitempty"`
	// AbortReason says what stopped an aborted run (an interrupt, the
	// --deadline).
	AbortReason string `json:"abort_reason,omitempty"`
	// Stopped says why the run stopped before its scheduled end, when it
	// was not interrupted: the target could not be reached, every early
	// sign-in failed, or every session was lost (the target went away).
	Stopped string `json:"stopped,omitempty"`
	// Compliance is the compliance archive's cross-check, when the run
	// asked for it (a threshold names compliance_missing or
	// compliance_extra).
	Compliance *Compliance `json:"compliance,omitempty"`
	// Unreachable: the target could not be reached or no work was done
	// (VerdictUnreachable).
	Unreachable bool `json:"unreachable,omitempty"`
	// Clock is a coordinated shard's clock against the coordinator's
	// (gcload run --coordinator), measured before the start: the instants
	// in its results are on the coordinator's clock.
	Clock *ClockOffset `json:"clock,omitempty"`
	// Shards are the shards of a merged run (gcload merge, gcload
	// coordinate), 1 to N, with their state and clock offsets: a shard
	// that is dead or missing did not contribute its planned work, and
	// the run does not pass.
	Shards []ShardStatus `json:"shards,omitempty"`
	// ClockWarning, when set, says that the shards' clock offsets are too
	// uncertain for the delivery latencies reported (docs/distributed.md).
	ClockWarning string `json:"clock_warning,omitempty"`
	// Servers counts what happened on each server of the target (users
	// spread over several, or a pool's servers users were sent to).
	Servers []ServerCounts `json:"servers,omitempty"`
}

// ServerCounts are one server's share of a run, by the server each user
// was on when it happened.
type ServerCounts struct {
	Server string `json:"server"` // HOST:PORT
	// Users counts sign-ins that ended on this server (a user moved there
	// by the lookup service counts where its channel session is).
	Users      int64 `json:"users"`
	Posts      int64 `json:"posts"`      // posts of its users acknowledged
	Deliveries int64 `json:"deliveries"` // deliveries its users received
	Errors     int64 `json:"errors"`     // operations of its users that failed
	// SessionsLost and Reconnected: its users' sessions lost, and users
	// who came back through it after losing theirs.
	SessionsLost int64 `json:"sessions_lost"`
	Reconnected  int64 `json:"reconnected"`
	// CPUSeconds is the server process's CPU time during the run, when
	// gcload started it (an embedded pool); 0 otherwise.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// Killed: the run killed it (target.embedded.kill).
	Killed bool `json:"killed,omitempty"`
}

// Users counts the simulated users.
type Users struct {
	Planned    int `json:"planned"`
	SignedIn   int `json:"signed_in"`
	Failed     int `json:"failed"`
	PeakOnline int `json:"peak_online"`
}

// withEmptyLists returns s with its nil lists and maps empty, so that
// summary.json has [] and {} where a list or an object is meant, never
// null.
func (s Summary) withEmptyLists() Summary {
	s.Ops = orEmptyMap(s.Ops)
	s.Counters = orEmptyMap(s.Counters)
	s.Rooms = orEmpty(s.Rooms)
	s.Thresholds = orEmpty(s.Thresholds)
	s.Rules = orEmpty(s.Rules)
	s.Errors = orEmpty(s.Errors)
	s.Reasons = orEmpty(s.Reasons)
	s.Generator.InvalidReasons = orEmpty(s.Generator.InvalidReasons)
	phases := make([]PhaseSummary, len(s.Phases))
	for i, p := range s.Phases {
		p.Counts, p.Rates = orEmptyMap(p.Counts), orEmptyMap(p.Rates)
		p.Ops, p.Counters = orEmptyMap(p.Ops), orEmptyMap(p.Counters)
		phases[i] = p
	}
	s.Phases = phases
	return s
}

func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func orEmptyMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
