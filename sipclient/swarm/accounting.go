package swarm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gcload/gcload/reports"
)

// Post statuses, as the sender saw them.
const (
	postPending  int32 = iota // not sent (yet)
	postAcked                 // answered 200
	postDropped               // could not start on time: never sent
	postFailed                // sent, no 200 (timeout, error status): delivery undefined
	postRejected              // refused by the server with an error reply
	postSkipped               // its sender was not online
)

// accounting is a shard's delivery accounting while a run goes on.
type accounting struct {
	markers markerMemo // the markers of the posts being delivered (marker.go)
	plan    *Plan
	shard   Shard
	posts   []postStat // by post slot (roomBase[room] + index)
	base    []int32    // first post slot of each room
	// member[u][i] is user u's membership of room plan.UserRoom[u][i]
	// (nil rows for other shards' users)
	member [][]memberStat
	rooms  []roomSend // sender side: per room, for this shard's posts
	// deliveries of posts of rooms the recipient does not belong to
	wrongRoom atomic.Int64
	// deliveries with no marker of this run
	foreign atomic.Int64
	// completed, if set, is told each of this shard's posts whose fan-out
	// completed during the run (last delivery - intended time, µs): see
	// ackedLive.
	completed func(micros int64)
}

type postStat struct {
	intended int64 // unix ns
	sent     atomic.Int64
	acked    atomic.Int64
	status   atomic.Int32
	recv     atomic.Int32 // distinct recipients of this shard
	dup      atomic.Int32
	ooo      atomic.Int32
	spoof    atomic.Int32
	first    atomic.Int64
	last     atomic.Int64
	// expect is 1 + the recipients the live fan-out completion waits for
	// (0 until the post is acknowledged); live is set once it completed.
	expect atomic.Int32
	live   atomic.Bool
}

// Interval is a membership interval in Unix nanoseconds; To 0: still online.
type Interval struct{ From, To int64 }

type memberStat struct {
	mu        sync.Mutex
	intervals []Interval
	recv      []uint64 // bit per post index of the room
	maxFloor  []int32  // per sending shard (index shard-1), -1 initially
	// gaps are the times the member was offline between a lost session
	// and its return (reconnect); hist has a bit per post it did not
	// receive live but found in the room's history after it came back
	gaps []Interval
	hist []uint64
}

type roomSend struct {
	mu   sync.Mutex
	next int32 // first post index not resolved (for this shard's posts)
}

func newAccounting(p *Plan, sh Shard) *accounting {
	a := &accounting{plan: p, shard: sh, base: make([]int32, len(p.Rooms)), member: make([][]memberStat, len(p.Users)), rooms: make([]roomSend, len(p.Rooms))}
	total := int32(0)
	for i, r := range p.Rooms {
		a.base[i] = total
		total += r.Posts
	}
	a.posts = make([]postStat, total)
	shards := max(sh.Of, 1)
	for u, rooms := range p.UserRoom {
		if !sh.Owns(int32(u)) {
			continue
		}
		a.member[u] = make([]memberStat, len(rooms))
		for i := range rooms {
			mf := make([]int32, shards)
			for k := range mf {
				mf[k] = -1
			}
			a.member[u][i].maxFloor = mf
		}
	}
	return a
}

// memberOf returns user's membership of room, nil if it has none here.
func (a *accounting) memberOf(user, room int32) *memberStat {
	for i, r := range a.plan.UserRoom[user] {
		if r == room {
			if row := a.member[user]; row != nil {
				return &row[i]
			}
			return nil
		}
	}
	return nil
}

func (a *accounting) post(room, index int32) *postStat {
	return &a.posts[a.base[room]+index]
}

// floor returns, for a post about to be sent, the highest index of its room
// up to which every post of this shard was resolved.
func (a *accounting) floor(room int32) int32 {
	rs := &a.rooms[room]
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ops := a.plan.PostOp[room]
	for rs.next < int32(len(ops)) {
		op := a.plan.Ops[ops[rs.next]]
		if a.shard.Owns(op.User) {
			st := a.post(room, rs.next).status.Load()
			if st == postPending || st == postFailed {
				break
			}
		}
		rs.next++
	}
	return rs.next - 1
}

// joined opens a membership Interval.
func (a *accounting) joined(user, room int32, at time.Time) {
	m := a.memberOf(user, room)
	if m == nil {
		return
	}
	m.mu.Lock()
	if n := len(m.intervals); n == 0 || m.intervals[n-1].To != 0 {
		m.intervals = append(m.intervals, Interval{From: at.UnixNano()})
	}
	m.mu.Unlock()
}

