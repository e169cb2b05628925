package refserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/refserver/web"
	"github.com/gcload/gcload/sipnet"
)

// A server on PostgreSQL is one server of a pool: the servers on one
// database share its rooms, and each is a channel server its clients
// connect to directly. Its channel services are named by its address, the
// host part of their URIs (sip:gcs1@HOST:PORT), so a client handed one by
// any server's lookup service knows where to sign in (docs/protocol.md,
// "Pools"). The membership below registers the server with a heartbeat
// and its load, lists the live servers for the lookup service, expires
// those that stopped heart-beating, publishes who is online here, and
// applies what the other servers committed or changed (their posts from
// the table, in each room's order; presence; rooms; invitations).

// Defaults of PoolOptions.
const (
	DefaultHeartbeat = time.Second
	DefaultServerTTL = 5 * time.Second
	// DefaultCatchUp is how often a pool's server reads every room's last
	// sequence number, in case a notification was missed.
	DefaultCatchUp = 5 * time.Second
)

// publishQueue bounds the presence changes waiting to be written; beyond,
// they are dropped and the server's whole state is written again instead.
const publishQueue = 1 << 16

// PoolOptions configure a server's membership of a pool (PostgreSQL).
type PoolOptions struct {
	// Advertise is the HOST:PORT clients reach this server at; it names
	// the channel services (default: the TCP listen address, or this
	// machine's host name with its port when it listens on every
	// interface).
	Advertise string
	// ID names the server in the pool (default: Advertise).
	ID string
	// Heartbeat is how often the server renews its registration and reads
	// the live servers (default DefaultHeartbeat); a server whose last
	// heartbeat is older than TTL (default DefaultServerTTL) is dropped.
	Heartbeat, TTL time.Duration
	// CatchUp is how often every room's last post is checked for one a
	// missed notification did not announce (default DefaultCatchUp).
	CatchUp time.Duration
	// NoCarry: the notification of a post this server commits does not
	// carry the post; the other servers read it from the table (one query
	// per post and server: slower, measured in docs/performance.md).
	NoCarry bool
}

// WithPool sets how the server takes part in a pool; it has an effect
// only on PostgreSQL (WithPostgres), where every server is in a pool.
func WithPool(p PoolOptions) Option {
	return func(o *options) error {
		if p.Heartbeat < 0 || p.TTL < 0 || p.CatchUp < 0 {
			return errors.New("refserver: pool heartbeat, TTL and catch-up must not be negative")
		}
		if p.Heartbeat > 0 && p.TTL > 0 && p.TTL < 2*p.Heartbeat {
			return fmt.Errorf("refserver: pool TTL %s: want at least two heartbeats (%s)", p.TTL, 2*p.Heartbeat)
		}
		if p.Advertise != "" {
			if _, _, err := net.SplitHostPort(p.Advertise); err != nil {
				return fmt.Errorf("refserver: advertise address %q: want HOST:PORT", p.Advertise)
			}
		}
		if p.ID != "" && !postgres.ValidServerID(p.ID) {
			return fmt.Errorf("refserver: server id %q: want 1 to 128 printable characters without spaces", p.ID)
		}
		o.pool = p
		return nil
	}
}

// WithLookupPolicy sets how the lookup service chooses a channel service
// (default round-robin).
func WithLookupPolicy(p lookup.Policy) Option {
	return func(o *options) error { o.lookupPolicy = p; return nil }
}

