package refserver

import (
	"math"
	"syscall"
	"time"
)

// Limits bound what one client, or many, can make the reference server hold
// or do (docs/protocol.md, "Limits"). A zero field takes the default; a
// negative one switches that limit off.
type Limits struct {
	// MaxConns bounds the TCP connections (and UDP peers) the server
	// accepts in all; over it a connection is reset at once. Default: the
	// process's open-file limit less a reserve (MaxConnsReserve), so that
	// the admin API, the database and sign-in keep working.
	MaxConns int
	// MaxConnsPerAddr bounds those from one IP address (default 4096).
	MaxConnsPerAddr int
	// SignInTimeout closes a connection on which no user registered
	// within this time of its start (default 30 s).
	SignInTimeout time.Duration
	// MessageTimeout closes a connection on which a SIP message has been
	// partly received for this long (default 20 s): a half-sent message.
	MessageTimeout time.Duration
	// MaxUsersPerConn bounds the users registered on one connection
	// (default 10,000; a front-end pool carries many on one).
	MaxUsersPerConn int
	// MaxSessionsPerUser bounds one user's channel sessions, and apart
	// its lookup dialogs, on one connection (default 16).
	MaxSessionsPerUser int
	// MaxCommands bounds the elements of one XCCOS envelope (default 16):
	// an envelope with more is refused whole.
	MaxCommands int
	// MaxConnQueries bounds the history and message-search queries in
	// progress for the clients of one connection (default 16), MaxQueries
	// those of the whole server (default 1024); over either a command is
	// answered 503 at once.
	MaxConnQueries, MaxQueries int
	// StoreQueue bounds the posts waiting for a commit in the embedded
	// SQLite store (default 4096; it cannot be switched off); over it a
	// post is answered 503.
	StoreQueue int
}

// Defaults of Limits.
const (
	DefaultMaxConnsPerAddr    = 4096
	DefaultSignInTimeout      = 30 * time.Second
	DefaultMessageTimeout     = 20 * time.Second
	DefaultMaxUsersPerConn    = 10000
	DefaultMaxSessionsPerUser = 16
	DefaultMaxCommands        = 16
	DefaultMaxConnQueries     = 16
	DefaultMaxQueries         = 1024
	DefaultStoreQueue         = 4096
	// MaxConnsReserve is how many file descriptors the default MaxConns
	// leaves free (or a sixteenth of the limit, whichever is more).
	MaxConnsReserve = 256
)

// DefaultMaxConns is the default of Limits.MaxConns on this process: its
// open-file limit less the reserve.
func DefaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024 - MaxConnsReserve
	}
	cur := rl.Cur
	if cur > 1<<20 {
		cur = 1 << 20
	}
	n := int(cur)
	return max(n-max(MaxConnsReserve, n/16), 16)
}

// resolved returns l with its defaults filled in.
func (l Limits) resolved() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns()
	}
	def(&l.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	defD(&l.SignInTimeout, DefaultSignInTimeout)
	defD(&l.MessageTimeout, DefaultMessageTimeout)
	def(&l.MaxUsersPerConn, DefaultMaxUsersPerConn)
	def(&l.MaxSessionsPerUser, DefaultMaxSessionsPerUser)
	def(&l.MaxCommands, DefaultMaxCommands)
	def(&l.MaxConnQueries, DefaultMaxConnQueries)
	def(&l.MaxQueries, DefaultMaxQueries)
	def(&l.StoreQueue, DefaultStoreQueue)
	if l.MaxUsersPerConn < 0 {
		l.MaxUsersPerConn = math.MaxInt
	}
	return l
}

// off maps a resolved limit to sipnet's convention (0: none).
func off(n int) int { return max(n, 0) }

// offD maps a resolved time limit to sipnet's convention (0: none).
func offD(d time.Duration) time.Duration { return max(d, 0) }

// unlimited maps a resolved limit to the channel hub's convention (0: the
// default), so off is a limit never reached.
func unlimited(n int) int {
	if n < 0 {
		return math.MaxInt32
	}
	return n
}
