package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/target"
)

// Target is the server under test (where to connect, its lookup URI and
// domain, a reference server's admin API and token: target.Target) and
// what the suite may use on it.
type Target struct {
	target.Target
	// Users are at least 4 users (sip:user@domain) that may sign in:
	// the first three are members of Rooms.Chat, the fourth is not a
	// member of Rooms.Closed.
	Users []string
	// Rooms are room IDs (the id of ma-chan://domain/id).
	Rooms Rooms
	// ChannelServices is how many channel services the lookup service
	// hands out (0: unknown; round-robin is then judged only if the
	// lookups show more than one).
	ChannelServices int
}

// MarshalJSON writes the target as conformance reports show it (never
// the admin token).
func (t Target) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Server          string   `json:"server"`
		Domain          string   `json:"domain"`
		Lookup          string   `json:"lookup"`
		Users           []string `json:"users"`
		Rooms           Rooms    `json:"rooms"`
		ChannelServices int      `json:"channel_services"`
		Admin           string   `json:"admin,omitempty"`
	}{t.Server(), t.Domain, t.Lookup, t.Users, t.Rooms, t.ChannelServices, t.Admin})
}

// Rooms names the rooms the suite uses.
type Rooms struct {
	// Chat: the first three users may join, post and read it; the suite
	// posts into it.
	Chat string `yaml:"chat" json:"chat"`
	// Closed: a closed room the fourth user is not a member of (optional).
	Closed string `yaml:"closed" json:"closed,omitempty"`
	// Disabled: a disabled room the first user is a member of (optional).
	Disabled string `yaml:"disabled" json:"disabled,omitempty"`
	// Managed: a room the first user manages, the second is a member of
	// but does not manage, and the third is not a member of (optional;
	// the suite changes its topic and adds the third user).
	Managed string `yaml:"managed" json:"managed,omitempty"`
	// Inherited: a closed room in which the fourth user holds no role
	// but which its category, or a parent of it, allows them to read
	// (optional; category/inherited-membership).
	Inherited string `yaml:"inherited" json:"inherited,omitempty"`
	// Overridden: a closed room in which the fourth user holds no role,
	// whose category overrides a parent that allows them (optional).
	Overridden string `yaml:"overridden" json:"overridden,omitempty"`
	// CreateCategory: a category (its id) in which the fourth user may
	// create rooms, as its creator or a parent's, and the second may not
	// (optional; category/creator-only: the suite creates a room in it).
	CreateCategory string `yaml:"create_category" json:"create_category,omitempty"`
}

// Options tune a run.
type Options struct {
	// Rules selects rules by ID (see SelectRules); nil runs them all.
	Rules map[string]bool
	// Timeout bounds each wait for an answer the server owes (default 3 s).
	Timeout time.Duration
	// Posts is how many posts each of the three members makes in the
	// fan-out probe (default 40: 240 deliveries to other members).
	Posts int
	// Progress, when set, is told of each probe as it starts.
	Progress func(probe string)
}

// Status of a rule after a run.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Failure is one way the server broke a rule.
type Failure struct {
	Detail string `json:"detail"`
	// Message is the offending message as received, when there is one.
	Message string `json:"message,omitempty"`
}

// Result is one rule's outcome.
type Result struct {
	Rule
	Status   Status    `json:"status"`
	Checks   int       `json:"checks"` // observations that held or failed
	Failures []Failure `json:"failures,omitempty"`
	// Skipped says why a rule was not checked.
	Skipped string `json:"skipped,omitempty"`
	// Probe names the probe that exercised the rule.
	Probe string `json:"probe"`
}