// member is the server's membership of its pool; it implements
// channel.Pool and lookup.Directory.
type member struct {
	st        *postgres.Store
	hub       *channel.Hub
	log       *slog.Logger
	id        string
	advertise string
	uris      []string
	o         PoolOptions

	ctx    context.Context // ends the subscription, directory and publisher
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// the membership (registration, heartbeats) ends last: it deregisters
	memCtx    context.Context
	memCancel context.CancelFunc
	memDone   chan struct{}

	queue      chan presence
	dirty      atomic.Bool   // presence was lost: write the whole state again
	kick       chan struct{} // wakes the publisher when dirty
	needResync atomic.Bool   // a resync failed: try again

	// applyMu orders what changes the hub's view of the pool: the
	// notifications, in commit order, and the resyncs and catch-ups of the
	// directory (a snapshot is applied whole between two notifications)
	applyMu sync.Mutex

	mu      sync.Mutex
	servers []lookup.Server // live, by ID
	gen     uint64

	// files, when file posts are on: the live servers whose marker is
	// not in this server's files folder (they do not share it) are in
	// unshared, each warned of once
	files    *web.Service
	unshared []string
}

type presence struct {
	p    store.Presence
	join bool
}

// advertiseAddr is the address clients reach a server at: the TCP listen
// address, unless it is every interface (0.0.0.0, ::): then the host name.
func advertiseAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("refserver: the address to advertise in the pool: %w (give one)", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// poolURIs names a pool server's channel services by its address.
func poolURIs(advertise string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "sip:gcs" + strconv.Itoa(i+1) + "@" + advertise
	}
	return out
}

func newMember(st *postgres.Store, id, advertise string, uris []string, o PoolOptions, log *slog.Logger) *member {
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.TTL == 0 {
		o.TTL = max(DefaultServerTTL, 2*o.Heartbeat)
	}
	if o.CatchUp == 0 {
		o.CatchUp = DefaultCatchUp
	}
	m := &member{st: st, log: log, id: id, advertise: advertise, uris: uris, o: o,
		queue: make(chan presence, publishQueue), kick: make(chan struct{}, 1), memDone: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.memCtx, m.memCancel = context.WithCancel(context.Background())
	m.dirty.Store(true) // rows of an earlier run under this ID go first
	m.servers = []lookup.Server{{ID: id, URIs: uris}}
	return m
}

// start registers the server and starts the membership's goroutines.
func (m *member) start(ctx context.Context, hub *channel.Hub) error {
	m.hub = hub
	srv := postgres.Server{ID: m.id, Addr: m.advertise, URIs: m.uris}
	if err := m.st.Register(ctx, srv); err != nil {
		return err
	}
	go func() {
		defer close(m.memDone)
		load := func() int64 { return int64(m.hub.Stats().Sessions) }
		if err := m.st.RunMembership(m.memCtx, srv, m.o.Heartbeat, load, func() { m.dirty.Store(true); m.wake() }); err != nil && m.memCtx.Err() == nil {
			m.log.Error("refserver: pool membership", "server", m.id, "err", err)
		}
	}()
	m.refresh(ctx)
	m.wg.Add(3)
	go func() {
		defer m.wg.Done()
		_ = m.st.Subscribe(m.ctx, m.notified)
	}()
	go m.directory()
	go m.publisher()
	return nil
}

// stop ends the membership: the subscription, directory and publisher
// first, then the registration (which deregisters the server and drops its
// online rows).
func (m *member) stop() {
	m.cancel()
	m.wg.Wait()
	m.memCancel()
	<-m.memDone
}

// notified handles a notification of the pool's database, on the
// subscription's goroutine, in commit order.
func (m *member) notified(w postgres.Wake) {
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	var err error
	switch e := w.Event; {
	case w.Resync:
		m.needResync.Store(false)
		err = m.hub.Resync(ctx)
		if err != nil {
			m.needResync.Store(true)
		}
	case e.Kind == 0:
		switch {
		case w.From == m.id: // this server delivers its own posts as they commit
		case w.Msg != nil:
			m.hub.Posted(*w.Msg)
		default:
			m.hub.Committed(w.Room, w.Seq)
		}
	case e.Server == m.id && e.Kind != postgres.EventGone:
		// this server's own change: applied already
	case e.Kind == postgres.EventRoom:
		err = m.hub.RoomChanged(ctx, e.Room)
	case e.Kind == postgres.EventCategories:
		err = m.hub.CategoriesChanged(ctx)
	case e.Kind == postgres.EventInvitations:
		err = m.hub.InvitationsChanged(ctx, e.User)
	case e.Kind == postgres.EventJoin || e.Kind == postgres.EventPart:
		m.hub.RemotePresence(e.Server, e.Room, e.User, e.N, e.Kind == postgres.EventJoin)
	case e.Kind == postgres.EventOnline:
		err = m.hub.ServerOnline(ctx, e.Server)
	case e.Kind == postgres.EventGone:
		if e.Server == m.id {
			// another server expired this one (it was slow): the
			// membership registers it again and the state is written again
			break
		}
		m.hub.ServerGone(e.Server)
		m.drop(e.Server)
	}
	if err != nil && m.ctx.Err() == nil {
		// what could not be read is read again whole at the next tick
		m.log.Warn("refserver: pool notification", "err", err)
		m.needResync.Store(true)
	}
}

// directory keeps the list of live servers, expires the dead ones, and
// catches up what notifications may have missed.
func (m *member) directory() {
	defer m.wg.Done()
	t := time.NewTicker(m.o.Heartbeat)
	defer t.Stop()
	lastCatchUp := time.Now()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
		if _, err := m.st.ExpireServers(ctx, m.o.TTL); err != nil && m.ctx.Err() == nil {
			m.log.Warn("refserver: expire the pool's servers", "err", err)
		}
		m.refresh(ctx)
		m.applyMu.Lock()
		if m.needResync.Load() {
			m.needResync.Store(false)
			if err := m.hub.Resync(ctx); err != nil {
				m.needResync.Store(true)
			}
		} else if time.Since(lastCatchUp) >= m.o.CatchUp {
			lastCatchUp = time.Now()
			if last, err := m.st.LastSeqs(ctx); err == nil {
				for room, seq := range last {
					m.hub.Committed(room, seq)
				}
			}
		}
		m.applyMu.Unlock()
		cancel()
	}
}

