// Package scenarios is the scenario language of gcload: the Spec a YAML
// scenario file decodes into, its validation (every problem at once, with
// file, line and field), --set overrides, and the scenarios shipped with
// gcload (embedded, so `gcload run scenarios/smoke.yaml` works from any
// directory). The language is documented in docs/scenarios.md and described
// for editors by scenario.schema.json.
package scenarios

import (
	"strings"
	"time"
)

// Spec is a scenario.
type Spec struct {
	// Name names the scenario in reports and results folders.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Seed makes the plan (users, rooms, memberships, the schedule of every
	// operation) deterministic.
	Seed        int64       `yaml:"seed" json:"seed"`
	Target      Target      `yaml:"target" json:"target"`
	Transport   string      `yaml:"transport" json:"transport"` // tcp (default) | tls | udp
	Connections Connections `yaml:"connections" json:"connections"`
	Lookup      Lookup      `yaml:"lookup" json:"lookup"`
	Users       Users       `yaml:"users" json:"users"`
	Rooms       Rooms       `yaml:"rooms" json:"rooms"`
	Phases      []Phase     `yaml:"phases" json:"phases"`
	// Drain is how long the run waits after the last phase for deliveries
	// still in flight before it accounts them (default 5s).
	Drain  Duration `yaml:"drain" json:"drain"`
	Limits Limits   `yaml:"limits" json:"limits"`
	// Reconnect, when set, makes users whose session was lost (their
	// connection closed: a server went away) sign in again, through the
	// next server, rejoin their rooms and catch up through history.
	Reconnect *Reconnect `yaml:"reconnect" json:"reconnect,omitempty"`
	// Thresholds are pass/fail rules on the results, such as
	// "post_to_last_delivery.p99 < 500ms" or "lost == 0".
	Thresholds []string `yaml:"thresholds" json:"thresholds"`
	// Breakpoint, when set (the top-level search: section), makes gcload
	// run do a breakpoint search instead of one run, as --find-max does.
	Breakpoint *Breakpoint `yaml:"search" json:"search,omitempty"`
}

// Rates a breakpoint search can raise (Breakpoint.Raise).
const (
	RaisePosts         = "posts"
	RaiseHistory       = "history"
	RaiseSearch        = "search"
	RaiseMessageSearch = "message_search"
)

// Breakpoint is a scenario's breakpoint search (its top-level search:
// section): the scenario is run again and again with the rate of one
// operation raised (×2 while every rate holds, then bisected) until a
// threshold fails or the server saturates. Zero values take the defaults
// of gcload run --find-max, whose flags override them.
type Breakpoint struct {
	// Raise is the operation whose rate is raised in every phase that
	// has it: posts (default), history, search or message_search.
	Raise string `yaml:"raise" json:"raise,omitempty"`
	// Start is the first rate (default: the scenario's own rate of
	// Raise); MaxRate the highest offered (default: no limit).
	Start   Rate `yaml:"start" json:"start,omitempty"`
	MaxRate Rate `yaml:"max_rate" json:"max_rate,omitempty"`
	// Steps bounds the runs (default 12).
	Steps int `yaml:"steps" json:"steps,omitempty"`
	// Resolution: bisecting stops when the lowest rate that failed is
	// within this fraction above the highest that held (default 0.05).
	Resolution float64 `yaml:"resolution" json:"resolution,omitempty"`
	// ServerCPUs > 0 runs the reference server as a child process limited
	// to that many cores by the cgroup cpu controller (root; embedded
	// target only).
	ServerCPUs float64 `yaml:"server_cpus" json:"server_cpus,omitempty"`
}

// Target is the server under load.
type Target struct {
	// Lookup is the lookup URI (sip:ocschat@domain); empty runs the
	// embedded reference server in-process.
	Lookup string `yaml:"lookup" json:"lookup,omitempty"`
	// Server is host:port to connect to, as a client's server setting;
	// several, comma-separated, spread the users over them (user i signs
	// in to server i mod N, as DNS SRV spreads clients over Front Ends).
	Server string `yaml:"server" json:"server,omitempty"`
	// Domain of the simulated users (default example.com; the lookup
	// URI's domain when a lookup URI is given).
	Domain string `yaml:"domain" json:"domain,omitempty"`
	// Admin is the admin API base URL of a reference server, used to
	// provision the scenario's rooms; empty means the rooms already exist
	// on the target (rooms named as the plan names them).
	Admin string `yaml:"admin" json:"admin,omitempty"`
	// Embedded configures the embedded reference server.
	Embedded Embedded `yaml:"embedded" json:"embedded"`
}

