package scenarios_test

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gcload/gcload/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestShipped(t *testing.T) {
	want := []string{"compliance", "files", "history-heavy", "large-room", "logon-storm", "lync2013-mix", "peak", "pool", "smoke", "soak"}
	if got := scenarios.Shipped(); !reflect.DeepEqual(got, want) {
		t.Errorf("Shipped() = %q, want %q", got, want)
	}
	for _, name := range scenarios.Shipped() {
		t.Run(name, func(t *testing.T) {
			s, pos, err := scenarios.Load(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Errorf("name = %q, want %q", s.Name, name)
			}
			if !pos.Has("users.count") {
				t.Error("no position for users.count")
			}
			data, err := scenarios.ShippedFile(name)
			if err != nil {
				t.Fatal(err)
			}
			header := string(data[:bytes.Index(data, []byte("\nname:"))])
			for _, w := range []string{"# " + name + ": ", "# Runs about "} {
				if !strings.Contains(header, w) {
					t.Errorf("header comment lacks %q", w)
				}
			}
			if len(s.Thresholds) == 0 {
				t.Error("no thresholds")
			}
		})
	}
}

func TestShippedModels(t *testing.T) {
	load := func(name string) *scenarios.Spec {
		s, _, err := scenarios.Load(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	smoke := load("smoke")
	if smoke.Users.Count != 50 || smoke.RoomCount() != 5 || smoke.TotalSlots() != 50 ||
		smoke.Connections.Model != scenarios.PerUser || smoke.Lookup.Flow != scenarios.FlowClient ||
		smoke.TotalDuration() != 32*time.Second {
		t.Errorf("smoke: %+v", smoke)
	}
	peak := load("peak")
	if peak.Users.Count != 60000 || peak.RoomCount() != 60 || peak.Rooms.Classes[0].Size != 1000 ||
		peak.Phases[1].Posts.Rate.PerSecond() != 40 || peak.Connections.Shared != 64 {
		t.Errorf("peak: %+v", peak)
	}
	mix := load("lync2013-mix")
	perUser := float64(mix.TotalSlots()) / float64(mix.Users.Count)
	if perUser < 15 || perUser > 17 {
		t.Errorf("lync2013-mix: %.1f rooms per user, want about 16", perUser)
	}
	shares := map[string]float64{"small": 22.2 / 24.02, "medium": 1.67 / 24.02, "large": 0.15 / 24.02}
	var deliveries, large float64
	for _, c := range mix.Rooms.Classes {
		if math.Abs(*c.PostShare-shares[c.Name]) > 1e-5 {
			t.Errorf("lync2013-mix: %s post_share %g, want %g", c.Name, *c.PostShare, shares[c.Name])
		}
		d := mix.Phases[1].Posts.Rate.PerSecond() * *c.PostShare * float64(c.Size)
		deliveries += d
		if c.Name == "large" {
			large = d
		}
	}
	if deliveries < 800 || deliveries > 860 || large/deliveries < 0.7 || large/deliveries > 0.74 {
		t.Errorf("lync2013-mix: %.0f deliveries/s, %.0f%% large; the model says about 830, 72%%", deliveries, 100*large/deliveries)
	}
	// the rates that are ours, derived from the model's 8-hour day
	// (the YAML's comments): uploads 1 per 100 posts, 5 downloads a file,
	// one search per user and one membership change per room a day
	st := mix.Phases[1]
	day := 8 * 3600.0
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"uploads", st.Uploads.Rate.PerSecond(), st.Posts.Rate.PerSecond() / 100},
		{"downloads", st.Downloads.Rate.PerSecond(), 5 * st.Uploads.Rate.PerSecond()},
		{"message_search", st.MessageSearch.Rate.PerSecond(), float64(mix.Users.Count) / day},
		{"manage", st.Manage.Rate.PerSecond(), float64(mix.RoomCount()) / day},
	} {
		if math.Abs(c.got-c.want) > 0.01 {
			t.Errorf("lync2013-mix: %s %.3f/s, want %.3f/s", c.what, c.got, c.want)
		}
	}
	if soak := load("soak"); soak.TotalDuration() < 2*time.Hour {
		t.Errorf("soak lasts %v", soak.TotalDuration())
	}
}

