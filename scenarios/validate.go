package scenarios

import (
	"github.com/gcload/gcload/reports"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/internal/yamlx"
)

// Validate reports every semantic problem of a spec whose defaults are
// filled (see Defaults), each as "FILE:LINE: FIELD: message" with the
// position taken from pos (the one Decode returned), or "FIELD: message"
// when pos is nil (a spec built in code). Fields that were not given point
// at their nearest given ancestor.
func (s *Spec) Validate(pos *yamlx.Positions) []error {
	c := &checker{pos: pos}
	c.name(s.Name)
	c.users(s)
	c.target(&s.Target)
	c.reconnect(s.Reconnect)
	if s.Target.Embedded.Pool > 0 && s.Transport == UDP {
		c.add("transport", "an embedded pool listens on TCP only")
	}
	switch s.Transport {
	case TCP, TLS, UDP:
	default:
		c.add("transport", "unknown transport %q (want tcp, tls or udp)", s.Transport)
	}
	switch s.Connections.Model {
	case PerUser:
	case Shared:
		if n := s.Connections.Shared; n < 1 {
			c.add("connections.shared", "must be at least 1, got %d", n)
		} else if s.Users.Count >= 1 && n > s.Users.Count {
			c.add("connections.shared", "%d connections for %d users (want at most users.count)", n, s.Users.Count)
		}
	default:
		c.add("connections.model", "unknown connection model %q (want per-user or shared)", s.Connections.Model)
	}
	switch s.Lookup.Flow {
	case FlowClient, FlowCancel, FlowMixed:
		if s.Lookup.Channel != "" {
			c.add("lookup.channel", "only the direct flow takes a channel URI (flow is %s)", s.Lookup.Flow)
		}
	case FlowDirect:
		if s.Lookup.Channel != "" && !strings.HasPrefix(s.Lookup.Channel, "sip:") {
			c.add("lookup.channel", "%q is not a sip: URI", s.Lookup.Channel)
		}
	default:
		c.add("lookup.flow", "unknown lookup flow %q (want client, cancel, mixed or direct)", s.Lookup.Flow)
	}
	c.rooms(s)
	c.phases(s)
	if s.Drain < 0 {
		c.add("drain", "must not be negative, got %s", s.Drain)
	}
	c.limits(&s.Limits)
	c.breakpoint(s)
	for i, t := range s.Thresholds {
		th, err := reports.ParseThreshold(t)
		if err == nil {
			err = reports.CheckMetric(th.Name())
		}
		if err != nil {
			c.add(yamlx.Index("thresholds", i), "%v", err)
		}
	}
	return c.errs
}

type checker struct {
	pos  *yamlx.Positions
	errs []error
}

func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, c.pos.Errorf(path, format, args...))
}

// safeName reports whether s is usable as a folder name and a room or
// phase name: letters, digits, '-', '_' and '.', not starting with '.' or
// '-'.
func safeName(s string, dots bool) bool {
	if s == "" || len(s) > 100 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		case r == '.' && dots:
		default:
			return false
		}
	}
	return true
}

func (c *checker) name(name string) {
	switch {
	case name == "":
		c.add("name", "missing (the name of the scenario, used for its results folder)")
	case !safeName(name, true):
		c.add("name", "%q is not usable as a folder name (use letters, digits, '-', '_' and '.', at most 100, not starting with '.' or '-')", name)
	}
}

func (c *checker) users(s *Spec) {
	if n := s.Users.Count; n < 1 || n > MaxUsers {
		c.add("users.count", "must be between 1 and %d, got %d", MaxUsers, n)
	}
	if p := s.Users.Prefix; !safeName(p, true) {
		c.add("users.prefix", "%q is not usable in a SIP URI (use letters, digits, '-', '_' and '.')", p)
	}
	u := &s.Users
	if u.Accounts != "" && (u.Login != "" || u.Password != "") {
		c.add("users.accounts", "give the credentials once: an accounts file, or login and password patterns")
	}
	if u.Login != "" && u.Password == "" {
		c.add("users.password", "missing: a login pattern needs a password pattern")
	}
	if strings.ContainsAny(u.Login+u.Password, "\r\n") {
		c.add("users.login", "the credential patterns may not hold line breaks")
	}
}

