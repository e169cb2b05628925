// Package swarm is gcload's load engine: it turns a scenario into a
// deterministic Plan (users, rooms, memberships, and the schedule of every
// operation, from the scenario's seed), then runs it in an open model
// against a server: operations are due at their intended times, latency
// is measured from the intended time, and operations that cannot start on
// time are dropped and counted. Every post carries a marker so that each
// delivery is accounted for (expected, received, lost, duplicated, out of
// order, spoofed). The plan splits deterministically into shards so that
// several machines can share one scenario; shard results merge exactly.
package swarm

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/xccos"
)

// MaxOps bounds a plan's size (about 32 bytes an operation).
const MaxOps = 50_000_000

// SignInSettle is how long after its planned sign-in a user is taken to be
// online when the plan picks the actor of an operation (at run time an
// operation whose user is not online yet is skipped and counted).
const SignInSettle = time.Second

// Kind is the kind of a planned operation.
type Kind uint8

// Kinds of operation.
const (
	KindSignIn Kind = iota + 1
	KindPost
	KindHistory
	KindSearch
	KindPart
	KindRejoin
	// KindUpload only names the arrivals of uploads: a planned upload is
	// a KindPost with File set (a file post is accounted like a message).
	KindUpload
	KindDownload
	KindMsgSearch
	// KindManage: a room's manager (its first member) changes its
	// membership with cmd:chanupd.
	KindManage
)

// DownloadSettle: a download is planned only of a file whose upload was
// due at least this long before (at run time a file whose post this shard
// has not received yet is skipped and counted).
const DownloadSettle = 2 * time.Second

func (k Kind) String() string {
	switch k {
	case KindSignIn:
		return "signin"
	case KindPost:
		return "post"
	case KindHistory:
		return "history"
	case KindSearch:
		return "search"
	case KindPart:
		return "part"
	case KindRejoin:
		return "rejoin"
	case KindUpload:
		return "upload"
	case KindDownload:
		return "download"
	case KindMsgSearch:
		return "msgsrch"
	case KindManage:
		return "manage"
	}
	return "unknown"
}

// Op is one planned operation.
type Op struct {
	At    time.Duration // intended time, from the start of the run
	Kind  Kind
	Story bool
	// File marks a post that is a file upload (Size in bytes).
	File bool
	// Spoof: a post sent with a forged author (posts.spoofed)
	Spoof bool
	Phase uint8
	User  int32 // the acting user
	Room  int32 // post, history, part, rejoin, download, msgsrch by room: the room
	Index int32 // post: index of the post in its room, from 0; download: the file post's; manage: the room's change, from 0
	Size  int32 // post: text size in characters; file post: bytes
}

// Room is a planned room.
type Room struct {
	ID      string
	URI     string
	Class   int
	Members []int32 // user indices
	Posts   int32   // posts planned in the room
}

// Phase is a planned phase.
type Phase struct {
	Name       string
	Start, End time.Duration
}

// Plan is everything a run will do, derived from the scenario and its seed.
type Plan struct {
	Spec     *scenarios.Spec
	Domain   string
	Users    []string // addresses of record
	Rooms    []Room
	UserRoom [][]int32       // rooms of each user
	SignInAt []time.Duration // planned sign-in of each user; -1: never
	Ops      []Op            // sorted by At
	Phases   []Phase
	Duration time.Duration // end of the last phase
	// RunTag marks this scenario's posts: recipients ignore posts of
	// other scenarios.
	RunTag string
	// PostOp indexes Ops by room and post index.
	PostOp [][]int32
	// Skipped counts operations the plan could not place (no user online).
	Skipped int
	roomIdx map[string]int32
}

// NewPlan builds the plan of a validated, defaulted scenario.
func NewPlan(s *scenarios.Spec) (*Plan, error) {
	p := &Plan{Spec: s, Domain: s.Target.Domain, roomIdx: map[string]int32{}}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", s.Name, s.Seed)
	p.RunTag = strconv.FormatUint(h.Sum64()&0xffffffff, 36)
	n := s.Users.Count
	p.Users = make([]string, n)
	for i := range p.Users {
		p.Users[i] = "sip:" + s.Users.Prefix + strconv.Itoa(i) + "@" + p.Domain
	}
	if err := p.planRooms(); err != nil {
		return nil, err
	}
	if err := p.planOps(); err != nil {
		return nil, err
	}
	return p, nil
}

