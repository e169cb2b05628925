package coordinate

import "time"

// The protocol's paths. Every request but healthz and register carries
// the session the coordinator gave at registration, as
// "Authorization: Bearer SESSION"; register carries the run's token when
// the coordinator has one.
const (
	PathHealth    = "/v1/healthz"   // GET: counts of shards by state (no authentication)
	PathRegister  = "/v1/register"  // POST registerRequest → registerResponse
	PathClock     = "/v1/clock"     // POST clockRequest → clockResponse
	PathReady     = "/v1/ready"     // POST offsetRequest: the start offset; the shard waits for the start
	PathStart     = "/v1/start"     // GET (long poll) → startResponse (200), 202 still waiting, 410 never
	PathHeartbeat = "/v1/heartbeat" // POST heartbeatRequest → heartbeatResponse (200), 410 declared dead
	PathOffset    = "/v1/offset"    // POST offsetRequest: the offset at the end of the run
	PathResults   = "/v1/results"   // PUT application/gzip: the results folder as a tar.gz
	PathFail      = "/v1/fail"      // POST failRequest: the shard gives up, with why
)

// maxJSON bounds a request's JSON body.
const maxJSON = 64 << 10

// pollWindow is how long GET /v1/start waits before answering 202 (the
// shard asks again): short enough for proxies and load balancers that cut
// idle requests.
const pollWindow = 20 * time.Second

type registerRequest struct {
	Index        int    `json:"index"`
	Of           int    `json:"of,omitempty"`
	Host         string `json:"host"`
	Version      string `json:"version"`
	ScenarioHash string `json:"scenario_hash"`
}

type registerResponse struct {
	Session            string `json:"session"`
	Shards             int    `json:"shards"`
	HeartbeatMS        int64  `json:"heartbeat_ms"`
	HeartbeatTimeoutMS int64  `json:"heartbeat_timeout_ms"`
}

type clockRequest struct {
	T0 int64 `json:"t0"` // unix nanoseconds, shard clock
}

type clockResponse struct {
	T0 int64 `json:"t0"`
	T1 int64 `json:"t1"` // unix nanoseconds, coordinator clock
	T2 int64 `json:"t2"`
}

// wireSample is the kept exchange as the shard reports it; the
// coordinator checks T1 and T2 against those it handed out and computes
// the offset itself.
type wireSample struct {
	T0      int64 `json:"t0"`
	T1      int64 `json:"t1"`
	T2      int64 `json:"t2"`
	T3      int64 `json:"t3"`
	Samples int   `json:"samples"`
}

type offsetRequest struct {
	Sample wireSample `json:"sample"`
}

type startResponse struct {
	Start  time.Time `json:"start"`
	Offset Offset    `json:"offset"`
}

type heartbeatRequest struct {
	State string `json:"state"`
}

type heartbeatResponse struct {
	// Abort, when set, asks the shard to stop its load and send what it
	// has (the coordinator was interrupted).
	Abort string `json:"abort,omitempty"`
}

type failRequest struct {
	Error string `json:"error"`
}

type uploadResponse struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

type errorResponse struct {
	Error string `json:"error"`
}

// Health is what GET /v1/healthz answers.
type Health struct {
	Shards  int           `json:"shards"`
	States  map[State]int `json:"states"`
	Started bool          `json:"started"`
	Start   *time.Time    `json:"start,omitempty"`
	Missing []int         `json:"missing,omitempty"`
}