// left closes a membership Interval.
func (a *accounting) left(user, room int32, at time.Time) {
	m := a.memberOf(user, room)
	if m == nil {
		return
	}
	m.mu.Lock()
	if n := len(m.intervals); n > 0 && m.intervals[n-1].To == 0 {
		m.intervals[n-1].To = at.UnixNano()
	}
	m.mu.Unlock()
}

// gap records that user was away from room from a lost session (from)
// until it rejoined (to).
func (a *accounting) gap(user, room int32, from, to time.Time) {
	m := a.memberOf(user, room)
	if m == nil {
		return
	}
	m.mu.Lock()
	m.gaps = append(m.gaps, Interval{From: from.UnixNano(), To: to.UnixNano()})
	m.mu.Unlock()
}

// recovered notes a post user found in a room's history after it came
// back; it reports whether the post is one of this run's that the user
// had not received live nor found before.
func (a *accounting) recovered(user int32, text string) bool {
	mk, ok := parseMarker(text, a.plan.RunTag)
	if !ok || int(mk.room) >= len(a.plan.Rooms) || mk.index >= a.plan.Rooms[mk.room].Posts {
		return false
	}
	m := a.memberOf(user, mk.room)
	if m == nil {
		return false
	}
	word, bit := mk.index/64, uint64(1)<<(mk.index%64)
	m.mu.Lock()
	defer m.mu.Unlock()
	if int(word) < len(m.recv) && m.recv[word]&bit != 0 {
		return false
	}
	if int(word) >= len(m.hist) {
		grown := make([]uint64, (a.plan.Rooms[mk.room].Posts+63)/64)
		copy(grown, m.hist)
		m.hist = grown
	}
	if m.hist[word]&bit != 0 {
		return false
	}
	m.hist[word] |= bit
	return true
}

// ackedLive starts the live fan-out completion of a post this shard sent
// and the server acknowledged: it waits for this shard's members of the
// room online since before the post was sent (those the final accounting
// expects, as far as it can be known at the acknowledgement) and tells
// a.completed when as many distinct members received it. The final
// accounting (Account) recomputes completion exactly, with the members
// of every shard and the grace period; the live figure exists so that
// post_to_last_delivery is true while the run goes on. It costs one pass
// over the room's members per acknowledged post.
func (a *accounting) ackedLive(room int32, ps *postStat) {
	if a.completed == nil {
		return
	}
	sent := ps.sent.Load()
	var n int32
	for _, u := range a.plan.Rooms[room].Members {
		m := a.memberOf(u, room)
		if m == nil {
			continue
		}
		m.mu.Lock()
		if k := len(m.intervals); k > 0 && m.intervals[k-1].To == 0 && m.intervals[k-1].From <= sent {
			n++
		}
		m.mu.Unlock()
	}
	if n == 0 {
		return
	}
	ps.expect.Store(n + 1)
	a.completeLive(ps)
}

// completeLive tells a.completed once when a post's live fan-out is
// complete: acknowledged, and received by as many distinct members as it
// waits for (deliveries may come before or after the acknowledgement; both
// paths call this, and the flag makes it once).
func (a *accounting) completeLive(ps *postStat) {
	e := ps.expect.Load()
	if e == 0 || ps.recv.Load() < e-1 || !ps.live.CompareAndSwap(false, true) {
		return
	}
	a.completed(max((ps.last.Load()-ps.intended)/1000, 1))
}

// delivery accounts for one delivery to user; it returns the marker's
// intended time for latency and when this shard sent the post (0 if
// another shard did), ok false when the post is not this run's.
func (a *accounting) delivery(user int32, author, text string, at time.Time) (intended, sent int64, ok bool) {
	mk, ok := a.markers.parse(text, a.plan.RunTag)
	if !ok || int(mk.room) >= len(a.plan.Rooms) || mk.index >= a.plan.Rooms[mk.room].Posts || int(mk.shard) > max(a.shard.Of, 1) {
		a.foreign.Add(1)
		return 0, 0, false
	}
	ps := a.post(mk.room, mk.index)
	m := a.memberOf(user, mk.room)
	if m == nil {
		a.wrongRoom.Add(1)
		return mk.intended, ps.sent.Load(), true
	}
	word, bit := mk.index/64, uint64(1)<<(mk.index%64)
	m.mu.Lock()
	if int(word) >= len(m.recv) {
		n := (a.plan.Rooms[mk.room].Posts + 63) / 64
		grown := make([]uint64, n)
		copy(grown, m.recv)
		m.recv = grown
	}
	dup := m.recv[word]&bit != 0
	m.recv[word] |= bit
	ooo := false
	if !dup {
		si := mk.shard - 1
		ooo = mk.index <= m.maxFloor[si]
		if mk.floor > m.maxFloor[si] {
			m.maxFloor[si] = mk.floor
		}
	}
	m.mu.Unlock()
	if dup {
		ps.dup.Add(1)
		return mk.intended, ps.sent.Load(), true
	}
	ps.recv.Add(1)
	if ooo {
		ps.ooo.Add(1)
	}
	sender := a.plan.Ops[a.plan.PostOp[mk.room][mk.index]].User
	if author != a.plan.Users[sender] {
		ps.spoof.Add(1)
	}
	t := at.UnixNano()
	for {
		f := ps.first.Load()
		if (f != 0 && f <= t) || ps.first.CompareAndSwap(f, t) {
			break
		}
	}
	for {
		l := ps.last.Load()
		if l >= t || ps.last.CompareAndSwap(l, t) {
			break
		}
	}
	if a.completed != nil {
		a.completeLive(ps)
	}
	return mk.intended, ps.sent.Load(), true
}

