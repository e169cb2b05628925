package scenarios_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gcload/gcload/internal/yamlx"
	"github.com/gcload/gcload/scenarios"
)

// base is a small valid scenario; the invalid cases edit it.
const base = `name: t
users: {count: 10}
rooms: {classes: [{size: 5, count: 2}]}
phases:
  - {name: in, signin: {rate: 10/s}}
  - {name: steady, duration: 1s, posts: {rate: 1/s}}
`

// edit replaces old (which must occur) with new in base.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("base has no %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

func TestBaseIsValid(t *testing.T) {
	if _, _, err := scenarios.Parse("t.yaml", []byte(base), nil); err != nil {
		t.Fatal(err)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		doc    func(t *testing.T) string
		prefix string // exact "FILE:LINE: FIELD:" of one problem
		msg    string // in that problem's message
	}{
		// Decoding.
		{"unknown key", func(t *testing.T) string { return base + "user: 3\n" },
			"t.yaml:7: user:", `unknown key "user", did you mean "users"? (known keys: name, description, seed,`},
		{"unknown nested key", func(t *testing.T) string { return edit(t, "{count: 10}", "{count: 10, prefx: u}") },
			"t.yaml:2: users.prefx:", `did you mean "prefix"? (known keys: count, prefix, login, password, accounts)`},
		{"unknown key in phase", func(t *testing.T) string { return edit(t, "posts: {rate: 1/s}", "post: {rate: 1/s}") },
			"t.yaml:6: phases[1].post:", `unknown key "post", did you mean "posts"?`},
		{"not an integer", func(t *testing.T) string { return edit(t, "{count: 10}", "{count: ten}") },
			"t.yaml:2: users.count:", `"ten" is not an integer`},
		{"mapping for list", func(t *testing.T) string { return edit(t, "[{size: 5, count: 2}]", "{size: 5, count: 2}") },
			"t.yaml:3: rooms.classes:", "want a list, got a mapping"},
		{"scalar for mapping", func(t *testing.T) string { return edit(t, "{count: 10}", "10") },
			"t.yaml:2: users:", `want a mapping, got "10"`},
		{"not a rate", func(t *testing.T) string { return edit(t, "rate: 1/s", "rate: fast") },
			"t.yaml:6: phases[1].posts.rate:", `"fast" is not a rate (want N/s, N/m, N/h or a number)`},
		{"rate unit", func(t *testing.T) string { return edit(t, "rate: 1/s", "rate: 1/d") },
			"t.yaml:6: phases[1].posts.rate:", `"1/d" is not a rate`},
		{"duration without unit", func(t *testing.T) string { return edit(t, "duration: 1s", "duration: 30") },
			"t.yaml:6: phases[1].duration:", "a duration needs a unit"},
		{"not a duration", func(t *testing.T) string { return edit(t, "duration: 1s", "duration: soon") },
			"t.yaml:6: phases[1].duration:", `"soon" is not a duration`},
		{"duplicate key", func(t *testing.T) string { return base + "name: u\n" },
			"t.yaml:7: name:", "duplicate key (first given at t.yaml:1)"},
		{"syntax error", func(t *testing.T) string { return base + "drain: [1s\n" },
			"t.yaml:7:", "did not find expected ',' or ']'"},
		// Name and users.
		{"name missing", func(t *testing.T) string { return edit(t, "name: t\n", "description: x\n") },
			"t.yaml:1: name:", "missing"},
		{"name unsafe", func(t *testing.T) string { return edit(t, "name: t", "name: a/b") },
			"t.yaml:1: name:", `"a/b" is not usable as a folder name`},
		{"no users", func(t *testing.T) string { return edit(t, "{count: 10}", "{count: 0}") },
			"t.yaml:2: users.count:", "must be between 1 and 1000000, got 0"},
		{"too many users", func(t *testing.T) string { return edit(t, "{count: 10}", "{count: 2000000}") },
			"t.yaml:2: users.count:", "must be between 1 and 1000000, got 2000000"},
		{"users missing", func(t *testing.T) string { return edit(t, "users: {count: 10}\n", "") },
			"t.yaml:1: users.count:", "must be between 1 and 1000000, got 0"},
		// Transport, connections, lookup, target.
		{"transport", func(t *testing.T) string { return base + "transport: sctp\n" },
			"t.yaml:7: transport:", `unknown transport "sctp" (want tcp, tls or udp)`},
		{"connection model", func(t *testing.T) string { return base + "connections: {model: pooled}\n" },
			"t.yaml:7: connections.model:", `unknown connection model "pooled" (want per-user or shared)`},
		{"more connections than users", func(t *testing.T) string { return base + "connections: {model: shared, shared: 11}\n" },
			"t.yaml:7: connections.shared:", "11 connections for 10 users"},
		{"lookup flow", func(t *testing.T) string { return base + "lookup: {flow: register}\n" },
			"t.yaml:7: lookup.flow:", `unknown lookup flow "register" (want client, cancel, mixed or direct)`},
		{"lookup not sip", func(t *testing.T) string { return base + "target: {lookup: 'http://x', server: 'a:5061'}\n" },
			"t.yaml:7: target.lookup:", `"http://x" is not a sip: URI`},
		{"server with a bad transport", func(t *testing.T) string {
			return base + "target: {lookup: 'sip:c@contoso.com', server: 'sctp://chat.contoso.com:5061'}\n"
		}, "t.yaml:7: target.server:", `transport "sctp", want tcp, tls or udp`},
		{"two sources of credentials", func(t *testing.T) string {
			return edit(t, "{count: 10}", "{count: 10, accounts: a.csv, password: 'p{i}'}")
		},
			"t.yaml:2: users.accounts:", "give the credentials once"},
		{"spoofed share", func(t *testing.T) string { return edit(t, "posts: {rate: 1/s}", "posts: {rate: 1/s, spoofed: 2}") },
			"t.yaml:6: phases[1].posts.spoofed:", "must be a fraction between 0 and 1, got 2"},
		{"embedded auth", func(t *testing.T) string { return base + "target: {embedded: {auth: kerberos}}\n" },
			"t.yaml:7: target.embedded.auth:", `unknown sign-in "kerberos" (want ntlm, digest or none)`},
		{"notice delay", func(t *testing.T) string { return base + "target: {embedded: {notice_delay: 5s}}\n" },
			"t.yaml:7: target.embedded.notice_delay:", "must be between 0 and 1s, got 5s"},
		{"server not host:port", func(t *testing.T) string {
			return base + "target: {lookup: 'sip:c@contoso.com', server: chat.contoso.com}\n"
		}, "t.yaml:7: target.server:", `"chat.contoso.com" is not host:port`},
		{"admin not http", func(t *testing.T) string { return base + "target: {admin: 'ftp://x'}\n" },
			"t.yaml:7: target.admin:", `"ftp://x" is not an http(s) URL`},
		// Rooms.
		{"no room classes", func(t *testing.T) string { return edit(t, "[{size: 5, count: 2}]", "[]") },
			"t.yaml:3: rooms.classes:", "no room classes"},
		{"room larger than users", func(t *testing.T) string { return edit(t, "size: 5", "size: 50") },
			"t.yaml:3: rooms.classes[0].size:", "50 is more than users.count (10): a room cannot have more distinct members than there are users"},
		{"room size zero", func(t *testing.T) string { return edit(t, "size: 5", "size: 0") },
			"t.yaml:3: rooms.classes[0].size:", "must be at least 1, got 0"},
		{"room count zero", func(t *testing.T) string { return edit(t, "count: 2", "count: 0") },
			"t.yaml:3: rooms.classes[0].count:", "must be at least 1, got 0"},
		{"duplicate class names", func(t *testing.T) string {
			return edit(t, "[{size: 5, count: 2}]", "[{size: 5, count: 2}, {size: 5, count: 1}]")
		}, "t.yaml:3: rooms.classes[1].name:", `duplicate class name "r5" (also rooms.classes[0]; name the classes)`},
		{"post_share for some classes", func(t *testing.T) string {
			return edit(t, "[{size: 5, count: 2}]", "[{size: 5, count: 2, post_share: 1}, {name: b, size: 5, count: 1}]")
		}, "t.yaml:3: rooms.classes[1].post_share:", "missing: give post_share for every class or for none"},
		{"post_share sum", func(t *testing.T) string {
			return edit(t, "[{size: 5, count: 2}]", "[{size: 5, count: 2, post_share: 0.5}, {name: b, size: 5, count: 1, post_share: 0.4}]")
		}, "t.yaml:3: rooms.classes:", "post_share values sum to 0.9, want 1"},
		{"post_share negative", func(t *testing.T) string {
			return edit(t, "[{size: 5, count: 2}]", "[{size: 5, count: 2, post_share: -0.5}, {name: b, size: 5, count: 1, post_share: 1.5}]")
		}, "t.yaml:3: rooms.classes[0].post_share:", "must be between 0 and 1, got -0.5"},
		{"spread", func(t *testing.T) string { return edit(t, "rooms: {", "rooms: {spread: random, ") },
			"t.yaml:3: rooms.spread:", `unknown spread "random" (want sequential or shuffled)`},
		{"privacy", func(t *testing.T) string { return edit(t, "rooms: {", "rooms: {privacy: secret, ") },
			"t.yaml:3: rooms.privacy:", `unknown privacy "secret" (want closed or open)`},
		// Phases.
		{"no phases", func(t *testing.T) string { return base[:strings.Index(base, "phases:")] + "phases: []\n" },
			"t.yaml:4: phases:", "no phases"},
		{"phase name missing", func(t *testing.T) string { return edit(t, "{name: steady, ", "{") },
			"t.yaml:6: phases[1].name:", "missing"},
		{"phase name duplicated", func(t *testing.T) string { return edit(t, "name: steady", "name: in") },
			"t.yaml:6: phases[1].name:", `duplicate phase name "in" (also phases[0])`},
		{"phase name with a dot", func(t *testing.T) string { return edit(t, "name: steady", "name: a.b") },
			"t.yaml:6: phases[1].name:", `"a.b" is not usable in --set paths`},
		{"phase unbounded", func(t *testing.T) string { return edit(t, "duration: 1s, ", "") },
			"t.yaml:6: phases[1].duration:", "missing: nothing bounds the phase"},
		{"negative duration", func(t *testing.T) string { return edit(t, "duration: 1s", "duration: -1s") },
			"t.yaml:6: phases[1].duration:", "must not be negative, got -1s"},
		{"no sign-in phase", func(t *testing.T) string { return edit(t, "signin: {rate: 10/s}", "duration: 1s") },
			"t.yaml:4: phases:", "no phase signs users in"},
		{"sign-in with nobody left", func(t *testing.T) string { return base + "  - {name: again, signin: {rate: 1/s}}\n" },
			"t.yaml:7: phases[2].signin:", "every user is signed in by earlier phases"},
		{"zero rate", func(t *testing.T) string { return edit(t, "rate: 1/s", "rate: 0/s") },
			"t.yaml:6: phases[1].posts.rate:", "must be more than 0, got 0/s"},
		{"negative rate", func(t *testing.T) string { return edit(t, "rate: 10/s", "rate: -2") },
			"t.yaml:5: phases[0].signin.rate:", "must be more than 0, got -2/s"},
		{"arrival", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, arrival: bursty}") },
			"t.yaml:6: phases[1].posts.arrival:", `unknown arrival process "bursty" (want poisson or constant)`},
		{"size dist", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {dist: zipf}}") },
			"t.yaml:6: phases[1].posts.size.dist:", `unknown size distribution "zipf"`},
		{"size min over max", func(t *testing.T) string {
			return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {dist: uniform, min: 50, max: 10}}")
		}, "t.yaml:6: phases[1].posts.size.min:", "min (50) is more than max (10)"},
		{"size value zero", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {dist: fixed}}") },
			"t.yaml:6: phases[1].posts.size.value:", "must be at least 1, got 0"},
		{"size mean below 1", func(t *testing.T) string {
			return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {dist: normal, mean: 0.5, stddev: 1}}")
		}, "t.yaml:6: phases[1].posts.size.mean:", "must be at least 1, got 0.5"},
		{"message too long", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {value: 600}}") },
			"t.yaml:6: phases[1].posts.size.value:", "600 characters is over the message size limit of 512"},
		{"story too long", func(t *testing.T) string {
			return edit(t, "{rate: 1/s}", "{rate: 1/s, stories: 0.5, story_size: {dist: uniform, min: 100, max: 5000}}")
		}, "t.yaml:6: phases[1].posts.story_size.max:", "5000 characters is over the story size limit of 4096"},
		{"unused size field", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, size: {value: 10, mean: 5}}") },
			"t.yaml:6: phases[1].posts.size.mean:", "not used by the fixed distribution (it uses value)"},
		{"stories over 1", func(t *testing.T) string { return edit(t, "{rate: 1/s}", "{rate: 1/s, stories: 1.5}") },
			"t.yaml:6: phases[1].posts.stories:", "must be a fraction between 0 and 1, got 1.5"},
		{"history last", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "history: {rate: 1/s, last: 501}")
		}, "t.yaml:6: phases[1].history.last:", "must be between 1 and 500, got 501"},
		{"file too big", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "uploads: {rate: 1/s, size: {value: 20000000}}")
		}, "t.yaml:6: phases[1].uploads.size.value:", "2e+07 bytes is over the file size limit of 10485760"},
		{"downloads rate", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "downloads: {rate: 0/s}")
		}, "t.yaml:6: phases[1].downloads.rate:", "must be more than 0"},
		{"message search by", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "message_search: {rate: 1/s, by: topic}")
		}, "t.yaml:6: phases[1].message_search.by:", `"topic": want keyword, author or room`},
		{"message search limit", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "message_search: {rate: 1/s, limit: 1000}")
		}, "t.yaml:6: phases[1].message_search.limit:", "must be between 1 and 999, got 1000"},
		{"churn away", func(t *testing.T) string {
			return edit(t, "posts: {rate: 1/s}", "churn: {rate: 1/s, away: -1s}")
		}, "t.yaml:6: phases[1].churn.away:", "must be more than 0, got -1s"},
		// Drain, limits, thresholds.
		{"negative drain", func(t *testing.T) string { return base + "drain: -1s\n" },
			"t.yaml:7: drain:", "must not be negative, got -1s"},
		{"max lag", func(t *testing.T) string { return base + "limits: {max_lag: -1s}\n" },
			"t.yaml:7: limits.max_lag:", "must be more than 0, got -1s"},
		{"concurrency", func(t *testing.T) string { return base + "limits: {concurrency: -1}\n" },
			"t.yaml:7: limits.concurrency:", "must be between 1 and 1000000, got -1"},
		{"timeout", func(t *testing.T) string { return base + "limits:\n  timeout: -5s\n" },
			"t.yaml:8: limits.timeout:", "must be more than 0, got -5s"},
		{"threshold operator", func(t *testing.T) string { return base + "thresholds:\n  - lost == 0\n  - lost = 0\n" },
			"t.yaml:9: thresholds[1]:", `bad threshold "lost = 0": want an operator (<, <=, >, >=, ==, !=) after lost`},
		{"threshold statistic", func(t *testing.T) string { return base + "thresholds: [post_ack.p95 < 1s]\n" },
			"t.yaml:7: thresholds[0]:", `"post_ack.p95 < 1s": unknown statistic "p95"`},
		{"threshold metric", func(t *testing.T) string { return base + "thresholds: [nonsense_metric == 0]\n" },
			"t.yaml:7: thresholds[0]:", `unknown metric "nonsense_metric"`},
		{"threshold unit", func(t *testing.T) string { return base + "thresholds: [post_ack.p99 < 1sec]\n" },
			"t.yaml:7: thresholds[0]:", `unknown unit "sec"`},
		// The breakpoint search (search:).
		{"search raise", func(t *testing.T) string { return base + "search:\n  raise: joins\n" },
			"t.yaml:8: search.raise:", `unknown rate "joins" (want posts, history, search or message_search)`},
		{"search raise absent", func(t *testing.T) string { return base + "search: {raise: history}\n" },
			"t.yaml:7: search.raise:", "no phase has history at a rate above 0: there is no rate to raise"},
		{"search max below start", func(t *testing.T) string { return base + "search:\n  start: 50/s\n  max_rate: 20/s\n" },
			"t.yaml:9: search.max_rate:", "20/s is below search.start (50/s)"},
		{"search steps", func(t *testing.T) string { return base + "search: {steps: -2}\n" },
			"t.yaml:7: search.steps:", "want 1 to 100 runs, got -2"},
		{"search resolution", func(t *testing.T) string { return base + "search:\n  resolution: 1.5\n" },
			"t.yaml:8: search.resolution:", "want a fraction between 0 and 1, got 1.5"},
		{"search server_cpus", func(t *testing.T) string { return base + "search: {server_cpus: -1}\n" },
			"t.yaml:7: search.server_cpus:", "want a number of cores above 0, got -1"},
		{"search server_cpus remote", func(t *testing.T) string {
			return base + "target: {lookup: sip:ocschat@example.com, server: 127.0.0.1:5061}\nsearch:\n  server_cpus: 0.5\n"
		}, "t.yaml:9: search.server_cpus:", "only with the embedded target"},
		{"search unknown key", func(t *testing.T) string { return base + "search: {rais: posts}\n" },
			"t.yaml:7: search.rais:", `did you mean "raise"?`},
	}
	if len(tests) < 20 {
		t.Fatalf("only %d kinds", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc(t)
			s, _, err := scenarios.Parse("t.yaml", []byte(doc), nil)
			if err == nil {
				t.Fatalf("no error for\n%s", doc)
			}
			if s != nil {
				t.Error("a spec returned with an error")
			}
			var se *scenarios.Error
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, want *scenarios.Error", err)
			}
			for _, p := range se.Problems {
				line := p.Error()
				if strings.HasPrefix(line, tt.prefix+" ") && strings.Contains(line, tt.msg) {
					return
				}
			}
			t.Errorf("no problem %q ... %q in:\n%s", tt.prefix, tt.msg, err)
		})
	}
}