func (c *checker) target(t *Target) {
	if t.Lookup != "" {
		rest, ok := cutPrefixFold(t.Lookup, "sip:")
		if !ok || lookupDomain(t.Lookup) == "" || strings.ContainsAny(rest, " \t<>\"") {
			c.add("target.lookup", "%q is not a sip: URI (want sip:USER@DOMAIN, such as sip:ocschat@contoso.com)", t.Lookup)
		}
	}
	if t.Server != "" {
		servers := t.Servers()
		if len(servers) == 0 {
			c.add("target.server", "%q names no server (want host:port, or several separated by commas)", t.Server)
		}
		seen := map[string]bool{}
		for _, srv := range servers {
			addr := srv
			if scheme, rest, ok := strings.Cut(addr, "://"); ok {
				addr = rest
				if sc := strings.ToLower(scheme); sc != TCP && sc != TLS && sc != UDP {
					c.add("target.server", "%q: transport %q, want tcp, tls or udp", srv, scheme)
				}
			}
			host, port, err := net.SplitHostPort(addr)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
				c.add("target.server", "%q is not host:port or tls://host:port (such as chat.contoso.com:5061)", srv)
			}
			if seen[srv] {
				c.add("target.server", "%s is given twice", srv)
			}
			seen[srv] = true
		}
		if t.Lookup == "" {
			c.add("target.lookup", "missing: target.server is set, but without a lookup URI gcload runs the embedded server")
		}
	}
	if t.Admin != "" {
		u, err := url.Parse(t.Admin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.add("target.admin", "%q is not an http(s) URL (such as http://127.0.0.1:8080)", t.Admin)
		}
	}
	if !validDomain(t.Domain) {
		c.add("target.domain", "%q is not a domain name", t.Domain)
	}
	if t.Embedded.Channels < 1 {
		c.add("target.embedded.channels", "must be at least 1, got %d", t.Embedded.Channels)
	}
	switch t.Embedded.Auth {
	case "ntlm", "digest", "none":
	default:
		c.add("target.embedded.auth", "unknown sign-in %q (want ntlm, digest or none)", t.Embedded.Auth)
	}
	if n := t.Embedded.NoticeLimit; n != nil && *n < 0 {
		c.add("target.embedded.notice_limit", "must not be negative, got %d", *n)
	}
	if d := t.Embedded.NoticeDelay; d != nil && (*d < 0 || d.D() > time.Second) {
		c.add("target.embedded.notice_delay", "must be between 0 and 1s, got %v", d.D())
	}
	e := &t.Embedded
	switch {
	case e.Pool < 0 || e.Pool > MaxPool:
		c.add("target.embedded.pool", "must be between 0 (one server in-process) and %d, got %d", MaxPool, e.Pool)
	case e.Pool > 0 && e.Auth != "none":
		c.add("target.embedded.auth", "%q: an embedded pool's servers sign users in without authentication (auth: none); ntlm and digest are for one embedded server, or for a pool of gcload serve --auth servers given as target.server", e.Auth)
	case e.Pool == 0:
		for _, f := range []struct {
			name string
			set  bool
		}{{"db", e.DB != ""}, {"lookup", e.Lookup != ""}, {"kill", e.Kill != nil}} {
			if f.set {
				c.add("target.embedded."+f.name, "only for an embedded pool (target.embedded.pool above 0)")
			}
		}
	}
	if e.DB != "" && !strings.HasPrefix(e.DB, "postgres://") && !strings.HasPrefix(e.DB, "postgresql://") {
		c.add("target.embedded.db", "want a postgres:// URL of a PostgreSQL database")
	}
	if e.Lookup != "" && e.Lookup != "round-robin" && e.Lookup != "least-loaded" {
		c.add("target.embedded.lookup", "unknown policy %q (want round-robin or least-loaded)", e.Lookup)
	}
	if k := e.Kill; k != nil && e.Pool > 0 {
		if k.Server < 1 || k.Server > e.Pool {
			c.add("target.embedded.kill.server", "must be between 1 and target.embedded.pool (%d), got %d", e.Pool, k.Server)
		}
		if k.At <= 0 {
			c.add("target.embedded.kill.at", "must be more than 0, got %s", k.At)
		}
	}
}

