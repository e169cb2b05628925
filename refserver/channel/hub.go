// Package channel is the reference server's channel services: the rooms of
// the pool, the sessions of the clients connected to each channel service,
// the XCCOS commands, and the fan-out of every post to every member online
// in its room, the author included, in posting order.
//
// One Hub holds the pool-wide state (rooms, sessions, the store); each
// channel service is a URI (sip:gcsN@domain) that clients INVITE. A post is
// acknowledged (its INFO answered 200) only once the store made it durable,
// then delivered; the delivery body is rendered once per post.
package channel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/web"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// Defaults of Config.
const (
	DefaultNoticeLimit = 250
	// DefaultNoticeDelay is how long a room gathers its join and part
	// notices before sending them together (Config.NoticeDelay).
	DefaultNoticeDelay = 20 * time.Millisecond
	DefaultRosterLimit = 100
	DefaultHistoryMax  = 500
	DefaultSearchLimit = 999
	DefaultWorkers     = 8
	// DefaultMaxCommands bounds the commands of one envelope.
	DefaultMaxCommands = 16
	// DefaultMaxConnQueries bounds the storage queries (history, message
	// search) in progress for the clients of one connection.
	DefaultMaxConnQueries = 16
	// DefaultMaxQueries bounds the storage queries in progress (waiting
	// for a worker or running) in the whole server.
	DefaultMaxQueries = 1024
	// DefaultMaxSessionsPerUser bounds the channel sessions one user
	// holds on one connection.
	DefaultMaxSessionsPerUser = 16
)

// Errors of the admin operations, for errors.Is.
var (
	ErrNotFound = errors.New("channel: no such room")
	ErrExists   = errors.New("channel: room exists")
	ErrInvalid  = errors.New("channel: invalid room")
)

// Config configures a Hub.
type Config struct {
	Domain      string
	ServiceURIs []string // sip:gcs1@domain, ...
	Store       store.Store
	Endpoint    *sipnet.Endpoint
	// NoticeLimit: rooms with more members online than this send no
	// ntc:join / ntc:part (0 = no limit).
	NoticeLimit int
	// NoticeDelay gathers a room's ntc:join / ntc:part for this long and
	// sends each member online one notice naming everyone who came or
	// went (several uib, which SIPE reads), instead of one notice per
	// user: a room filling at 1,000 joins/s would otherwise send each
	// member one signed INFO per joiner. 0 sends each at once (the
	// reference server's default is DefaultNoticeDelay).
	NoticeDelay time.Duration
	// RosterLimit bounds the uib entries of a join reply.
	RosterLimit    int
	SessionExpires int
	// Workers bounds concurrent storage queries (history, search, invitations).
	Workers int
	Logger  *slog.Logger
	Now     func() time.Time
	// Faults are deliberate misbehaviours (tests of the checks).
	Faults fault.Set
	// PostDelay holds every post this long before handling it: a slower
	// server on purpose (gcload compare's tests).
	PostDelay time.Duration
	// ReplyDelay holds every XCCOS reply to a command this long (on the
	// endpoint's timing wheel): a server that answers late on purpose
	// (tests of late replies).
	ReplyDelay time.Duration
	// Limits against hostile clients (0 takes the default): commands per
	// envelope, storage queries in progress per connection and in all,
	// channel sessions per user and connection.
	MaxCommands, MaxConnQueries, MaxQueries, MaxSessionsPerUser int
	// Files is the web service for file posts; nil: file posts are off
	// (filepost=false, getfutok/getfdtok answered 400).
	Files *web.Service
	// Pool, when set, makes the hub one server of a pool on the database
	// Store is (see pool.go): posts are numbered at commit and the other
	// servers' posts, presence and room changes are applied here.
	Pool Pool
}