// Data is a shard's accounting as saved in its results (accounting.gob),
// so that shards merge exactly.
type Data struct {
	Shard     Shard
	RunTag    string
	Posts     []PostRecord
	Members   []MemberRecord
	WrongRoom int64
	Foreign   int64
}

// PostRecord is a post as one shard saw it: the sender's side (status,
// times) when that shard sent it, and what that shard's members received.
type PostRecord struct {
	Intended, Sent, Acked int64
	Status                int32
	Recv, Dup, OOO, Spoof int32
	First, Last           int64
}

// MemberRecord is one member of one room in one shard.
type MemberRecord struct {
	User, Room int32
	Intervals  []Interval
	Recv       []uint64
	// Gaps are its times offline after a lost session, until it rejoined;
	// Hist the posts it found in history afterwards (not received live).
	Gaps []Interval
	Hist []uint64
}

func (a *accounting) data() *Data {
	d := &Data{Shard: a.shard, RunTag: a.plan.RunTag, Posts: make([]PostRecord, len(a.posts)), WrongRoom: a.wrongRoom.Load(), Foreign: a.foreign.Load()}
	for i := range a.posts {
		p := &a.posts[i]
		d.Posts[i] = PostRecord{
			Intended: p.intended, Sent: p.sent.Load(), Acked: p.acked.Load(), Status: p.status.Load(),
			Recv: p.recv.Load(), Dup: p.dup.Load(), OOO: p.ooo.Load(), Spoof: p.spoof.Load(),
			First: p.first.Load(), Last: p.last.Load(),
		}
	}
	for u, row := range a.member {
		for i := range row {
			m := &row[i]
			m.mu.Lock()
			d.Members = append(d.Members, MemberRecord{User: int32(u), Room: a.plan.UserRoom[u][i], Intervals: append([]Interval(nil), m.intervals...), Recv: append([]uint64(nil), m.recv...),
				Gaps: append([]Interval(nil), m.gaps...), Hist: append([]uint64(nil), m.hist...)})
			m.mu.Unlock()
		}
	}
	return d
}

// Accounted is the delivery accounting of a run.
type Accounted struct {
	Delivery reports.Delivery
	Rooms    []reports.RoomDelivery
	// LastDelivery is the fan-out completion time of every post all of
	// whose expected recipients got it: last delivery - intended time, µs.
	LastDelivery *hdrhistogram.Histogram
	// LastDeliveryService is the same from the post's actual send: last
	// delivery - sent, µs (the service time, without the generator's lag).
	LastDeliveryService *hdrhistogram.Histogram
	// Completions are the same times one by one, with the post's
	// intended time (Unix ns), so that results can place them in intervals.
	Completions []Completion
	// Incomplete counts posts some expected recipient never got.
	Incomplete int64
	WrongRoom  int64
	Foreign    int64
}

// Completion is one post's fan-out completion time.
type Completion struct {
	Intended int64 // the post's intended time, Unix ns
	Micros   int64 // last delivery - intended time, µs
}