func TestLoadPaths(t *testing.T) {
	for _, p := range []string{"smoke", "smoke.yaml", "scenarios/smoke.yaml", "/no/such/dir/smoke.yaml", "peak"} {
		if _, _, err := scenarios.Load(p, nil); err != nil {
			t.Errorf("Load(%q): %v", p, err)
		}
	}
	_, _, err := scenarios.Load("nope.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "shipped: compliance, files, history-heavy, ") {
		t.Errorf("Load(nope.yaml) = %v", err)
	}
	if _, err := scenarios.ShippedFile("nope"); !errors.Is(err, scenarios.ErrNotShipped) {
		t.Errorf("ShippedFile(nope) = %v", err)
	}
	// A file on disk wins over the shipped one, and positions name it.
	dir := t.TempDir()
	file := filepath.Join(dir, "smoke.yaml")
	doc := strings.Replace(string(must(scenarios.ShippedFile("smoke"))), "count: 50", "count: 0", 1)
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = scenarios.Load(file, nil)
	if err == nil || !strings.HasPrefix(err.Error(), file+":") {
		t.Errorf("Load(%s) = %v", file, err)
	}
	// A name without .yaml is positioned as NAME.yaml.
	_, _, err = scenarios.Load("smoke", []string{"users.count=0"})
	if err == nil || !strings.HasPrefix(err.Error(), "--set users.count: users.count: must be between") {
		t.Errorf("Load(smoke, users.count=0) = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestOverrides(t *testing.T) {
	s, pos, err := scenarios.Load("smoke", []string{
		"users.count=10",
		"phases.steady.duration=5s",
		"phases[1].posts.rate=2400/m",
		"rooms.classes[0].size=5",
		"rooms.classes.room.count=2",
		`thresholds=["lost == 0"]`,
		"target.embedded.channels=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Users.Count != 10 || s.Phases[1].Duration.D() != 5*time.Second || s.Phases[1].Posts.Rate != 40 ||
		s.TotalSlots() != 10 || !reflect.DeepEqual(s.Thresholds, []string{"lost == 0"}) || s.Target.Embedded.Channels != 2 {
		t.Errorf("spec after overrides: %+v", s)
	}
	for path, want := range map[string]string{
		"users.count":               "--set users.count",
		"phases[1].duration":        "--set phases.steady.duration",
		"phases[1].posts.rate":      "--set phases[1].posts.rate",
		"thresholds[0]":             "--set thresholds",
		"target.embedded.channels":  "--set target.embedded.channels",
		"target":                    "--set target.embedded.channels",
		"phases[1].history.rate":    "smoke.yaml:31",
		"phases[1].posts.size.dist": "smoke.yaml:30",
	} {
		if got := pos.At(path); got != want {
			t.Errorf("At(%q) = %q, want %q", path, got, want)
		}
	}

	for _, tt := range []struct{ set, want string }{
		{"users.count=ten", `--set users.count: users.count: "ten" is not an integer`},
		{"phases.steady.duration=5", "--set phases.steady.duration: phases[1].duration: 5 is not a duration: a duration needs a unit"},
		{"phases.steady.posts.rate=fast", `--set phases.steady.posts.rate: phases[1].posts.rate: "fast" is not a rate`},
		{"users.cont=5", `--set users.cont: users.cont: unknown key "cont", did you mean "count"?`},
		{"phases.stedy.duration=5s", `--set phases.stedy.duration: phases: no element is named "stedy" (names: signin, steady)`},
		{"users.count=2000", `--set users.count: connections.shared:`},
		{"transport=sctp", `--set transport: transport: unknown transport "sctp"`},
	} {
		_, _, err := scenarios.Load("smoke", []string{tt.set})
		if tt.set == "users.count=2000" {
			// Valid: 2000 users, the rooms take the first 50.
			if err != nil {
				t.Errorf("--set %s: %v", tt.set, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("--set %s: got\n%v\nwant %s...", tt.set, err, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range scenarios.Shipped() {
		t.Run(name, func(t *testing.T) {
			s, _, err := scenarios.Load(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), name+".run.yaml")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			back, _, err := scenarios.Load(file, nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("round trip differs:\n%s", b)
			}
			b2, err := back.YAML()
			if err != nil || !bytes.Equal(b, b2) {
				t.Errorf("YAML not stable: %v\n%s\n---\n%s", err, b, b2)
			}
		})
	}
}

func TestYAMLGolden(t *testing.T) {
	s, _, err := scenarios.Load("smoke", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "smoke.run.yaml.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("YAML() differs from %s (run with -update):\n%s", golden, got)
	}
}

func node(v string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("v: "+v), &doc); err != nil {
		panic(err)
	}
	return doc.Content[0].Content[1]
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
		out  string
	}{
		{in: "30s", want: 30 * time.Second, out: "30s"},
		{in: "10m", want: 10 * time.Minute, out: "10m"},
		{in: "1h30m", want: 90 * time.Minute, out: "1h30m"},
		{in: "2h", want: 2 * time.Hour, out: "2h"},
		{in: "500ms", want: 500 * time.Millisecond, out: "500ms"},
		{in: "1m0.5s", want: 60500 * time.Millisecond, out: "1m0.5s"},
		{in: "0s", want: 0, out: "0s"},
		{in: "30", err: "30 is not a duration: a duration needs a unit"},
		{in: "1.5", err: "1.5 is not a duration: a duration needs a unit"},
		{in: "soon", err: `"soon" is not a duration`},
		{in: "[1s]", err: "want a duration such as 30s, got a list"},
	} {
		var d scenarios.Duration
		err := d.UnmarshalYAML(node(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || d.D() != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.in, d.D(), err, tt.want)
		}
		if out, _ := d.MarshalYAML(); out != tt.out {
			t.Errorf("%s marshals to %v, want %s", tt.in, out, tt.out)
		}
	}
}

func TestRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		out  string
		err  bool
	}{
		{in: "40/s", want: 40, out: "40/s"},
		{in: "2400/m", want: 40, out: "40/s"},
		{in: "1/h", want: 1.0 / 3600, out: "1/h"},
		{in: "0.5/s", want: 0.5, out: "0.5/s"},
		{in: "30/m", want: 0.5, out: "0.5/s"},
		{in: "1/m", want: 1.0 / 60, out: "1/m"},
		{in: "7/h", want: 7.0 / 3600, out: "7/h"},
		{in: "12", want: 12, out: "12/s"},
		{in: "0.25", want: 0.25, out: "0.25/s"},
		{in: "0.0001", want: 0.0001, out: "0.0001/s"},
		{in: "1e-7", want: 1e-7, out: "1e-07/s"},
		{in: " 40 / s", want: 40, out: "40/s"},
		{in: "fast", err: true},
		{in: "40/d", err: true},
		{in: "/s", err: true},
		{in: ".nan", err: true},
		{in: ".inf", err: true},
	} {
		var r scenarios.Rate
		err := r.UnmarshalYAML(node(`"` + tt.in + `"`))
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "is not a rate (want N/s, N/m, N/h or a number)") {
				t.Errorf("%q: error %v", tt.in, err)
			}
			continue
		}
		if err != nil || math.Abs(r.PerSecond()-tt.want) > 1e-12 {
			t.Errorf("%q = %v, %v; want %v", tt.in, r.PerSecond(), err, tt.want)
		}
		if r.String() != tt.out {
			t.Errorf("%q String() = %q, want %q", tt.in, r.String(), tt.out)
		}
		if back, err := scenarios.ParseRate(r.String()); err != nil || back != r {
			t.Errorf("%q: %q reads back as %v, %v", tt.in, r.String(), back, err)
		}
	}
	var r scenarios.Rate
	if err := r.UnmarshalYAML(node("5")); err != nil || r != 5 {
		t.Errorf("bare number: %v, %v", r, err)
	}
}

func TestDefaults(t *testing.T) {
	s := scenarios.Spec{
		Users:       scenarios.Users{Count: 10},
		Target:      scenarios.Target{Lookup: "sip:ocschat@contoso.com;transport=tcp"},
		Connections: scenarios.Connections{Model: scenarios.Shared},
		Rooms:       scenarios.Rooms{Classes: []scenarios.RoomClass{{Size: 5, Count: 1}}},
		Phases: []scenarios.Phase{{
			SignIn:  &scenarios.Arrival{Rate: 1},
			Posts:   &scenarios.Posts{Stories: 0.1, Size: scenarios.Size{Dist: scenarios.SizeNormal, Mean: 50}},
			History: &scenarios.History{},
			Search:  &scenarios.Search{},
			Churn:   &scenarios.Churn{},
		}},
	}
	s.Defaults()
	p := s.Phases[0]
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"transport", s.Transport == "tcp"},
		{"shared at most users", s.Connections.Shared == 10},
		{"flow", s.Lookup.Flow == "client"},
		{"prefix", s.Users.Prefix == "user"},
		{"spread", s.Rooms.Spread == "sequential"},
		{"privacy", s.Rooms.Privacy == "closed"},
		{"class name", s.Rooms.Classes[0].Name == "r5"},
		{"domain from lookup", s.Target.Domain == "contoso.com"},
		{"channels", s.Target.Embedded.Channels == 1},
		{"notice limit", *s.Target.Embedded.NoticeLimit == 250},
		{"arrivals", p.SignIn.Process == "poisson" && p.Posts.Process == "poisson" && p.History.Process == "poisson" &&
			p.Search.Process == "poisson" && p.Churn.Process == "poisson"},
		{"size bounds", p.Posts.Size == scenarios.Size{Dist: "normal", Mean: 50, Min: 1, Max: 512}},
		{"story size", p.Posts.StorySize == scenarios.Size{Dist: "fixed", Value: 1500}},
		{"history last", p.History.Last == 25},
		{"away", p.Churn.Away.D() == 2*time.Second},
		{"drain", s.Drain.D() == 5*time.Second},
		{"limits", s.Limits == scenarios.Limits{MaxLag: scenarios.Duration(time.Second), Concurrency: 4096,
			Timeout: scenarios.Duration(30 * time.Second), PartGrace: scenarios.Duration(2 * time.Second)}},
	} {
		if !c.ok {
			t.Errorf("default %s not filled: %+v", c.name, s)
		}
	}
	d := scenarios.Spec{Users: scenarios.Users{Count: 100}, Connections: scenarios.Connections{Model: scenarios.Shared}}
	d.Defaults()
	if d.Target.Domain != "example.com" || d.Connections.Shared != 16 {
		t.Errorf("defaults: domain %q shared %d", d.Target.Domain, d.Connections.Shared)
	}
	m := scenarios.Spec{Phases: []scenarios.Phase{{Posts: &scenarios.Posts{}}}}
	m.Defaults()
	if got := m.Phases[0].Posts; got.Size != (scenarios.Size{Dist: "fixed", Value: 100}) || got.StorySize != (scenarios.Size{}) {
		t.Errorf("posts defaults: %+v", got)
	}
	again := s
	again.Defaults()
	if !reflect.DeepEqual(again, s) {
		t.Error("Defaults is not idempotent")
	}
}