// Embedded configures the in-process reference server.
type Embedded struct {
	Channels int `yaml:"channels" json:"channels"` // channel services (default 1)
	// Auth is how the embedded server signs users in: ntlm (default: what
	// users measure includes the cost real servers pay), digest or none.
	Auth string `yaml:"auth" json:"auth"`
	// NoticeLimit: rooms with more members online send no join/part
	// notices (default 250; 0 = always send).
	NoticeLimit *int `yaml:"notice_limit" json:"notice_limit,omitempty"`
	// NoticeDelay: each room gathers its join/part notices this long and
	// sends one notice naming all who came or went (default 20ms; 0 =
	// one notice per user, at once).
	NoticeDelay *Duration `yaml:"notice_delay" json:"notice_delay,omitempty"`
	// Pool, when above 0, runs an embedded pool instead: that many
	// reference server processes on one PostgreSQL database, DB (a
	// postgres:// URL) or else a throw-away cluster of Debian's
	// postgresql package; users are spread over them. Like the rest of
	// Embedded, it applies only when the target names no server.
	Pool int    `yaml:"pool" json:"pool,omitempty"`
	DB   string `yaml:"db" json:"db,omitempty"`
	// Lookup is how the pool's lookup services choose a channel service:
	// round-robin (default) or least-loaded.
	Lookup string `yaml:"lookup" json:"lookup,omitempty"`
	// Kill kills one server of the pool (SIGKILL) during the run.
	Kill *Kill `yaml:"kill" json:"kill,omitempty"`
}

// Kill is a server of the embedded pool killed during the run.
type Kill struct {
	Server int      `yaml:"server" json:"server"` // 1 to pool
	At     Duration `yaml:"at" json:"at"`         // from the run's start
}

// Reconnect is how users whose session was lost come back.
type Reconnect struct {
	// After is the wait before each attempt (default 500ms).
	After Duration `yaml:"after" json:"after"`
	// Tries bounds the attempts per lost session (default 10).
	Tries int `yaml:"tries" json:"tries"`
	// History is how many of each room's last posts a user fetches once
	// it rejoined, to catch up on what it missed (default 200, at most 500).
	History int `yaml:"history" json:"history"`
}