func rngFor(seed int64, stream string) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, stream)
	v := h.Sum64()
	return rand.New(rand.NewPCG(v, v^0x9e3779b97f4a7c15))
}

// planRooms creates the rooms of every class and spreads the users over
// them: each room takes the next Size users of a cycle over the users
// (in order, or over a seeded permutation), so users get rooms evenly.
func (p *Plan) planRooms() error {
	s := p.Spec
	n := len(p.Users)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	if s.Rooms.Spread == scenarios.SpreadShuffled {
		r := rngFor(s.Seed, "spread")
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	p.UserRoom = make([][]int32, n)
	cursor := 0
	for ci, c := range s.Rooms.Classes {
		if c.Size > n {
			return fmt.Errorf("swarm: room class %s: %d members but %d users", c.Name, c.Size, n)
		}
		for j := 0; j < c.Count; j++ {
			id := c.Name + "-" + strconv.Itoa(j)
			ri := int32(len(p.Rooms))
			r := Room{ID: id, URI: xccos.ChanURI(p.Domain, id), Class: ci, Members: make([]int32, c.Size)}
			for k := range r.Members {
				u := order[cursor]
				cursor = (cursor + 1) % n
				r.Members[k] = u
				p.UserRoom[u] = append(p.UserRoom[u], ri)
			}
			p.roomIdx[r.URI] = ri
			p.Rooms = append(p.Rooms, r)
		}
	}
	return nil
}

// RoomIndex returns the index of a room URI, or -1.
func (p *Plan) RoomIndex(uri string) int32 {
	if i, ok := p.roomIdx[uri]; ok {
		return i
	}
	return -1
}

// arrivals returns the arrival times of a process from from: those before
// to, at most limit of them (limit < 0: no limit). A constant process
// arrives at from, from+1/rate, ...; a Poisson one after exponential gaps.
func arrivals(r *rand.Rand, a scenarios.Arrival, from, to time.Duration, limit int) []time.Duration {
	rate := a.Rate.PerSecond()
	if rate <= 0 || to <= from || limit == 0 {
		return nil
	}
	var out []time.Duration
	gap := float64(time.Second) / rate
	t := float64(from)
	for k := 0; ; k++ {
		if a.Process == scenarios.Poisson {
			t += r.ExpFloat64() * gap
		} else {
			t = float64(from) + float64(k)*gap
		}
		if t >= float64(to) {
			return out
		}
		out = append(out, time.Duration(t))
		if len(out) == limit || len(out) > MaxOps {
			return out
		}
	}
}

// sizeOf draws a text size, at most a story's limit unless s.Max says.
func sizeOf(r *rand.Rand, s scenarios.Size) int32 { return sizeIn(r, s, xccos.StorySizeLimit) }

// sizeIn draws a size of s, between 1 (or s.Min) and limit (or s.Max).
func sizeIn(r *rand.Rand, s scenarios.Size, limit int) int32 {
	var v float64
	switch s.Dist {
	case scenarios.SizeUniform:
		v = float64(s.Min) + r.Float64()*float64(s.Max-s.Min+1)
	case scenarios.SizeNormal:
		v = r.NormFloat64()*s.StdDev + s.Mean
	case scenarios.SizeLognormal:
		// mean and stddev of the size itself
		m, sd := s.Mean, s.StdDev
		sigma2 := math.Log(1 + sd*sd/(m*m))
		mu := math.Log(m) - sigma2/2
		v = math.Exp(mu + math.Sqrt(sigma2)*r.NormFloat64())
	default:
		v = float64(s.Value)
	}
	lo, hi := 1.0, float64(limit)
	if s.Min > 0 {
		lo = float64(s.Min)
	}
	if s.Max > 0 {
		hi = float64(s.Max)
	}
	return int32(math.Round(math.Max(lo, math.Min(hi, v))))
}

type awayKey struct{ user, room int32 }

// planOps schedules every operation of every phase: each phase's
// sign-ins, then its other operations (candidates at their arrival times,
// each given a room and a user online), then every post's index.
func (p *Plan) planOps() error {
	pl := newPlanner(p)
	var t time.Duration
	for pi, ph := range p.Spec.Phases {
		start := t
		end := pl.signIns(pi, ph, start, t+pl.durs[pi])
		p.Phases = append(p.Phases, Phase{Name: ph.Name, Start: start, End: end})
		cands := pl.candidates(ph, start, end)
		if len(p.Ops)+len(cands) > MaxOps {
			return fmt.Errorf("swarm: the plan has over %d operations; shorten the phases or lower the rates", MaxOps)
		}
		for _, c := range cands {
			pl.place(pi, ph, c)
		}
		t = end
	}
	p.Duration = t
	p.indexPosts()
	return nil
}

// planner is planOps's state: the random sources (drawn from in a fixed
// order, so that the plan is the same on every machine), the rooms by
// class, who signs in next and who is away from which room until when.
type planner struct {
	p            *Plan
	durs         []time.Duration
	shares       []float64
	byClass      [][]int32
	rPick, rSize *rand.Rand
	rSpoof       *rand.Rand // its own stream: the rest of a plan does not change with posts.spoofed
	away         map[awayKey]time.Duration
	next         int // next user to sign in
	// files[room]: the room's planned file posts, in time order
	// allFiles are the file posts planned, in time order
	allFiles []plannedFile
	// manages counts each room's membership changes planned
	manages []int32
}

type plannedFile struct {
	at          time.Duration
	room, index int32
}

// cand is an operation to place: its arrival time and kind.
type cand struct {
	at   time.Duration
	kind Kind
}

func newPlanner(p *Plan) *planner {
	s := p.Spec
	p.SignInAt = make([]time.Duration, len(p.Users))
	for i := range p.SignInAt {
		p.SignInAt[i] = -1
	}
	pl := &planner{p: p, durs: s.PhaseDurations(), shares: p.classShares(), byClass: make([][]int32, len(s.Rooms.Classes)),
		rPick: rngFor(s.Seed, "pick"), rSize: rngFor(s.Seed, "size"), rSpoof: rngFor(s.Seed, "spoof"), away: map[awayKey]time.Duration{}, manages: make([]int32, len(p.Rooms))}
	for i, r := range p.Rooms {
		pl.byClass[r.Class] = append(pl.byClass[r.Class], int32(i))
	}
	return pl
}

// signIns schedules the phase's sign-ins from start and returns the
// phase's end: end, or later when a phase bounded by its users (no
// duration) lasts until the last of them signed in.
func (pl *planner) signIns(pi int, ph scenarios.Phase, start, end time.Duration) time.Duration {
	if ph.SignIn == nil {
		return end
	}
	p, n := pl.p, len(pl.p.Users)
	to := end
	if ph.Duration == 0 {
		// bounded by the users: every remaining user signs in, and the
		// phase lasts until the last one did
		to = math.MaxInt64
	}
	for _, at := range arrivals(rngFor(p.Spec.Seed, "signin/"+ph.Name), *ph.SignIn, start, to, n-pl.next) {
		p.SignInAt[pl.next] = at
		p.Ops = append(p.Ops, Op{At: at, Kind: KindSignIn, User: int32(pl.next), Phase: uint8(pi)})
		pl.next++
		end = max(end, at+time.Millisecond)
	}
	return end
}

// candidates are the phase's posts, history fetches, searches and parts
// at their arrival times, in time order.
func (pl *planner) candidates(ph scenarios.Phase, start, end time.Duration) []cand {
	var cands []cand
	add := func(a *scenarios.Arrival, kind Kind) {
		if a == nil {
			return
		}
		for _, at := range arrivals(rngFor(pl.p.Spec.Seed, kind.String()+"/"+ph.Name), *a, start, end, -1) {
			cands = append(cands, cand{at, kind})
		}
	}
	if ph.Posts != nil {
		add(&ph.Posts.Arrival, KindPost)
	}
	if ph.History != nil {
		add(&ph.History.Arrival, KindHistory)
	}
	if ph.Search != nil {
		add(&ph.Search.Arrival, KindSearch)
	}
	if ph.Churn != nil {
		add(&ph.Churn.Arrival, KindPart)
	}
	if ph.Uploads != nil {
		add(&ph.Uploads.Arrival, KindUpload)
	}
	if ph.Downloads != nil {
		add(&ph.Downloads.Arrival, KindDownload)
	}
	if ph.MessageSearch != nil {
		add(&ph.MessageSearch.Arrival, KindMsgSearch)
	}
	if ph.Manage != nil {
		add(ph.Manage, KindManage)
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(a.at, b.at) })
	return cands
}