// Hub is the state shared by the channel services of one pool.
type Hub struct {
	cfg    Config
	ep     *sipnet.Endpoint
	st     store.Store
	log    *slog.Logger
	envids *ua.EnvIDs
	ctype  string // Content-Type of the INFOs sent (text/plain; another under a fault)
	root   string // ma-cat://domain/GUID
	dbVer  string
	sem    chan struct{}
	wg     sync.WaitGroup
	// workMu guards workDone: once Close sets it no worker is added, so
	// that its wait for them cannot race a late Add
	workMu   sync.RWMutex
	workDone bool
	// services maps the channel services' addresses of record to their
	// URIs (which may carry a port)
	services map[string]string
	pool     Pool // nil outside a pool
	// ctx is the hub's life: the storage queries its workers run for
	// clients (who give no context of their own) and the readers of the
	// pool's posts take it, and Close cancels it, so that Close does not
	// wait out a slow query.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.RWMutex
	rooms map[string]*room

	// catMu guards the category hierarchy and the rights it gives
	// (category.go); catWrite orders the changes of it
	catMu    sync.RWMutex
	cats     []store.Category
	rights   map[string]store.Rights
	catWrite sync.Mutex

	// invited[user]: the user's outstanding invitations, oldest first,
	// loaded at start and kept with the store: getinv reads them here, and
	// a join touches the store only when it ends one
	invMu   sync.Mutex
	invited map[string][]store.Invitation

	sessMu   sync.Mutex
	sessions map[sipnet.DialogID]*session
	byConn   map[*sipnet.Conn]*connState

	queries atomic.Int64 // storage queries in progress (waiting or running)

	stats counters

	// fanout batches the deliveries of a post; only the store's goroutine
	// (which runs pending.durable) uses it.
	fanout sipnet.Batch
}

// connState is what the hub keeps of one connection: its channel
// sessions and the storage queries of their clients in progress.
type connState struct {
	sessions []*session
	queries  atomic.Int32
}

type counters struct {
	posts, rejected, deliveries, deliveryErrs, notices, commands, sessions atomic.Uint64
	busy, limited                                                          atomic.Uint64
	// archiveFailed: archive records of parts nobody waited for that
	// could not be written; archiveSeq numbers posts for the
	// drop-archive-records fault
	archiveFailed, archiveSeq atomic.Uint64
	// fileArchiveSeq numbers file posts for the drop-file-records fault
	fileArchiveSeq atomic.Uint64
	// in a pool: other servers' posts received in notifications, and read
	// from the table
	poolCarried, poolRead atomic.Uint64
	// faults: deliveries dropped or duplicated on purpose
	faultSeq, dropped, duplicated atomic.Uint64
}

// Stats are counters of the channel services.
type Stats struct {
	Sessions       int    `json:"sessions"`        // open channel sessions
	Posts          uint64 `json:"posts"`           // posts stored and fanned out
	Rejected       uint64 `json:"rejected"`        // posts refused with an error reply
	Deliveries     uint64 `json:"deliveries"`      // grpchat INFOs sent
	DeliveryErrors uint64 `json:"delivery_errors"` // deliveries answered with an error or timed out
	Notices        uint64 `json:"notices"`         // ntc INFOs sent
	Commands       uint64 `json:"commands"`        // commands answered
	SessionsOpened uint64 `json:"sessions_opened"`
	// Busy counts posts and queries refused with 503 because the store or
	// the query workers were behind; Limited the requests refused by a
	// limit on one client (commands per envelope, sessions per user).
	Busy    uint64 `json:"busy"`
	Limited uint64 `json:"limited"`
	// FaultDropped and FaultDuplicated count deliveries a fault dropped or
	// sent twice.
	FaultDropped    uint64 `json:"fault_dropped,omitempty"`
	FaultDuplicated uint64 `json:"fault_duplicated,omitempty"`
	// ArchiveFailed counts the archive records of parts the user did not
	// ask for (session ended, access lost) that could not be written.
	ArchiveFailed uint64 `json:"archive_failed"`
	// PoolCarried and PoolRead count, in a pool, the other servers' posts
	// this server got in their notifications, and those it read from the
	// table (a notification missed, or a post too large to carry).
	PoolCarried uint64 `json:"pool_carried,omitempty"`
	PoolRead    uint64 `json:"pool_read,omitempty"`
}

