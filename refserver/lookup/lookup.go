// Package lookup is the reference server's lookup service, the shared URI
// (sip:ocschat@domain) that hands each client the URI of a channel service
// of the pool's live servers, round-robin or to the least loaded server
// (Policy). It answers both flows of the protocol:
//
//   - the real-client flow (SIPE, Lync): INVITE with SDP, 200, ACK, INFO
//     cmd:requri, 200, INFO rpl:requri from the service, then the client's
//     BYE;
//   - the console flow: INVITE whose text/plain body is a cmd:requri
//     envelope, answered at once by 183 Session Progress carrying the
//     rpl:requri envelope; the client CANCELs (200 to the CANCEL, 487 to
//     the INVITE). Without a CANCEL the INVITE is answered 408 after
//     CancelWait.
package lookup

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// Defaults of Config.
const (
	DefaultCancelWait = 32 * time.Second
	DefaultDialogLife = 15 * time.Minute
	// DefaultMaxDialogsPerUser: a client needs one at a time.
	DefaultMaxDialogsPerUser = 16
)

// Policy is how the service chooses the channel service it hands out.
type Policy int

// Policies.
const (
	// RoundRobin hands out every channel service of every live server in
	// turn.
	RoundRobin Policy = iota
	// LeastLoaded hands out a channel service of the server with the
	// fewest sessions (as it last reported them, plus those this service
	// sent it since), round-robin among that server's channel services.
	LeastLoaded
)

// ParsePolicy reads "round-robin" or "least-loaded".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "round-robin", "":
		return RoundRobin, nil
	case "least-loaded":
		return LeastLoaded, nil
	}
	return 0, fmt.Errorf("lookup policy %q: want round-robin or least-loaded", s)
}

// Server is one server (or, on a server alone, one channel service) that
// the service may hand out.
type Server struct {
	ID   string   `json:"id"`
	URIs []string `json:"uris"` // its channel services
	// Load is its number of sessions.
	Load int64 `json:"load"`
}

// Directory lists the servers to hand out; refserver's pool membership
// implements it.
type Directory interface {
	// Servers returns the live servers, by ID, with a generation number
	// that changes whenever their loads were measured again. The caller
	// does not change the slice.
	Servers() (servers []Server, generation uint64)
}

// Config configures the service.
type Config struct {
	URI      string   // sip:ocschat@domain
	Channels []string // channel service URIs, handed out in turn (without a Directory)
	// Directory, when set, lists the servers to hand out instead of
	// Channels (a pool).
	Directory      Directory
	Policy         Policy
	Endpoint       *sipnet.Endpoint
	CancelWait     time.Duration
	SessionExpires int
	// DialogLife bounds a lookup dialog the client never ends with BYE.
	DialogLife time.Duration
	// MaxDialogsPerUser bounds the lookup dialogs one user holds open on
	// one connection (default DefaultMaxDialogsPerUser).
	MaxDialogsPerUser int
	Logger            *slog.Logger
	// Faults are deliberate misbehaviours (tests of the checks).
	Faults fault.Set
}

// Service is the lookup service.
type Service struct {
	cfg    Config
	envids *ua.EnvIDs
	next   atomic.Uint64

	// least-loaded: sessions handed to each server since its load was
	// measured (generation gen)
	pickMu sync.Mutex
	gen    uint64
	handed map[string]int64

	mu      sync.Mutex
	dialogs map[sipnet.DialogID]*dialog
	open    map[connUser]int // dialogs open by connection and user
	stop    chan struct{}
	done    chan struct{}

	lookups, cancels, limited atomic.Uint64
}

type connUser struct {
	conn *sipnet.Conn
	user string
}

type dialog struct {
	d       *sipnet.Dialog
	user    string
	created time.Time
}

// Stats counts the service's work.
type Stats struct {
	Lookups uint64 `json:"lookups"` // channel URIs handed out
	Cancels uint64 `json:"cancels"` // console-flow INVITEs cancelled
	Dialogs int    `json:"dialogs"` // lookup dialogs open
	// Limited counts lookup INVITEs refused over MaxDialogsPerUser.
	Limited uint64 `json:"limited"`
}

