package scenarios

import (
	"fmt"
	"strings"
	"time"
)

// Transports.
const (
	TCP = "tcp"
	TLS = "tls"
	UDP = "udp"
)

// Room privacy.
const (
	PrivacyClosed = "closed" // members only
	PrivacyOpen   = "open"   // anyone may join
)

// Defaults filled in by Spec.Defaults.
const (
	DefaultTransport = TCP
	// DefaultEmbeddedAuth is how the embedded server signs users in (an
	// embedded pool signs them in without authentication).
	DefaultEmbeddedAuth = "ntlm"
	DefaultModel        = PerUser
	DefaultShared       = 16 // connections of the shared model (at most users.count)
	DefaultFlow         = FlowClient
	DefaultPrefix       = "user"
	DefaultDomain       = "example.com"
	DefaultSpread       = SpreadSequential
	DefaultPrivacy      = PrivacyClosed
	DefaultChannels     = 1
	DefaultNoticeLimit  = 250
	DefaultArrival      = Poisson
	DefaultMessageSize  = 100  // characters, fixed
	DefaultStorySize    = 1500 // characters, fixed
	DefaultHistoryLast  = 25
	DefaultFileSize     = 100_000 // bytes, fixed
	DefaultSearchBy     = SearchKeyword
	DefaultSearchLimit  = 25
	DefaultAway         = 2 * time.Second
	DefaultDrain        = 5 * time.Second
	DefaultMaxLag       = time.Second
	DefaultConcurrency  = 4096
	DefaultTimeout      = 30 * time.Second
	DefaultPartGrace    = 2 * time.Second
	DefaultPoolLookup   = "round-robin"
	// reconnect
	DefaultReconnectAfter   = 500 * time.Millisecond
	DefaultReconnectTries   = 10
	DefaultReconnectHistory = 200
)

// Limits Validate enforces.
const (
	MaxUsers         = 1_000_000
	MaxRooms         = 1_000_000
	MaxMessageSize   = 512  // characters of a message
	MaxStorySize     = 4096 // characters of a story
	MaxHistoryLast   = 500
	MaxFileSize      = 10 << 20  // bytes of a file (the reference server's default limit)
	MaxSearchLimit   = 999       // posts of one msgsrch reply (the sib's searchLimit)
	MaxRate          = 1_000_000 // events per second
	MaxPhaseDuration = 31 * 24 * time.Hour
	MaxConcurrency   = 1_000_000
	MaxPool          = 8 // servers of an embedded pool
)