func TestPhaseDurations(t *testing.T) {
	signin := func(r scenarios.Rate, d time.Duration) scenarios.Phase {
		return scenarios.Phase{Name: "in", Duration: scenarios.Duration(d), SignIn: &scenarios.Arrival{Rate: r}}
	}
	steady := scenarios.Phase{Name: "steady", Duration: scenarios.Duration(time.Minute)}
	for _, tt := range []struct {
		name   string
		users  int
		phases []scenarios.Phase
		want   []time.Duration
	}{
		{"ramp then steady", 50, []scenarios.Phase{signin(25, 0), steady}, []time.Duration{2 * time.Second, time.Minute}},
		{"rounded up to the ms", 10, []scenarios.Phase{signin(3, 0)}, []time.Duration{3334 * time.Millisecond}},
		{"exact despite floating point", 3, []scenarios.Phase{signin(0.3, 0)}, []time.Duration{10 * time.Second}},
		{"earlier sign-ins count", 100, []scenarios.Phase{signin(10, 4*time.Second), steady, signin(20, 0)},
			[]time.Duration{4 * time.Second, time.Minute, 3 * time.Second}},
		{"earlier phase signs in everyone", 10, []scenarios.Phase{signin(10, 5*time.Second), signin(1, 0)},
			[]time.Duration{5 * time.Second, 0}},
		{"slow", 1, []scenarios.Phase{signin(scenarios.Rate(1.0/3600), 0)}, []time.Duration{time.Hour}},
	} {
		s := scenarios.Spec{Users: scenarios.Users{Count: tt.users}, Phases: tt.phases}
		got := s.PhaseDurations()
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
		var total time.Duration
		for _, d := range tt.want {
			total += d
		}
		if s.TotalDuration() != total {
			t.Errorf("%s: TotalDuration %v, want %v", tt.name, s.TotalDuration(), total)
		}
	}
}