// Servers returns the addresses of Server, split at commas.
func (t *Target) Servers() []string {
	var out []string
	for _, s := range strings.Split(t.Server, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Connection models.
const (
	PerUser = "per-user" // one connection per simulated user, as real clients
	Shared  = "shared"   // N connections carrying many users' dialogs, as a front end pool
)

// Connections is the connection model.
type Connections struct {
	Model  string `yaml:"model" json:"model"`   // per-user (default) | shared
	Shared int    `yaml:"shared" json:"shared"` // connections in the shared model (default 16)
}

// Lookup flows.
const (
	FlowClient = "client" // INVITE, INFO cmd:requri, BYE (SIPE, Lync)
	FlowCancel = "cancel" // INVITE carrying cmd:requri, 183, CANCEL, 487 (the console)
	FlowMixed  = "mixed"  // users alternate between the two
	FlowDirect = "direct" // no lookup: users INVITE Channel directly
)

// Lookup is how users find their channel service.
type Lookup struct {
	Flow string `yaml:"flow" json:"flow"` // client (default) | cancel | mixed | direct
	// Channel is the channel service URI of the direct flow (default
	// sip:gcs1@DOMAIN).
	Channel string `yaml:"channel" json:"channel,omitempty"`
	// Stay keeps every user on the server it signed in to (its Front End,
	// the one --server gives it) when its channel URI names another server
	// of a pool: it INVITEs that channel service over its one connection,
	// as SIPE does, and the server it is on serves it. Without it, users
	// move to the server their channel URI names (docs/protocol.md,
	// "Pools").
	Stay bool `yaml:"stay" json:"stay,omitempty"`
}

// Users are the simulated users sip:PREFIX0@domain ... sip:PREFIX(N-1)@domain.
type Users struct {
	Count  int    `yaml:"count" json:"count"`
	Prefix string `yaml:"prefix" json:"prefix"` // default "user"
	// Login and Password are patterns of each user's credentials, {i}
	// (or {0}) its number: login "user{i}" (empty: the user's address,
	// as SIPE signs in), password "pass{i}". Accounts is a CSV file of
	// the credentials (uri,user,password) instead. Against the embedded
	// server none is needed: it is given the accounts the users sign in
	// with.
	Login    string `yaml:"login" json:"login,omitempty"`
	Password string `yaml:"password" json:"password,omitempty"`
	Accounts string `yaml:"accounts" json:"accounts,omitempty"`
}

// Spreads: how users are spread over rooms.
const (
	SpreadSequential = "sequential" // rooms take users in order, wrapping around
	SpreadShuffled   = "shuffled"   // the same over a seeded permutation of the users
)

// Rooms are the rooms, as size classes with counts.
type Rooms struct {
	Classes []RoomClass `yaml:"classes" json:"classes"`
	Spread  string      `yaml:"spread" json:"spread"`   // sequential (default) | shuffled
	Privacy string      `yaml:"privacy" json:"privacy"` // closed (default) | open
}

// RoomClass is Count rooms of Size members.
type RoomClass struct {
	// Name prefixes the room ids (NAME-0, NAME-1...); default "rSIZE".
	Name  string `yaml:"name" json:"name,omitempty"`
	Size  int    `yaml:"size" json:"size"`
	Count int    `yaml:"count" json:"count"`
	// PostShare is this class's share of post traffic (default: shares in
	// proportion to the number of rooms; given shares must sum to 1).
	PostShare *float64 `yaml:"post_share" json:"post_share,omitempty"`
}

// Arrival processes.
const (
	Poisson  = "poisson"
	Constant = "constant"
)

// Phase is a stretch of the run with its own rates. A phase with signin
// brings users online at that arrival rate; one with posts, history,
// search or churn runs those operations against the users online.
type Phase struct {
	Name string `yaml:"name" json:"name"`
	// Duration of the phase; a sign-in phase may omit it and lasts until
	// every remaining user signed in (remaining / rate).
	Duration Duration `yaml:"duration" json:"duration"`
	SignIn   *Arrival `yaml:"signin" json:"signin,omitempty"`
	Posts    *Posts   `yaml:"posts" json:"posts,omitempty"`
	History  *History `yaml:"history" json:"history,omitempty"`
	Search   *Search  `yaml:"search" json:"search,omitempty"`
	Churn    *Churn   `yaml:"churn" json:"churn,omitempty"`
	// Uploads are file posts (getfutok, an HTTP upload, the file post
	// fanned out); Downloads fetch files posted earlier (getfdtok, an HTTP
	// download); MessageSearch searches stored posts (msgsrch).
	Uploads       *Uploads       `yaml:"uploads" json:"uploads,omitempty"`
	Downloads     *Downloads     `yaml:"downloads" json:"downloads,omitempty"`
	MessageSearch *MessageSearch `yaml:"message_search" json:"message_search,omitempty"`
	// Manage is membership changes by managers (cmd:chanupd).
	Manage *Arrival `yaml:"manage" json:"manage,omitempty"`
}

// HasManage reports whether a phase has membership changes by managers
// (each room's first member is then made its manager).
func (s *Spec) HasManage() bool {
	for _, p := range s.Phases {
		if p.Manage != nil {
			return true
		}
	}
	return false
}

// Arrival is an arrival process: a rate and its kind.
type Arrival struct {
	Rate    Rate   `yaml:"rate" json:"rate"`
	Process string `yaml:"arrival" json:"arrival"` // poisson (default) | constant
}

// Posts are posts at an arrival rate.
type Posts struct {
	Arrival `yaml:",inline"`
	// Size of a message's text, in characters.
	Size Size `yaml:"size" json:"size"`
	// Stories is the fraction of posts that are stories; StorySize their size.
	Stories   float64 `yaml:"stories" json:"stories"`
	StorySize Size    `yaml:"story_size" json:"story_size"`
	// Spoofed is the fraction of posts sent with a forged author (another
	// member of the room): a server must refuse them; one that delivers
	// them shows as spoofed deliveries.
	Spoofed float64 `yaml:"spoofed" json:"spoofed,omitempty"`
}

// History is history fetches (bccontext) at an arrival rate.
type History struct {
	Arrival `yaml:",inline"`
	Last    int `yaml:"last" json:"last"` // messages per fetch (default 25)
}

// Search is room searches (chansrch) at an arrival rate.
type Search struct {
	Arrival  `yaml:",inline"`
	Criteria string `yaml:"criteria" json:"criteria"` // "" lists every room
}

// HasFiles reports whether a phase uploads or downloads files (an
// embedded server then runs its web service for files).
func (s *Spec) HasFiles() bool {
	for _, p := range s.Phases {
		if p.Uploads != nil || p.Downloads != nil {
			return true
		}
	}
	return false
}

// Uploads are file posts at an arrival rate: a member of a room asks for
// an upload token, sends the file over HTTP, and the server fans the file
// post out to the room like a message.
type Uploads struct {
	Arrival `yaml:",inline"`
	// Size of a file, in bytes (default fixed 100,000; at most
	// MaxFileSize).
	Size Size `yaml:"size" json:"size"`
}

// Downloads are downloads of files posted earlier at an arrival rate: a
// member online in a room that holds a file post (received at least
// DownloadSettle before) asks for a download token and fetches it.
type Downloads struct {
	Arrival `yaml:",inline"`
}

// Message search criteria.
const (
	SearchKeyword = "keyword" // the run's marker prefix: matches this run's posts
	SearchAuthor  = "author"  // the searching user's own posts
	SearchRoom    = "room"    // one room of the user, no other criterion
)

// MessageSearch is searches of stored posts (the msgsrch extension) at an
// arrival rate.
type MessageSearch struct {
	Arrival `yaml:",inline"`
	// By is what to search by: keyword (default), author or room.
	By string `yaml:"by" json:"by"`
	// Limit bounds the posts a search returns (default 25, at most 999).
	Limit int `yaml:"limit" json:"limit"`
}

// Churn is users leaving a room and joining it again after Away.
type Churn struct {
	Arrival `yaml:",inline"`
	Away    Duration `yaml:"away" json:"away"` // default 2s
}

// Size distributions.
const (
	SizeFixed     = "fixed"
	SizeUniform   = "uniform"
	SizeNormal    = "normal"
	SizeLognormal = "lognormal"
)

// Size is a distribution of text sizes in characters.
type Size struct {
	Dist   string  `yaml:"dist" json:"dist"` // fixed (default) | uniform | normal | lognormal
	Value  int     `yaml:"value" json:"value,omitempty"`
	Min    int     `yaml:"min" json:"min,omitempty"`
	Max    int     `yaml:"max" json:"max,omitempty"`
	Mean   float64 `yaml:"mean" json:"mean,omitempty"`
	StdDev float64 `yaml:"stddev" json:"stddev,omitempty"`
}

// Limits bound the generator.
type Limits struct {
	// MaxLag: an operation that cannot start within MaxLag of its intended
	// time is dropped and counted (default 1s).
	MaxLag Duration `yaml:"max_lag" json:"max_lag"`
	// Concurrency bounds operations in flight (default 4096).
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// Timeout bounds one operation (default 30s).
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// PartGrace: a member counts as an expected recipient of a post only if
	// it stayed online until PartGrace after the post was acknowledged
	// (default 2s).
	PartGrace Duration `yaml:"part_grace" json:"part_grace"`
}

// Duration is a time.Duration written as "30s", "10m", "500ms".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Rate is a number of events per second written "40/s", "2400/m", "1/h"
// or a bare number (per second).
type Rate float64

// PerSecond returns the rate as events per second.
func (r Rate) PerSecond() float64 { return float64(r) }