// Defaults fills every field left unset with its default (see the
// Default constants and docs/scenarios.md). It is idempotent. Validate
// expects a spec with defaults filled.
func (s *Spec) Defaults() {
	setString(&s.Transport, DefaultTransport)
	setString(&s.Connections.Model, DefaultModel)
	if s.Connections.Model == Shared && s.Connections.Shared == 0 {
		s.Connections.Shared = DefaultShared
		if s.Users.Count >= 1 {
			s.Connections.Shared = min(DefaultShared, s.Users.Count)
		}
	}
	setString(&s.Lookup.Flow, DefaultFlow)
	setString(&s.Users.Prefix, DefaultPrefix)
	setString(&s.Rooms.Spread, DefaultSpread)
	setString(&s.Rooms.Privacy, DefaultPrivacy)
	for i := range s.Rooms.Classes {
		c := &s.Rooms.Classes[i]
		setString(&c.Name, fmt.Sprintf("r%d", c.Size))
	}
	if s.Target.Domain == "" {
		s.Target.Domain = DefaultDomain
		if d := lookupDomain(s.Target.Lookup); d != "" {
			s.Target.Domain = d
		}
	}
	if s.Lookup.Flow == FlowDirect {
		setString(&s.Lookup.Channel, "sip:gcs1@"+s.Target.Domain)
	}
	if s.Target.Embedded.Channels == 0 {
		s.Target.Embedded.Channels = DefaultChannels
	}
	if s.Target.Embedded.Pool > 0 {
		setString(&s.Target.Embedded.Auth, "none")
	}
	setString(&s.Target.Embedded.Auth, DefaultEmbeddedAuth)
	if s.Target.Embedded.NoticeLimit == nil {
		n := DefaultNoticeLimit
		s.Target.Embedded.NoticeLimit = &n
	}
	if s.Target.Embedded.Pool > 0 {
		setString(&s.Target.Embedded.Lookup, DefaultPoolLookup)
	}
	if r := s.Reconnect; r != nil {
		if r.After == 0 {
			r.After = Duration(DefaultReconnectAfter)
		}
		if r.Tries == 0 {
			r.Tries = DefaultReconnectTries
		}
		if r.History == 0 {
			r.History = DefaultReconnectHistory
		}
	}
	for i := range s.Phases {
		p := &s.Phases[i]
		if p.SignIn != nil {
			setString(&p.SignIn.Process, DefaultArrival)
		}
		if p.Posts != nil {
			setString(&p.Posts.Process, DefaultArrival)
			p.Posts.Size.defaults(DefaultMessageSize, MaxMessageSize)
			if p.Posts.Stories > 0 || p.Posts.StorySize != (Size{}) {
				p.Posts.StorySize.defaults(DefaultStorySize, MaxStorySize)
			}
		}
		if p.History != nil {
			setString(&p.History.Process, DefaultArrival)
			if p.History.Last == 0 {
				p.History.Last = DefaultHistoryLast
			}
		}
		if p.Search != nil {
			setString(&p.Search.Process, DefaultArrival)
		}
		if p.Uploads != nil {
			setString(&p.Uploads.Process, DefaultArrival)
			p.Uploads.Size.defaults(DefaultFileSize, MaxFileSize)
		}
		if p.Downloads != nil {
			setString(&p.Downloads.Process, DefaultArrival)
		}
		if p.MessageSearch != nil {
			setString(&p.MessageSearch.Process, DefaultArrival)
			setString(&p.MessageSearch.By, DefaultSearchBy)
			if p.MessageSearch.Limit == 0 {
				p.MessageSearch.Limit = DefaultSearchLimit
			}
		}
		if p.Manage != nil {
			setString(&p.Manage.Process, DefaultArrival)
		}
		if p.Churn != nil {
			setString(&p.Churn.Process, DefaultArrival)
			setDuration(&p.Churn.Away, DefaultAway)
		}
	}
	setDuration(&s.Drain, DefaultDrain)
	setDuration(&s.Limits.MaxLag, DefaultMaxLag)
	if s.Limits.Concurrency == 0 {
		s.Limits.Concurrency = DefaultConcurrency
	}
	setDuration(&s.Limits.Timeout, DefaultTimeout)
	setDuration(&s.Limits.PartGrace, DefaultPartGrace)
}

// defaults fills a size distribution: fixed at value when unset, fixed
// when only the dist is missing, and bounds [1, limit] for normal and
// lognormal draws.
func (z *Size) defaults(value, limit int) {
	if *z == (Size{}) {
		*z = Size{Dist: SizeFixed, Value: value}
		return
	}
	setString(&z.Dist, SizeFixed)
	if z.Dist == SizeNormal || z.Dist == SizeLognormal {
		if z.Min == 0 {
			z.Min = 1
		}
		if z.Max == 0 {
			z.Max = limit
		}
	}
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDuration(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

// lookupDomain returns the domain of a lookup URI such as
// "sip:ocschat@contoso.com;transport=tcp", or "".
func lookupDomain(uri string) string {
	rest, ok := cutPrefixFold(uri, "sip:")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, ";")
	if _, host, ok := strings.Cut(rest, "@"); ok {
		rest = host
	}
	if !strings.HasPrefix(rest, "[") {
		rest, _, _ = strings.Cut(rest, ":")
	}
	return rest
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