func TestPlanSizes(t *testing.T) {
	s := scenarios.Spec{Rooms: scenarios.Rooms{Classes: []scenarios.RoomClass{{Size: 30, Count: 8}, {Size: 150, Count: 2}}}}
	if s.TotalSlots() != 540 || s.RoomCount() != 10 {
		t.Errorf("slots %d rooms %d", s.TotalSlots(), s.RoomCount())
	}
}

func TestErrorType(t *testing.T) {
	e := &scenarios.Error{Problems: []error{errors.New("a: x"), fs.ErrNotExist}}
	if e.Error() != "a: x\nfile does not exist" || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("Error() = %q", e.Error())
	}
}

// FuzzParse checks that no scenario file or override makes Parse panic,
// and that whatever it accepts it can write and read back.
func FuzzParse(f *testing.F) {
	for _, name := range scenarios.Shipped() {
		f.Add(must(scenarios.ShippedFile(name)), "")
	}
	f.Add([]byte(base), "phases.steady.posts.rate=fast")
	f.Add([]byte(base), "rooms.classes[0].post_share=0.5")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var overrides []string
		if set != "" {
			overrides = strings.Split(set, "\n")
		}
		s, pos, err := scenarios.Parse("fuzz.yaml", data, overrides)
		if pos == nil {
			t.Fatal("nil positions")
		}
		if err != nil {
			if s != nil {
				t.Fatal("spec and error")
			}
			return
		}
		b, err := s.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := scenarios.Parse("back.yaml", b, nil)
		if err != nil {
			t.Fatalf("written spec does not load: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip differs:\n%s", b)
		}
	})
}