// New starts the service (and its sweeper of abandoned dialogs).
func New(cfg Config) *Service {
	if cfg.CancelWait == 0 {
		cfg.CancelWait = DefaultCancelWait
	}
	if cfg.SessionExpires == 0 {
		cfg.SessionExpires = ua.DefaultSessionExpires
	}
	if cfg.DialogLife == 0 {
		cfg.DialogLife = DefaultDialogLife
	}
	if cfg.MaxDialogsPerUser <= 0 {
		cfg.MaxDialogsPerUser = DefaultMaxDialogsPerUser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, envids: ua.NewEnvIDs(), dialogs: map[sipnet.DialogID]*dialog{}, open: map[connUser]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.sweep()
	return s
}

// Stats returns counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	n := len(s.dialogs)
	s.mu.Unlock()
	return Stats{Lookups: s.lookups.Load(), Cancels: s.cancels.Load(), Dialogs: n, Limited: s.limited.Load()}
}

// Close stops the sweeper.
func (s *Service) Close() {
	close(s.stop)
	<-s.done
}

// pick returns the channel service URI to hand out.
func (s *Service) pick() string {
	s.lookups.Add(1)
	servers := s.servers()
	if s.cfg.Faults.Has(fault.NoRoundRobin) {
		return servers[0].URIs[0]
	}
	n := s.next.Add(1) - 1
	if s.cfg.Policy == LeastLoaded && len(servers) > 1 {
		srv := s.leastLoaded(servers)
		return srv.URIs[n%uint64(len(srv.URIs))]
	}
	total := 0
	for _, srv := range servers {
		total += len(srv.URIs)
	}
	k := int(n % uint64(total))
	for _, srv := range servers {
		if k < len(srv.URIs) {
			return srv.URIs[k]
		}
		k -= len(srv.URIs)
	}
	return servers[0].URIs[0]
}

// servers returns what to hand out: the directory's servers that have a
// channel service, else this server's channel services.
func (s *Service) servers() []Server {
	if s.cfg.Directory != nil {
		all, _ := s.cfg.Directory.Servers()
		ok := all[:0:0]
		for _, srv := range all {
			if len(srv.URIs) > 0 {
				ok = append(ok, srv)
			}
		}
		if len(ok) > 0 {
			return ok
		}
	}
	return []Server{{URIs: s.cfg.Channels}}
}

// leastLoaded picks the server with the fewest sessions, counting those
// this service sent it since its load was measured; ties go to the first.
func (s *Service) leastLoaded(servers []Server) Server {
	_, gen := s.cfg.Directory.Servers()
	s.pickMu.Lock()
	defer s.pickMu.Unlock()
	if gen != s.gen || s.handed == nil {
		s.gen, s.handed = gen, map[string]int64{}
	}
	best := 0
	for i := range servers {
		if servers[i].Load+s.handed[servers[i].ID] < servers[best].Load+s.handed[servers[best].ID] {
			best = i
		}
	}
	s.handed[servers[best].ID]++
	return servers[best]
}

func (s *Service) requriReply(cmdEnvID uint64) *xccos.Envelope {
	return xccos.NewReply(s.envids.Next(), "requri", cmdEnvID, 200, "", &xccos.Data{Users: []xccos.UIB{{URI: s.pick()}}})
}

// HandleInvite answers an INVITE to the lookup URI from user.
func (s *Service) HandleInvite(tx *sipnet.ServerTx, user string) {
	m := tx.Msg
	if sipnet.IsTextPlain(m.ContentType) && len(m.Body) > 0 {
		s.consoleFlow(tx)
		return
	}
	cu := connUser{tx.Conn, user}
	s.mu.Lock()
	n := s.open[cu]
	s.mu.Unlock()
	// one connection's requests are handled in turn: n cannot grow meanwhile
	if n >= s.cfg.MaxDialogsPerUser {
		s.limited.Add(1)
		_ = tx.Respond(403, "Forbidden", ua.Warning(fmt.Sprintf("%s has %d lookup dialogs open on this connection, the most allowed: end one with BYE first", user, n)))
		return
	}
	d, err := ua.Answer(tx, s.cfg.URI, s.cfg.SessionExpires)
	if err != nil {
		_ = tx.Respond(400, "Bad Request")
		return
	}
	s.mu.Lock()
	s.dialogs[d.ID()] = &dialog{d: d, user: user, created: time.Now()}
	s.open[cu]++
	s.mu.Unlock()
}

// forgetLocked removes a dialog; s.mu is held.
func (s *Service) forgetLocked(k sipnet.DialogID, dl *dialog) {
	delete(s.dialogs, k)
	cu := connUser{dl.d.Conn, dl.user}
	if n := s.open[cu] - 1; n > 0 {
		s.open[cu] = n
	} else {
		delete(s.open, cu)
	}
}