// New loads the rooms from the store and returns a hub.
func New(ctx context.Context, cfg Config) (*Hub, error) {
	if cfg.Store == nil || cfg.Endpoint == nil || cfg.Domain == "" || len(cfg.ServiceURIs) == 0 {
		return nil, errors.New("channel: config needs Store, Endpoint, Domain and ServiceURIs")
	}
	if cfg.NoticeLimit < 0 {
		cfg.NoticeLimit = 0
	}
	if cfg.NoticeDelay < 0 {
		cfg.NoticeDelay = 0
	}
	if cfg.RosterLimit <= 0 {
		cfg.RosterLimit = DefaultRosterLimit
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.SessionExpires == 0 {
		cfg.SessionExpires = ua.DefaultSessionExpires
	}
	if cfg.MaxCommands <= 0 {
		cfg.MaxCommands = DefaultMaxCommands
	}
	if cfg.MaxConnQueries <= 0 {
		cfg.MaxConnQueries = DefaultMaxConnQueries
	}
	if cfg.MaxQueries <= 0 {
		cfg.MaxQueries = DefaultMaxQueries
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Hub{
		cfg: cfg, ep: cfg.Endpoint, st: cfg.Store, log: cfg.Logger, envids: ua.NewEnvIDs(),
		ctype: ua.ContentType,
		root:  "ma-cat://" + cfg.Domain + "/" + uuidFrom(cfg.Domain, "root"),
		dbVer: uuidFrom(cfg.Domain, "db"),
		sem:   make(chan struct{}, cfg.Workers),
		rooms: map[string]*room{}, sessions: map[sipnet.DialogID]*session{}, byConn: map[*sipnet.Conn]*connState{},
		pool: cfg.Pool, services: map[string]string{},
	}
	for _, u := range cfg.ServiceURIs {
		aor, err := sipnet.AOR(u)
		if err != nil {
			return nil, fmt.Errorf("channel: service URI %q: %w", u, err)
		}
		h.services[aor] = u
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if cfg.Faults.Has(fault.InfoContentType) {
		h.ctype = "text/xml"
	}
	cats, err := cfg.Store.Categories(ctx)
	if err != nil {
		h.cancel()
		return nil, fmt.Errorf("channel: load categories: %w", err)
	}
	h.setCategories(cats)
	rooms, err := cfg.Store.Rooms(ctx)
	if err != nil {
		h.cancel()
		return nil, fmt.Errorf("channel: load rooms: %w", err)
	}
	for _, r := range rooms {
		h.rooms[r.ID] = h.newRoom(r)
	}
	invs, err := cfg.Store.Invitations(ctx)
	if err != nil {
		h.cancel()
		return nil, fmt.Errorf("channel: load invitations: %w", err)
	}
	h.invited = map[string][]store.Invitation{}
	h.noteInvitations(invs)
	return h, nil
}

// noteInvitations adds outstanding invitations, keeping each user's in
// order of ID.
func (h *Hub) noteInvitations(invs []store.Invitation) {
	h.invMu.Lock()
	defer h.invMu.Unlock()
	for _, inv := range invs {
		list := append(h.invited[inv.User], inv)
		slices.SortFunc(list, func(a, b store.Invitation) int { return cmp.Compare(a.ID, b.ID) })
		h.invited[inv.User] = list
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.sessMu.Lock()
	n := len(h.sessions)
	h.sessMu.Unlock()
	return Stats{
		Sessions: n, Posts: h.stats.posts.Load(), Rejected: h.stats.rejected.Load(),
		Deliveries: h.stats.deliveries.Load(), DeliveryErrors: h.stats.deliveryErrs.Load(),
		Notices: h.stats.notices.Load(), Commands: h.stats.commands.Load(), SessionsOpened: h.stats.sessions.Load(),
		Busy: h.stats.busy.Load(), Limited: h.stats.limited.Load(),
		FaultDropped: h.stats.dropped.Load(), FaultDuplicated: h.stats.duplicated.Load(),
		ArchiveFailed: h.stats.archiveFailed.Load(),
		PoolCarried:   h.stats.poolCarried.Load(), PoolRead: h.stats.poolRead.Load(),
	}
}

// Close cancels the storage reads in flight (a client's history or
// search), waits for the workers (writes in flight finish), stops reading
// the pool's posts and drops every session. In a pool, the caller stops
// calling Committed and the other pool methods first.
func (h *Hub) Close() {
	h.cancel()
	h.workMu.Lock()
	h.workDone = true
	h.workMu.Unlock()
	h.wg.Wait()
	h.sessMu.Lock()
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.sessMu.Unlock()
	for _, s := range all {
		h.endSession(s, false)
	}
}

// IsService reports whether aor (an address of record: no port) names one
// of the channel services.
func (h *Hub) IsService(aor string) bool {
	_, ok := h.services[aor]
	return ok
}

// serviceURI returns the channel service URI an INVITE to aor opens a
// session with: the service's own URI, else (another pool server's
// service, served here) the first.
func (h *Hub) serviceURI(aor string) string {
	if u, ok := h.services[aor]; ok {
		return u
	}
	return h.cfg.ServiceURIs[0]
}

// query runs a storage query for a client of session s on a worker, or
// answers the command name (of envelope envid) 503 at once when the
// client's connection has MaxConnQueries queries in progress or the server
// MaxQueries: a client cannot queue unbounded work (goroutines, replies
// being rendered) with commands that are cheap to send.
func (h *Hub) query(s *session, name string, envid uint64, f func()) {
	cs := s.conn
	if n := cs.queries.Add(1); n > int32(h.cfg.MaxConnQueries) {
		cs.queries.Add(-1)
		h.stats.busy.Add(1)
		s.reply(name, envid, CodeBusy, fmt.Sprintf("busy: %d queries of this connection are in progress (at most %d); send it again once one is answered", n-1, h.cfg.MaxConnQueries), nil)
		return
	}
	if n := h.queries.Add(1); n > int64(h.cfg.MaxQueries) {
		h.queries.Add(-1)
		cs.queries.Add(-1)
		h.stats.busy.Add(1)
		s.reply(name, envid, CodeBusy, fmt.Sprintf("busy: the server has %d queries in progress (at most %d); send it again later", n-1, h.cfg.MaxQueries), nil)
		return
	}
	h.goWork(func() {
		defer func() {
			h.queries.Add(-1)
			cs.queries.Add(-1)
		}()
		f()
	})
}

// goWork runs f on a worker slot (storage queries), tracked for Close.
func (h *Hub) goWork(f func()) {
	if !h.enterWork() { // after Close: the clients are being dropped
		return
	}
	go func() {
		defer h.wg.Done()
		h.sem <- struct{}{}
		defer func() { <-h.sem }()
		f()
	}()
}

// enterWork counts one more goroutine Close waits for, unless Close has
// begun (false): the caller then does nothing, and otherwise calls
// h.wg.Done when its work ends.
func (h *Hub) enterWork() bool {
	h.workMu.RLock()
	defer h.workMu.RUnlock()
	if h.workDone {
		return false
	}
	h.wg.Add(1)
	return true
}

// roomCtx returns a room by id; in a pool, one another server created that
// this one has not heard of yet is read from the store.
func (h *Hub) roomCtx(ctx context.Context, id string) *room {
	if r := h.room(id); r != nil || h.pool == nil {
		return r
	}
	return h.loadRoom(ctx, id)
}

// queryContext is the context of a storage read a worker runs for a
// client (history, search): the hub's life, bounded by d. Close cancels
// it: the client is being dropped anyway.
func (h *Hub) queryContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(h.ctx, d)
}

// writeContext is the context of a storage write the hub decided on (an
// invitation ended by a join): not cancelled by Close, which lets it
// finish, bounded by d, before the store closes.
func (h *Hub) writeContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(h.ctx), d)
}

// room returns a room by id.
func (h *Hub) room(id string) *room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rooms[id]
}