// signedBy is the number of users whose settle time passed by at (users
// sign in in order).
func (pl *planner) signedBy(at time.Duration) int {
	lo, hi := 0, pl.next
	for lo < hi {
		m := (lo + hi) / 2
		if pl.p.SignInAt[m]+SignInSettle <= at {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// place gives an operation a room and a user online (a part its rejoin),
// or counts it skipped when there is none.
func (pl *planner) place(pi int, ph scenarios.Phase, c cand) {
	p := pl.p
	online := pl.signedBy(c.at)
	if online == 0 {
		p.Skipped++
		return
	}
	isAway := func(u, room int32) bool { return pl.away[awayKey{u, room}] > c.at }
	switch c.kind {
	case KindPost:
		room, user, ok := p.pickPoster(pl.rPick, pl.shares, pl.byClass, online, isAway)
		if !ok {
			p.Skipped++
			return
		}
		story := ph.Posts.Stories > 0 && pl.rSize.Float64() < ph.Posts.Stories
		size := ph.Posts.Size
		if story {
			size = ph.Posts.StorySize
		}
		idx := p.Rooms[room].Posts
		p.Rooms[room].Posts++
		spoof := ph.Posts.Spoofed > 0 && pl.rSpoof.Float64() < ph.Posts.Spoofed
		p.Ops = append(p.Ops, Op{At: c.at, Kind: KindPost, User: user, Room: room, Index: idx, Size: sizeOf(pl.rSize, size), Story: story, Spoof: spoof, Phase: uint8(pi)})
	case KindHistory, KindPart:
		u := int32(pl.rPick.IntN(online))
		rooms := p.UserRoom[u]
		if len(rooms) == 0 {
			p.Skipped++
			return
		}
		room := rooms[pl.rPick.IntN(len(rooms))]
		if isAway(u, room) {
			p.Skipped++
			return
		}
		p.Ops = append(p.Ops, Op{At: c.at, Kind: c.kind, User: u, Room: room, Phase: uint8(pi)})
		if c.kind == KindPart {
			back := c.at + ph.Churn.Away.D()
			pl.away[awayKey{u, room}] = back + SignInSettle
			p.Ops = append(p.Ops, Op{At: back, Kind: KindRejoin, User: u, Room: room, Phase: uint8(pi)})
		}
	case KindSearch:
		p.Ops = append(p.Ops, Op{At: c.at, Kind: KindSearch, User: int32(pl.rPick.IntN(online)), Room: -1, Phase: uint8(pi)})
	case KindUpload:
		room, user, ok := p.pickPoster(pl.rPick, pl.shares, pl.byClass, online, isAway)
		if !ok {
			p.Skipped++
			return
		}
		idx := p.Rooms[room].Posts
		p.Rooms[room].Posts++
		pl.allFiles = append(pl.allFiles, plannedFile{c.at, room, idx})
		p.Ops = append(p.Ops, Op{At: c.at, Kind: KindPost, File: true, User: user, Room: room, Index: idx, Size: sizeIn(pl.rSize, ph.Uploads.Size, scenarios.MaxFileSize), Phase: uint8(pi)})
	case KindDownload:
		// a file posted at least DownloadSettle before, in any room, then
		// a member of its room online: picking the user first would leave
		// most downloads unplaced when few rooms hold files (a model with
		// thousands of rooms and a file post now and then)
		n, _ := slices.BinarySearchFunc(pl.allFiles, c.at-DownloadSettle+1, func(f plannedFile, t time.Duration) int { return cmp.Compare(f.at, t) })
		if n == 0 {
			p.Skipped++
			return
		}
		f := pl.allFiles[pl.rPick.IntN(n)]
		ms := p.Rooms[f.room].Members
		for range 8 {
			u := ms[pl.rPick.IntN(len(ms))]
			if int(u) < online && !isAway(u, f.room) {
				p.Ops = append(p.Ops, Op{At: c.at, Kind: KindDownload, User: u, Room: f.room, Index: f.index, Phase: uint8(pi)})
				return
			}
		}
		p.Skipped++
	case KindMsgSearch:
		u := int32(pl.rPick.IntN(online))
		room := int32(-1)
		if ph.MessageSearch.By == scenarios.SearchRoom {
			rooms := p.UserRoom[u]
			if len(rooms) == 0 {
				p.Skipped++
				return
			}
			room = rooms[pl.rPick.IntN(len(rooms))]
			if isAway(u, room) {
				p.Skipped++
				return
			}
		}
		p.Ops = append(p.Ops, Op{At: c.at, Kind: KindMsgSearch, User: u, Room: room, Phase: uint8(pi)})
	case KindManage:
		// a room whose manager is online: a few tries at random
		for range 8 {
			room := int32(pl.rPick.IntN(len(p.Rooms)))
			if ms := p.Rooms[room].Members; len(ms) > 0 && int(ms[0]) < online {
				idx := pl.manages[room]
				pl.manages[room]++
				p.Ops = append(p.Ops, Op{At: c.at, Kind: KindManage, User: ms[0], Room: room, Index: idx, Phase: uint8(pi)})
				return
			}
		}
		p.Skipped++
	}
}

// indexPosts sorts the operations by time and records where each room's
// posts are (PostOp).
func (p *Plan) indexPosts() {
	slices.SortStableFunc(p.Ops, func(a, b Op) int { return cmp.Compare(a.At, b.At) })
	p.PostOp = make([][]int32, len(p.Rooms))
	for i, r := range p.Rooms {
		p.PostOp[i] = make([]int32, r.Posts)
	}
	for i, op := range p.Ops {
		if op.Kind == KindPost {
			p.PostOp[op.Room][op.Index] = int32(i)
		}
	}
}

// classShares returns each class's share of post traffic.
func (p *Plan) classShares() []float64 {
	cs := p.Spec.Rooms.Classes
	out := make([]float64, len(cs))
	given := true
	for _, c := range cs {
		given = given && c.PostShare != nil
	}
	total := 0
	for _, c := range cs {
		total += c.Count
	}
	for i, c := range cs {
		if given {
			out[i] = *c.PostShare
		} else {
			out[i] = float64(c.Count) / float64(total)
		}
	}
	return out
}

// pickPoster picks a room by class share, then a member of it who is
// online (signed in and settled, not away).
func (p *Plan) pickPoster(r *rand.Rand, shares []float64, byClass [][]int32, online int, away func(u, room int32) bool) (room, user int32, ok bool) {
	for try := 0; try < 16; try++ {
		x, ci := r.Float64(), 0
		for ci < len(shares)-1 && x >= shares[ci] {
			x -= shares[ci]
			ci++
		}
		if len(byClass[ci]) == 0 {
			continue
		}
		room = byClass[ci][r.IntN(len(byClass[ci]))]
		ms := p.Rooms[room].Members
		for k := 0; k < 8; k++ {
			u := ms[r.IntN(len(ms))]
			if p.SignInAt[u] >= 0 && int(u) < online && !away(u, room) {
				return room, u, true
			}
		}
	}
	return 0, 0, false
}

// Shard is a part of a plan: the users i where i % N == Index-1.
type Shard struct {
	Index, Of int // 1-based: shard 2 of 3
}

// ParseShard parses "i/N".
func ParseShard(s string) (Shard, error) {
	var sh Shard
	if _, err := fmt.Sscanf(s, "%d/%d", &sh.Index, &sh.Of); err != nil || sh.Of < 1 || sh.Index < 1 || sh.Index > sh.Of {
		return Shard{}, fmt.Errorf("swarm: shard %q: want i/N with 1 <= i <= N", s)
	}
	return sh, nil
}

func (s Shard) String() string {
	if s.Of == 0 {
		return "1/1"
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Of)
}

// Owns reports whether the shard runs user u.
func (s Shard) Owns(u int32) bool {
	if s.Of <= 1 {
		return true
	}
	return int(u)%s.Of == s.Index-1
}

// ErrEmptyShard is returned when a shard has no users.
var ErrEmptyShard = errors.New("swarm: the shard has no users")

// Counts returns the number of planned operations of each kind that a
// shard performs.
func (p *Plan) Counts(sh Shard) map[Kind]int {
	m := map[Kind]int{}
	for _, op := range p.Ops {
		if sh.Owns(op.User) {
			m[op.Kind]++
		}
	}
	return m
}