// refresh reads the live servers for the lookup service. This server is
// always among them, with its load now.
func (m *member) refresh(ctx context.Context) {
	live, err := m.st.Servers(ctx, m.o.TTL)
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("refserver: read the pool's servers", "err", err)
		}
		return
	}
	out := make([]lookup.Server, 0, len(live)+1)
	for _, s := range live {
		if s.ID != m.id {
			out = append(out, lookup.Server{ID: s.ID, URIs: s.URIs, Load: s.Load})
		}
	}
	load := int64(0)
	if m.hub != nil {
		load = int64(m.hub.Stats().Sessions)
	}
	out = append(out, lookup.Server{ID: m.id, URIs: m.uris, Load: load})
	m.checkFolder(out)
	// with other servers live, the commits' notifications carry the posts
	m.st.SetCarryPosts(len(out) > 1 && !m.o.NoCarry)
	slices.SortFunc(out, func(a, b lookup.Server) int { return strings.Compare(a.ID, b.ID) })
	m.mu.Lock()
	m.servers = out
	m.gen++
	m.mu.Unlock()
}

// checkFolder finds the live servers that do not share this server's files
// folder, and warns once of each.
func (m *member) checkFolder(live []lookup.Server) {
	if m.files == nil {
		return
	}
	var unshared []string
	for _, s := range live {
		if s.ID != m.id && !m.files.HasMarker(s.ID) {
			unshared = append(unshared, s.ID)
		}
	}
	m.mu.Lock()
	prev := m.unshared
	m.unshared = unshared
	m.mu.Unlock()
	for _, id := range unshared {
		if !slices.Contains(prev, id) {
			m.log.Warn("refserver: the pool's servers do not share one files folder: a file posted through one cannot be downloaded through the other (404); give every server of the pool the same --files-dir, a shared folder",
				"files_dir", m.files.Dir(), "server", id)
		}
	}
}