// TestManyMistakes checks that one file with many mistakes, of decoding and
// of meaning, reports every one of them: unknown keys first, then in line
// order.
func TestManyMistakes(t *testing.T) {
	doc := `name: my/scenario
users: {count: 10, prefx: u}
transport: sctp
rooms:
  classes:
    - {size: 50, count: 1}
phases:
  - name: steady
    duration: 30
    posts: {rate: fast}
limits: {concurrency: many}
thresholds: ["lost = 0"]
`
	want := []string{
		`t.yaml:2: users.prefx: unknown key "prefx"`,
		`t.yaml:1: name: "my/scenario" is not usable as a folder name`,
		`t.yaml:3: transport: unknown transport "sctp"`,
		`t.yaml:6: rooms.classes[0].size: 50 is more than users.count (10)`,
		`t.yaml:7: phases: no phase signs users in`,
		`t.yaml:9: phases[0].duration: 30 is not a duration: a duration needs a unit`,
		`t.yaml:10: phases[0].posts.rate: "fast" is not a rate`,
		`t.yaml:11: limits.concurrency: "many" is not an integer`,
		`t.yaml:12: thresholds[0]: bad threshold "lost = 0": want an operator`,
	}
	_, _, err := scenarios.Parse("t.yaml", []byte(doc), nil)
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems:\n%s\nwant %d", len(got), err, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
}

// TestMisspeltKey: a misspelt top-level key is reported first, and the
// problems that only follow from it (the real key's value missing) are
// not reported at all.
func TestMisspeltKey(t *testing.T) {
	doc := `name: typo
rooms:
  classes: [{name: r, size: 10, count: 5}]
phases:
  - name: signin
    signin: {rate: 25/s}
user:
  count: 50
transport: sctp
`
	_, _, err := scenarios.Parse("typo.yaml", []byte(doc), nil)
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], `typo.yaml:7: user: unknown key "user", did you mean "users"?`) || !strings.HasPrefix(got[1], "typo.yaml:9: transport:") {
		t.Fatalf("problems:\n%s", err)
	}
}

func TestValidateWithoutPositions(t *testing.T) {
	s := &scenarios.Spec{Name: "code", Users: scenarios.Users{Count: 0}}
	s.Defaults()
	errs := s.Validate(nil)
	want := []string{
		"users.count: must be between 1 and 1000000, got 0",
		"rooms.classes: no room classes",
		"phases: no phases",
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("no %q in %q", w, got)
		}
	}
	var ye *yamlx.Error
	if !errors.As(errs[0], &ye) || ye.Pos != "" {
		t.Errorf("problem %v has a position", errs[0])
	}
}