// Report is a run's outcome.
type Report struct {
	Target  Target         `json:"target"`
	Start   time.Time      `json:"start"`
	Seconds float64        `json:"seconds"`
	Results []Result       `json:"results"`
	Counts  map[Status]int `json:"counts"`
	// NoWork: no probe got as far as checking anything (every one failed
	// before: the server never let a client sign in, say); Cause is the
	// first probe's error. The failures of such a run say nothing about
	// the protocol.
	NoWork bool   `json:"no_work,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// ErrUnreachable: the target's SIP address took no connection.
var ErrUnreachable = errors.New("target unreachable")

// Failed reports whether any rule failed.
func (r *Report) Failed() bool { return r.Counts[Fail] > 0 }

// FailedRules lists the IDs of the failed rules.
func (r *Report) FailedRules() []string {
	var out []string
	for _, x := range r.Results {
		if x.Status == Fail {
			out = append(out, x.ID)
		}
	}
	return out
}

// maxFailures bounds the failures kept per rule.
const maxFailures = 20

// suite is one run's state.
type suite struct {
	t      Target
	o      Options
	runID  string
	setup  *sipclient.Setup // how clients connect and sign in
	router *sipclient.Router
	bell   *bell // rung at every client event

	mu       sync.Mutex
	res      map[string]*Result
	observed int    // observations of rules, held or failed (not "could not run")
	cause    string // the first probe's error
}

// Validate checks a target; it returns every problem.
func (t *Target) Validate() error {
	var probs []string
	if t.Server() == "" {
		probs = append(probs, "server: the SIP address host:port is required")
	} else {
		tt := t.Target
		if tt.Lookup == "" && tt.Domain != "" {
			tt.Lookup = "sip:ocschat@" + tt.Domain
		}
		for _, err := range tt.Validate() {
			probs = append(probs, err.Error())
		}
	}
	if t.Domain == "" {
		probs = append(probs, "domain: required")
	}
	if len(t.Users) < 4 {
		probs = append(probs, fmt.Sprintf("users: %d given, the suite needs 4", len(t.Users)))
	}
	for i, u := range t.Users {
		if a, err := sipnet.AOR(u); err != nil || !strings.HasSuffix(a, "@"+t.Domain) {
			probs = append(probs, fmt.Sprintf("users[%d]: %q is not sip:user@%s", i, u, t.Domain))
		}
	}
	if t.Admin == "" && t.Rooms.Chat == "" {
		probs = append(probs, "rooms.chat: required without an admin API (the room the first three users post into)")
	}
	if len(probs) > 0 {
		return fmt.Errorf("conformance target: %s", strings.Join(probs, "; "))
	}
	return nil
}

// Run runs the suite against t. A target that takes no TCP connection
// is an error wrapping ErrUnreachable. When ctx ends first, Run returns
// the report so far (the rules not judged yet skipped, saying why) with
// ctx's error.
func Run(ctx context.Context, t Target, o Options) (*Report, error) {
	if t.Lookup == "" && t.Domain != "" {
		t.Lookup = "sip:ocschat@" + t.Domain
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Posts <= 0 {
		o.Posts = 40
	}
	if o.Rules == nil {
		o.Rules, _ = SelectRules(nil)
	}
	setup, err := sipclient.NewSetup(t.Target, "")
	if err != nil {
		return nil, fmt.Errorf("conformance target: %w", err)
	}
	s := &suite{t: t, o: o, runID: sipnet.NewTag()[:8], res: map[string]*Result{}, bell: newBell(), setup: setup}
	for _, r := range Rules {
		if o.Rules[r.ID] {
			s.res[r.ID] = &Result{Rule: r}
		}
	}
	s.skipAuth()
	start := time.Now()
	d := net.Dialer{Timeout: o.Timeout}
	c, err := d.DialContext(ctx, "tcp", setup.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, t.Server(), err)
	}
	c.Close()
	s.router = sipclient.NewRouter(sipclient.RouterOptions{Timeout: o.Timeout, Stray: s.stray})
	defer s.router.Close()
	if t.Admin != "" {
		if err := s.provision(ctx); err != nil {
			return nil, err
		}
	}
	for _, p := range probes {
		if ctx.Err() != nil {
			break
		}
		if !s.wants(p.rules...) {
			continue
		}
		if o.Progress != nil {
			o.Progress(p.name)
		}
		s.runProbe(ctx, p)
	}
	// what the clients checked on every message and every sign-in
	checks := s.router.Checks()
	for _, id := range []string{ruleid.ServerSignature, ruleid.Challenge} {
		if x := s.res[id]; x != nil && x.Skipped == "" {
			if n := int(checks[id]); n > 0 {
				s.mu.Lock()
				x.Checks += n
				s.observed += n
				s.mu.Unlock()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		// stopped (a deadline, an interrupt): the rules not judged yet
		// were not run, and say so
		for _, x := range s.res {
			if len(x.Failures) == 0 && x.Skipped == "" {
				x.Skipped = "not run: the suite was stopped (" + context.Cause(ctx).Error() + ")"
				x.Checks = 0
			}
		}
	}
	rep := &Report{Target: s.t, Start: start, Seconds: time.Since(start).Seconds(), Counts: map[Status]int{}, NoWork: s.observed == 0, Cause: s.cause}
	for _, r := range Rules {
		x, ok := s.res[r.ID]
		if !ok {
			continue
		}
		switch {
		case len(x.Failures) > 0:
			x.Status = Fail
		case x.Skipped != "":
			x.Status = Skip
		case x.Checks == 0:
			x.Status, x.Skipped = Skip, "not exercised"
		default:
			x.Status = Pass
		}
		rep.Counts[x.Status]++
		rep.Results = append(rep.Results, *x)
	}
	return rep, ctx.Err()
}

// probe is one flow that exercises some rules.
type probe struct {
	name  string
	rules []string
	run   func(ctx context.Context, s *suite, p *probeRun) error
}

// probeRun is one probe's state: the clients it made.
type probeRun struct {
	name    string
	clients []*sipclient.Client
}

func (s *suite) wants(rules ...string) bool {
	for _, r := range rules {
		if s.o.Rules[r] {
			return true
		}
	}
	return false
}

// runProbe runs a probe, then charges the violations its clients saw to
// their rules; an error the probe could not attribute fails all its rules.
func (s *suite) runProbe(ctx context.Context, p probe) {
	pr := &probeRun{name: p.name}
	for _, id := range p.rules {
		if x := s.res[id]; x != nil && x.Probe == "" {
			x.Probe = p.name
		}
	}
	err := p.run(ctx, s, pr)
	for _, c := range pr.clients {
		for _, v := range c.Violations() {
			s.fail(v.Rule, v.Detail, v.Msg)
		}
		cctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
		_ = c.Close(cctx)
		cancel()
	}
	if err != nil {
		s.mu.Lock()
		if s.cause == "" {
			s.cause = "the " + p.name + " probe: " + err.Error()
		}
		s.mu.Unlock()
		for _, id := range p.rules {
			if x := s.res[id]; x != nil && len(x.Failures) == 0 && x.Skipped == "" {
				s.record(id, "the "+p.name+" probe could not run: "+err.Error(), nil, false)
			}
		}
	}
}

// ok records an observation of rule that held.
func (s *suite) ok(rule string) {
	s.mu.Lock()
	if x := s.res[rule]; x != nil {
		x.Checks++
		s.observed++
	}
	s.mu.Unlock()
}

// fail records a failure of rule.
func (s *suite) fail(rule, detail string, msg []byte) { s.record(rule, detail, msg, true) }

// record records a failure of rule; observed says whether the server's
// behaviour was seen (not a probe that could not run).
func (s *suite) record(rule, detail string, msg []byte, observed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.res[rule]
	if x == nil {
		return
	}
	if observed {
		s.observed++
	}
	x.Checks++
	if len(x.Failures) < maxFailures {
		x.Failures = append(x.Failures, Failure{Detail: detail, Message: string(msg)})
	}
}

// skip records why rule was not checked.
func (s *suite) skip(rule, why string) {
	s.mu.Lock()
	if x := s.res[rule]; x != nil && x.Skipped == "" {
		x.Skipped = why
	}
	s.mu.Unlock()
}

// stray gets requests the server sent outside any client's dialog.
func (s *suite) stray(tx *sipnet.ServerTx) {
	m := tx.Msg
	if m.Method == "INFO" {
		s.fail(ruleid.InDialog, fmt.Sprintf("an INFO arrived outside every dialog the client has (Call-ID %s)", m.CallID), m.Raw)
	}
}