// Unshared lists the live servers that do not share this server's files
// folder.
func (m *member) Unshared() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.unshared)
}

// drop removes a server that left from the live list at once.
func (m *member) drop(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.servers = slices.DeleteFunc(slices.Clone(m.servers), func(s lookup.Server) bool { return s.ID == id })
	m.gen++
}

// Servers implements lookup.Directory.
func (m *member) Servers() ([]lookup.Server, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.servers, m.gen
}

// isService reports whether aor is the address of record of a channel
// service of a live server of the pool.
func (m *member) isService(aor string) bool {
	servers, _ := m.Servers()
	for _, srv := range servers {
		for _, u := range srv.URIs {
			if a, err := sipnet.AOR(u); err == nil && a == aor {
				return true
			}
		}
	}
	return false
}

// Live returns the live servers of the pool as this server last read them.
func (m *member) Live() []lookup.Server {
	s, _ := m.Servers()
	return s
}

func (m *member) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// publisher writes this server's presence changes, in order, a batch per
// transaction; when some were lost (the queue overflowed, a write failed,
// the server was expired) it writes the whole state again instead.
func (m *member) publisher() {
	defer m.wg.Done()
	batch := make([]store.Presence, 0, 512)
	joins := make([]bool, 0, 512)
	backoff := 50 * time.Millisecond
	for {
		if m.dirty.Load() {
			// the queued changes are in the state read after them
			for drained := false; !drained; {
				select {
				case <-m.queue:
				default:
					drained = true
				}
			}
			m.dirty.Store(false)
			ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			err := m.st.ReplaceOnline(ctx, m.hub.LocalOnline())
			cancel()
			if err != nil {
				if m.ctx.Err() != nil {
					return
				}
				m.log.Warn("refserver: write who is online", "err", err, "retry in", backoff)
				m.dirty.Store(true)
				select {
				case <-m.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
		}
		var first presence
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
			continue
		case first = <-m.queue:
		}
		batch, joins = append(batch[:0], first.p), append(joins[:0], first.join)
	fill:
		for len(batch) < cap(batch) {
			select {
			case c := <-m.queue:
				batch, joins = append(batch, c.p), append(joins, c.join)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
		err := m.st.PublishPresence(ctx, batch, joins)
		cancel()
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("refserver: publish who is online", "err", err)
			m.dirty.Store(true)
		}
	}
}

// Self implements channel.Pool.
func (m *member) Self() string { return m.id }

// AppendSeq implements channel.Pool.
func (m *member) AppendSeq(msg store.Message, done func(uint64, error)) error {
	return m.st.AppendSeq(msg, done)
}

// ReadSince implements channel.Pool.
func (m *member) ReadSince(ctx context.Context, room string, after uint64, limit int) ([]store.Message, error) {
	return m.st.ReadSince(ctx, room, after, limit)
}

// LastSeqs implements channel.Pool.
func (m *member) LastSeqs(ctx context.Context) (map[string]uint64, error) { return m.st.LastSeqs(ctx) }

// Room implements channel.Pool.
func (m *member) Room(ctx context.Context, id string) (store.Room, error) { return m.st.Room(ctx, id) }

// UserInvitations implements channel.Pool.
func (m *member) UserInvitations(ctx context.Context, user string) ([]store.Invitation, error) {
	return m.st.UserInvitations(ctx, user)
}

// Online implements channel.Pool.
func (m *member) Online(ctx context.Context, server string) ([]store.Presence, error) {
	return m.st.Online(ctx, server)
}

// Publish implements channel.Pool: it never blocks; when the queue is
// full the change is dropped and the whole state written again.
func (m *member) Publish(p store.Presence, join bool) {
	select {
	case m.queue <- presence{p, join}:
	default:
		m.dirty.Store(true)
		m.wake()
	}
}