func (c *checker) reconnect(r *Reconnect) {
	if r == nil {
		return
	}
	if r.After <= 0 {
		c.add("reconnect.after", "must be more than 0, got %s", r.After)
	}
	if r.Tries < 1 {
		c.add("reconnect.tries", "must be at least 1, got %d", r.Tries)
	}
	if r.History < 1 || r.History > MaxHistoryLast {
		c.add("reconnect.history", "must be between 1 and %d, got %d", MaxHistoryLast, r.History)
	}
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func (c *checker) rooms(s *Spec) {
	r := &s.Rooms
	if len(r.Classes) == 0 {
		c.add("rooms.classes", "no room classes (give at least one, such as {size: 10, count: 5})")
	}
	names := make(map[string]string)
	shares, sum, rooms := 0, 0.0, 0
	for i, rc := range r.Classes {
		p := yamlx.Index("rooms.classes", i)
		switch {
		case rc.Size < 1:
			c.add(p+".size", "must be at least 1, got %d", rc.Size)
		case s.Users.Count >= 1 && rc.Size > s.Users.Count:
			c.add(p+".size", "%d is more than users.count (%d): a room cannot have more distinct members than there are users", rc.Size, s.Users.Count)
		}
		if rc.Count < 1 {
			c.add(p+".count", "must be at least 1, got %d", rc.Count)
		} else {
			rooms += min(rc.Count, MaxRooms+1)
		}
		switch prev, dup := names[rc.Name]; {
		case !safeName(rc.Name, false):
			c.add(p+".name", "%q is not usable in a room name (use letters, digits, '-' and '_')", rc.Name)
		case dup:
			c.add(p+".name", "duplicate class name %q (also %s; name the classes)", rc.Name, prev)
		default:
			names[rc.Name] = p
		}
		if rc.PostShare != nil {
			shares++
			if v := *rc.PostShare; !(v >= 0 && v <= 1) {
				c.add(p+".post_share", "must be between 0 and 1, got %g", v)
			} else {
				sum += v
			}
		}
	}
	if shares > 0 && shares < len(r.Classes) {
		for i, rc := range r.Classes {
			if rc.PostShare == nil {
				c.add(yamlx.Index("rooms.classes", i)+".post_share", "missing: give post_share for every class or for none")
			}
		}
	} else if shares > 0 && math.Abs(sum-1) > 1e-6 {
		c.add("rooms.classes", "post_share values sum to %g, want 1", sum)
	}
	if rooms > MaxRooms {
		c.add("rooms.classes", "more than %d rooms", MaxRooms)
	}
	switch r.Spread {
	case SpreadSequential, SpreadShuffled:
	default:
		c.add("rooms.spread", "unknown spread %q (want sequential or shuffled)", r.Spread)
	}
	switch r.Privacy {
	case PrivacyClosed, PrivacyOpen:
	default:
		c.add("rooms.privacy", "unknown privacy %q (want closed or open)", r.Privacy)
	}
}

func (c *checker) phases(s *Spec) {
	if len(s.Phases) == 0 {
		c.add("phases", "no phases (give at least a sign-in phase)")
		return
	}
	names := make(map[string]string)
	signs := false
	remaining := s.Users.Count
	durations := s.PhaseDurations()
	for i, ph := range s.Phases {
		p := yamlx.Index("phases", i)
		switch prev, dup := names[ph.Name]; {
		case ph.Name == "":
			c.add(p+".name", "missing (phases are named, for reports and --set phases.NAME...)")
		case !safeName(ph.Name, false):
			c.add(p+".name", "%q is not usable in --set paths (use letters, digits, '-' and '_')", ph.Name)
		case dup:
			c.add(p+".name", "duplicate phase name %q (also %s)", ph.Name, prev)
		default:
			names[ph.Name] = p
		}
		switch {
		case ph.Duration < 0:
			c.add(p+".duration", "must not be negative, got %s", ph.Duration)
		case ph.Duration == 0 && ph.SignIn == nil:
			c.add(p+".duration", "missing: nothing bounds the phase (only a sign-in phase may leave it out, and then lasts until every user signed in)")
		case durations[i] > MaxPhaseDuration:
			c.add(p+".duration", "the phase lasts %s, more than %s", Duration(durations[i].Truncate(time.Second)), Duration(MaxPhaseDuration))
		}
		if a := ph.SignIn; a != nil {
			signs = true
			c.arrival(p+".signin", a)
			if ph.Duration == 0 && remaining <= 0 && s.Users.Count >= 1 {
				c.add(p+".signin", "every user is signed in by earlier phases, so nothing bounds this phase: give it a duration")
			}
			remaining -= signedIn(a.Rate, ph.Duration, remaining)
		}
		if po := ph.Posts; po != nil {
			c.arrival(p+".posts", &po.Arrival)
			c.size(p+".posts.size", po.Size, MaxMessageSize, "message", "characters")
			switch {
			case !(po.Spoofed >= 0 && po.Spoofed <= 1):
				c.add(p+".posts.spoofed", "must be a fraction between 0 and 1, got %g", po.Spoofed)
			case !(po.Stories >= 0 && po.Stories <= 1):
				c.add(p+".posts.stories", "must be a fraction between 0 and 1, got %g", po.Stories)
			case po.Stories > 0:
				c.size(p+".posts.story_size", po.StorySize, MaxStorySize, "story", "characters")
			}
		}
		if h := ph.History; h != nil {
			c.arrival(p+".history", &h.Arrival)
			if h.Last < 1 || h.Last > MaxHistoryLast {
				c.add(p+".history.last", "must be between 1 and %d, got %d", MaxHistoryLast, h.Last)
			}
		}
		if se := ph.Search; se != nil {
			c.arrival(p+".search", &se.Arrival)
		}
		if up := ph.Uploads; up != nil {
			c.arrival(p+".uploads", &up.Arrival)
			c.size(p+".uploads.size", up.Size, MaxFileSize, "file", "bytes")
		}
		if dl := ph.Downloads; dl != nil {
			c.arrival(p+".downloads", &dl.Arrival)
		}
		if ms := ph.MessageSearch; ms != nil {
			c.arrival(p+".message_search", &ms.Arrival)
			switch ms.By {
			case SearchKeyword, SearchAuthor, SearchRoom:
			default:
				c.add(p+".message_search.by", "%q: want keyword, author or room", ms.By)
			}
			if ms.Limit < 1 || ms.Limit > MaxSearchLimit {
				c.add(p+".message_search.limit", "must be between 1 and %d, got %d", MaxSearchLimit, ms.Limit)
			}
		}
		if m := ph.Manage; m != nil {
			c.arrival(p+".manage", m)
		}
		if ch := ph.Churn; ch != nil {
			c.arrival(p+".churn", &ch.Arrival)
			if ch.Away <= 0 {
				c.add(p+".churn.away", "must be more than 0, got %s", ch.Away)
			}
		}
	}
	if !signs {
		c.add("phases", "no phase signs users in (give one a signin rate)")
	}
}

func (c *checker) arrival(path string, a *Arrival) {
	switch r := a.Rate.PerSecond(); {
	case !(r > 0):
		c.add(path+".rate", "must be more than 0, got %s", a.Rate)
	case r > MaxRate:
		c.add(path+".rate", "%s is more than %d/s", a.Rate, MaxRate)
	}
	switch a.Process {
	case Poisson, Constant:
	default:
		c.add(path+".arrival", "unknown arrival process %q (want poisson or constant)", a.Process)
	}
}

func (c *checker) size(path string, z Size, limit int, what, unit string) {
	unused := func(field string, set bool, uses string) {
		if set {
			c.add(path+"."+field, "not used by the %s distribution (it uses %s)", z.Dist, uses)
		}
	}
	over := func(field string, v float64) {
		if v > float64(limit) {
			c.add(path+"."+field, "%g %s is over the %s size limit of %d", v, unit, what, limit)
		}
	}
	switch z.Dist {
	case SizeFixed:
		if z.Value < 1 {
			c.add(path+".value", "must be at least 1, got %d", z.Value)
		}
		over("value", float64(z.Value))
		unused("min", z.Min != 0, "value")
		unused("max", z.Max != 0, "value")
		unused("mean", z.Mean != 0, "value")
		unused("stddev", z.StdDev != 0, "value")
	case SizeUniform, SizeNormal, SizeLognormal:
		if z.Min < 1 {
			c.add(path+".min", "must be at least 1, got %d", z.Min)
		}
		if z.Max < z.Min {
			c.add(path+".min", "min (%d) is more than max (%d)", z.Min, z.Max)
		}
		over("max", float64(z.Max))
		if z.Dist == SizeUniform {
			unused("value", z.Value != 0, "min and max")
			unused("mean", z.Mean != 0, "min and max")
			unused("stddev", z.StdDev != 0, "min and max")
			return
		}
		unused("value", z.Value != 0, "mean, stddev, min and max")
		switch {
		case !(z.Mean >= 1):
			c.add(path+".mean", "must be at least 1, got %g", z.Mean)
		case z.Mean > float64(limit):
			over("mean", z.Mean)
		case z.Mean < float64(z.Min) || z.Mean > float64(z.Max):
			c.add(path+".mean", "%g is outside [min, max] = [%d, %d]", z.Mean, z.Min, z.Max)
		}
		if !(z.StdDev >= 0) || math.IsInf(z.StdDev, 0) {
			c.add(path+".stddev", "must not be negative, got %g", z.StdDev)
		}
	default:
		c.add(path+".dist", "unknown size distribution %q (want fixed, uniform, normal or lognormal)", z.Dist)
	}
}

func (c *checker) limits(l *Limits) {
	if l.MaxLag <= 0 {
		c.add("limits.max_lag", "must be more than 0, got %s", l.MaxLag)
	}
	if l.Concurrency < 1 || l.Concurrency > MaxConcurrency {
		c.add("limits.concurrency", "must be between 1 and %d, got %d", MaxConcurrency, l.Concurrency)
	}
	if l.Timeout <= 0 {
		c.add("limits.timeout", "must be more than 0, got %s", l.Timeout)
	}
	if l.PartGrace < 0 {
		c.add("limits.part_grace", "must not be negative, got %s", l.PartGrace)
	}
}

// breakpoint checks the search: section: a rate it knows that some phase
// has, rates and bounds in range.
func (c *checker) breakpoint(s *Spec) {
	b := s.Breakpoint
	if b == nil {
		return
	}
	raise := b.Raise
	if raise == "" {
		raise = RaisePosts
	}
	has := func(ph *Phase) bool {
		switch raise {
		case RaisePosts:
			return ph.Posts != nil && ph.Posts.Rate > 0
		case RaiseHistory:
			return ph.History != nil && ph.History.Rate > 0
		case RaiseSearch:
			return ph.Search != nil && ph.Search.Rate > 0
		case RaiseMessageSearch:
			return ph.MessageSearch != nil && ph.MessageSearch.Rate > 0
		}
		return false
	}
	switch raise {
	case RaisePosts, RaiseHistory, RaiseSearch, RaiseMessageSearch:
		found := false
		for i := range s.Phases {
			found = found || has(&s.Phases[i])
		}
		if !found {
			path := "search"
			if b.Raise != "" {
				path = "search.raise"
			}
			c.add(path, "no phase has %s at a rate above 0: there is no rate to raise", raise)
		}
	default:
		c.add("search.raise", "unknown rate %q (want posts, history, search or message_search)", b.Raise)
	}
	if b.Start < 0 || math.IsNaN(float64(b.Start)) {
		c.add("search.start", "must not be negative, got %s", b.Start)
	}
	if b.MaxRate < 0 || math.IsNaN(float64(b.MaxRate)) {
		c.add("search.max_rate", "must not be negative, got %s", b.MaxRate)
	} else if b.MaxRate > 0 && b.Start > b.MaxRate {
		c.add("search.max_rate", "%s is below search.start (%s)", b.MaxRate, b.Start)
	}
	if b.Steps < 0 || b.Steps > 100 {
		c.add("search.steps", "want 1 to 100 runs, got %d", b.Steps)
	}
	if b.Resolution != 0 && !(b.Resolution > 0 && b.Resolution < 1) {
		c.add("search.resolution", "want a fraction between 0 and 1, got %g", b.Resolution)
	}
	if b.ServerCPUs < 0 || math.IsNaN(b.ServerCPUs) || math.IsInf(b.ServerCPUs, 0) {
		c.add("search.server_cpus", "want a number of cores above 0, got %g", b.ServerCPUs)
	} else if b.ServerCPUs > 0 && (s.Target.Server != "" || s.Target.Lookup != "") {
		c.add("search.server_cpus", "only with the embedded target (it limits the reference server gcload starts)")
	} else if b.ServerCPUs > 0 && s.Target.Embedded.Pool > 0 {
		c.add("search.server_cpus", "not with an embedded pool (it limits the one reference server gcload starts)")
	}
}