// Account combines the accounting data of one or more shards of a plan:
// for each post its sender acknowledged, the expected recipients are the
// members online from before it was sent until grace after it was
// acknowledged; any of them that did not receive it lost it.
func Account(p *Plan, grace time.Duration, ds ...*Data) Accounted {
	var out Accounted
	out.LastDelivery = reports.NewHistogram()
	out.LastDeliveryService = reports.NewHistogram()
	d := MergeData(ds...)
	if d == nil {
		return out
	}
	out.WrongRoom, out.Foreign = d.WrongRoom, d.Foreign
	posts := d.Posts
	nposts := 0
	for _, r := range p.Rooms {
		nposts += int(r.Posts)
	}
	if len(posts) < nposts {
		posts = append(posts, make([]PostRecord, nposts-len(posts))...)
	}
	members := make([][]MemberRecord, len(p.Rooms))
	for _, m := range d.Members {
		if int(m.Room) < len(members) {
			members[m.Room] = append(members[m.Room], m)
		}
	}
	base := 0
	g := grace.Nanoseconds()
	for ri, r := range p.Rooms {
		rd := reports.RoomDelivery{Room: r.ID, Members: len(r.Members)}
		for idx := 0; idx < int(r.Posts); idx++ {
			ps := posts[base+idx]
			uniq := int64(ps.Recv)
			rd.Duplicated += int64(ps.Dup)
			rd.OutOfOrder += int64(ps.OOO)
			rd.Spoofed += int64(ps.Spoof)
			if ps.Status != postAcked {
				rd.Extra += uniq
				continue
			}
			rd.Posts++
			var expected, received, offline int64
			w, bit := idx/64, uint64(1)<<(idx%64)
			for _, m := range members[ri] {
				got := w < len(m.Recv) && m.Recv[w]&bit != 0
				switch {
				case covers(m.Intervals, ps.Sent, ps.Acked+g):
				case overlaps(m.Gaps, ps.Sent, ps.Acked+g):
					// due while the member was away: found in history
					// after it came back is not lost
					if !got && w < len(m.Hist) && m.Hist[w]&bit != 0 {
						offline++
						continue
					}
				default:
					continue
				}
				expected++
				if got {
					received++
				}
			}
			rd.Expected += expected
			rd.Received += received
			rd.MissedOffline += offline
			rd.Lost += expected - received
			rd.Extra += uniq - received
			if expected > 0 && received == expected && ps.Last != 0 {
				us := max((ps.Last-ps.Intended)/1000, 1)
				_ = out.LastDelivery.RecordValue(us)
				if ps.Sent != 0 {
					_ = out.LastDeliveryService.RecordValue(max((ps.Last-ps.Sent)/1000, 1))
				}
				out.Completions = append(out.Completions, Completion{Intended: ps.Intended, Micros: us})
			} else if received < expected {
				out.Incomplete++
			}
		}
		base += int(r.Posts)
		tot := &out.Delivery
		tot.Posts += rd.Posts
		tot.Expected += rd.Expected
		tot.Received += rd.Received
		tot.Lost += rd.Lost
		tot.Duplicated += rd.Duplicated
		tot.OutOfOrder += rd.OutOfOrder
		tot.Spoofed += rd.Spoofed
		tot.Extra += rd.Extra
		tot.MissedOffline += rd.MissedOffline
		out.Rooms = append(out.Rooms, rd)
	}
	return out
}

// covers reports whether some Interval holds [from, to].
func covers(iv []Interval, from, to int64) bool {
	for _, i := range iv {
		if i.From <= from && (i.To == 0 || i.To >= to) {
			return true
		}
	}
	return false
}

// overlaps reports whether some Interval meets [from, to].
func overlaps(iv []Interval, from, to int64) bool {
	for _, i := range iv {
		if i.From <= to && i.To >= from {
			return true
		}
	}
	return false
}

// MergeData combines the accounting data of the shards of one run: each
// post's sender side comes from the shard that sent it, its deliveries add
// up, and the members of every shard are kept.
func MergeData(ds ...*Data) *Data {
	if len(ds) == 0 {
		return nil
	}
	out := &Data{Shard: Shard{Index: 1, Of: 1}, RunTag: ds[0].RunTag}
	for _, d := range ds {
		if len(d.Posts) > len(out.Posts) {
			out.Posts = append(out.Posts, make([]PostRecord, len(d.Posts)-len(out.Posts))...)
		}
		out.WrongRoom += d.WrongRoom
		out.Foreign += d.Foreign
		out.Members = append(out.Members, d.Members...)
		for i, r := range d.Posts {
			m := &out.Posts[i]
			if r.Status != postPending {
				m.Status, m.Sent, m.Acked = r.Status, r.Sent, r.Acked
			}
			if r.Intended != 0 {
				m.Intended = r.Intended
			}
			m.Recv += r.Recv
			m.Dup += r.Dup
			m.OOO += r.OOO
			m.Spoof += r.Spoof
			if r.First != 0 && (m.First == 0 || r.First < m.First) {
				m.First = r.First
			}
			m.Last = max(m.Last, r.Last)
		}
	}
	return out
}