// roomByURI resolves ma-chan://domain/id.
func (h *Hub) roomByURI(uri string) *room {
	dom, id, ok := xccos.SplitChanURI(uri)
	if !ok || !strings.EqualFold(dom, h.cfg.Domain) {
		return nil
	}
	return h.room(id)
}

// Rooms returns every room, sorted by id.
func (h *Hub) Rooms() []store.Room {
	h.mu.RLock()
	rs := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rs = append(rs, r)
	}
	h.mu.RUnlock()
	out := make([]store.Room, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.snapshot())
	}
	slices.SortFunc(out, func(a, b store.Room) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Room returns one room.
func (h *Hub) Room(id string) (store.Room, error) {
	r := h.room(id)
	if r == nil {
		return store.Room{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return r.snapshot(), nil
}

// Online returns the users online in a room (one entry per session): those
// on this server in join order, then those on the pool's other servers.
func (h *Hub) Online(id string) ([]string, error) {
	r := h.room(id)
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, r.onlineCountLocked())
	for _, s := range r.online {
		out = append(out, s.user)
	}
	// then, in a pool, those online on the other servers (by server)
	for _, srv := range slices.Sorted(maps.Keys(r.remote)) {
		for _, u := range slices.Sorted(maps.Keys(r.remote[srv])) {
			for range r.remote[srv][u] {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// CreateRoom stores a new room.
func (h *Hub) CreateRoom(ctx context.Context, spec store.Room) (store.Room, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return store.Room{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	spec.LastSeq = 0
	spec.Created = h.cfg.Now().UTC()
	if h.pool != nil && h.loadRoom(ctx, spec.ID) != nil {
		return store.Room{}, fmt.Errorf("%w: %q", ErrExists, spec.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[spec.ID]; ok {
		return store.Room{}, fmt.Errorf("%w: %q", ErrExists, spec.ID)
	}
	if err := h.st.PutRoom(ctx, spec); err != nil {
		return store.Room{}, err
	}
	r := h.newRoom(spec)
	h.rooms[spec.ID] = r
	return r.snapshot(), nil
}

// UpdateRoom changes a room's name, description, topic, category, privacy,
// type and, when the spec lists them, roles; the disabled flag and history
// stay. Users who can no longer read the room leave it.
func (h *Hub) UpdateRoom(ctx context.Context, spec store.Room) (store.Room, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return store.Room{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r := h.roomCtx(ctx, spec.ID)
	if r == nil {
		return store.Room{}, fmt.Errorf("%w: %q", ErrNotFound, spec.ID)
	}
	r.mu.Lock()
	cur := r.info
	cur.Name, cur.Description, cur.Topic, cur.Category, cur.Privacy, cur.Type = spec.Name, spec.Description, spec.Topic, spec.Category, spec.Privacy, spec.Type
	cur.Members, cur.Managers, cur.Presenters = r.roleList(store.Member), r.roleList(store.Manager), r.roleList(store.Presenter)
	if spec.Members != nil {
		cur.Members = spec.Members
	}
	if spec.Managers != nil {
		cur.Managers = spec.Managers
	}
	if spec.Presenters != nil {
		cur.Presenters = spec.Presenters
	}
	if err := h.st.PutRoom(ctx, cur); err != nil {
		r.mu.Unlock()
		return store.Room{}, err
	}
	h.setInfoLocked(r, cur)
	evicted := r.evictUnreadable()
	for _, s := range evicted {
		h.leftLocked(r, s)
	}
	r.mu.Unlock()
	h.evicted(r, evicted)
	return r.snapshot(), nil
}

// SetRole replaces the holders of a role. Users who can no longer read the
// room leave it.
func (h *Hub) SetRole(ctx context.Context, id string, role store.Role, users []string) error {
	r := h.roomCtx(ctx, id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	for _, u := range users {
		if !store.ValidUser(u) {
			return fmt.Errorf("%w: user %q: want sip:user@domain", ErrInvalid, u)
		}
	}
	r.mu.Lock()
	if err := h.st.SetRole(ctx, id, role, users); err != nil {
		r.mu.Unlock()
		return err
	}
	r.setRole(role, users)
	evicted := r.evictUnreadable()
	for _, s := range evicted {
		h.leftLocked(r, s)
	}
	r.mu.Unlock()
	h.evicted(r, evicted)
	return nil
}

// SetDisabled disables a room (everyone online in it leaves; it is hidden
// from search and refuses joins with 409; its history is kept) or enables
// it again.
func (h *Hub) SetDisabled(ctx context.Context, id string, disabled bool) error {
	r := h.roomCtx(ctx, id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	r.mu.Lock()
	if err := h.st.SetDisabled(ctx, id, disabled); err != nil {
		r.mu.Unlock()
		return err
	}
	r.info.Disabled = disabled
	var evicted []*session
	if disabled {
		evicted = r.online
		r.online = nil
		for _, s := range evicted {
			h.leftLocked(r, s)
		}
	}
	r.mu.Unlock()
	h.evicted(r, evicted)
	return nil
}

// Invite records an invitation for user to room; it is listed by getinv
// until the user joins the room.
func (h *Hub) Invite(ctx context.Context, id, user, by string) (store.Invitation, error) {
	if h.roomCtx(ctx, id) == nil {
		return store.Invitation{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if !store.ValidUser(user) {
		return store.Invitation{}, fmt.Errorf("%w: user %q: want sip:user@domain", ErrInvalid, user)
	}
	inv, err := h.st.AddInvitation(ctx, store.Invitation{RoomID: id, User: user, By: by, Created: h.cfg.Now().UTC()})
	if err == nil {
		h.noteInvitations([]store.Invitation{inv})
	}
	return inv, err
}

// evicted tells sessions removed from a room that they left it, and the
// members still online that they are gone.
func (h *Hub) evicted(r *room, gone []*session) {
	events := make([]store.Event, 0, len(gone))
	for _, s := range gone {
		events = append(events, h.event(store.EventPart, r, s.user, store.PartEvicted))
	}
	h.recordAsync(events)
	for _, s := range gone {
		s.mu.Lock()
		delete(s.rooms, r)
		s.mu.Unlock()
		h.sendPart(s, r, s)
		h.notifyPart(r, s)
	}
}

// uuidFrom makes a stable GUID-shaped string from a seed, so that rootUri
// and dbVersion stay the same across restarts of one domain.
func uuidFrom(parts ...string) string {
	var x uint64 = 1469598103934665603
	var y uint64 = 1099511628211
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			x = (x ^ uint64(p[i])) * 1099511628211
			y = (y ^ uint64(p[i])) * 14695981039346656037
		}
		x ^= 0xff
	}
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(x>>32), uint16(x>>16), uint16(x), uint16(y>>48), y&0xffffffffffff)
}