// consoleFlow: 183 with the channel URI, then wait for the CANCEL.
func (s *Service) consoleFlow(tx *sipnet.ServerTx) {
	env, err := xccos.Parse(tx.Msg.Body)
	if err != nil || len(env.Items) != 1 || env.Items[0].Kind != xccos.KindCommand || env.Items[0].Name != "requri" {
		_ = tx.Respond(400, "Bad Request", ua.Warning("the INVITE body must be one cmd:requri envelope"))
		return
	}
	rpl := s.requriReply(env.EnvID)
	if s.cfg.Faults.Has(fault.NonSIPChannelURI) {
		u := rpl.Items[0].Data.Users[0].URI
		rpl.Items[0].Data.Users[0].URI = "ma-chan://" + strings.TrimPrefix(u, "sip:")
	}
	body := rpl.Marshal()
	tx.OnCancel(func(cancel *sipnet.ServerTx) {
		s.cancels.Add(1)
		_ = cancel.Respond(200, "OK")
		if !s.cfg.Faults.Has(fault.IgnoreCancel) {
			_ = tx.Respond(487, "Request Terminated")
		}
	})
	_ = tx.Reply(sipnet.Reply{Code: 183, Reason: "Session Progress", ContentType: ua.ContentType, Body: body})
	// on the endpoint's timer, which ends with it: no timer outlives the
	// server
	s.cfg.Endpoint.After(s.cfg.CancelWait, func() {
		if tx.Final() == 0 {
			_ = tx.Respond(408, "Request Timeout", ua.Warning("no CANCEL came after the 183"))
		}
	})
}

// HandleInDialog handles requests inside a lookup dialog; false when the
// dialog is not the service's.
func (s *Service) HandleInDialog(tx *sipnet.ServerTx, user string) bool {
	key := sipnet.DialogIDOf(tx.Msg)
	s.mu.Lock()
	dl := s.dialogs[key]
	s.mu.Unlock()
	if dl == nil {
		return false
	}
	m := tx.Msg
	if user != dl.user {
		if m.Method != "ACK" {
			_ = tx.Respond(403, "Forbidden")
		}
		return true
	}
	switch m.Method {
	case "ACK":
	case "INFO":
		_ = tx.Respond(200, "OK")
		env, err := xccos.Parse(m.Body)
		switch {
		case err != nil:
			var envid uint64
			if env != nil {
				envid = env.EnvID
			}
			_ = ua.Send(s.cfg.Endpoint, dl.d, xccos.NewReply(s.envids.Next(), "requri", envid, 400, "malformed XCCOS: "+err.Error(), nil), nil)
		case len(env.Items) == 1 && env.Items[0].Kind == xccos.KindCommand && env.Items[0].Name == "requri":
			_ = ua.Send(s.cfg.Endpoint, dl.d, s.requriReply(env.EnvID), nil)
		default:
			name := "error"
			if len(env.Items) > 0 {
				name = env.Items[0].Name
			}
			_ = ua.Send(s.cfg.Endpoint, dl.d, xccos.NewReply(s.envids.Next(), name, env.EnvID, 400, "the lookup service only answers cmd:requri", nil), nil)
		}
	case "BYE":
		_ = tx.Respond(200, "OK")
		s.mu.Lock()
		if s.dialogs[key] == dl {
			s.forgetLocked(key, dl)
		}
		s.mu.Unlock()
	case "UPDATE":
		_ = tx.Respond(200, "OK")
	default:
		_ = tx.Respond(405, "Method Not Allowed", sipnet.Header{Name: "Allow", Value: "INVITE, ACK, BYE, INFO, UPDATE, CANCEL"})
	}
	return true
}

// ConnClosed forgets the dialogs of a closed connection.
func (s *Service) ConnClosed(c *sipnet.Conn) {
	s.mu.Lock()
	for k, dl := range s.dialogs {
		if dl.d.Conn == c {
			s.forgetLocked(k, dl)
		}
	}
	s.mu.Unlock()
}

func (s *Service) sweep() {
	defer close(s.done)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for k, dl := range s.dialogs {
				if now.Sub(dl.created) > s.cfg.DialogLife {
					s.forgetLocked(k, dl)
				}
			}
			s.mu.Unlock()
		}
	}
}
