package k8s

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/scenarios"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

var target = []string{"target.lookup=sip:ocschat@example.com", "target.server=gc.example.com:5061"}

func peak(t *testing.T) []byte {
	t.Helper()
	b, err := scenarios.ShippedFile("peak")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderGolden(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Render(&buf, "peak.yaml", peak(t), Options{Shards: 4, Image: "registry.example.com/gcload:1.0", Namespace: "load", Set: target}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "peak-4.yaml.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("rendered manifests differ from %s (go test ./deploy/k8s -update rewrites it):\n%s", golden, buf.String())
	}
}

// The documents decode as YAML, the scenario survives the ConfigMap byte
// for byte, and every object is named from the instance.
func TestRenderDocuments(t *testing.T) {
	var buf bytes.Buffer
	data := peak(t)
	if _, err := Render(&buf, "peak.yaml", data, Options{Shards: 3, Image: "gcload:dev", Name: "run7", Set: target}); err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(&buf)
	var kinds []string
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		md := doc["metadata"].(map[string]any)
		kinds = append(kinds, doc["kind"].(string)+"/"+md["name"].(string))
		if _, ok := md["namespace"]; ok {
			t.Errorf("%v has a namespace though none was given", md["name"])
		}
		if doc["kind"] == "ConfigMap" {
			if got := doc["data"].(map[string]any)[ScenarioKey]; got != string(data) {
				t.Errorf("the ConfigMap's scenario differs from the file")
			}
		}
	}
	if got := strings.Join(kinds, " "); got != "ConfigMap/run7-scenario Service/run7-coordinator Job/run7-coordinator Job/run7-shards" {
		t.Errorf("objects %s", got)
	}
}

func TestSize(t *testing.T) {
	spec, _, err := scenarios.Parse("peak.yaml", peak(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// peak: 60,000 users, 40 posts/s into rooms of 1,000: 40,000 deliveries/s
	sz := Size(spec, 4)
	if sz.UsersPerShard != 15000 || sz.Deliveries != 40000 || sz.DeliveriesPerShard != 10000 {
		t.Fatalf("sizing %+v", sz)
	}
	if want := int64(BaseMemory + 15000*MemoryPerUser); sz.MemoryBytes != want || sz.Memory() != "116Mi" {
		t.Errorf("memory %d (%s), want %d", sz.MemoryBytes, sz.Memory(), want)
	}
	if sz.MilliCPU != 106 || sz.CPU() != "106m" { // 10,000/s × 10.6 µs = 0.106 cores
		t.Errorf("cpu %d", sz.MilliCPU)
	}
	// one shard takes the whole load
	if one := Size(spec, 1); one.MilliCPU != 424 || one.UsersPerShard != 60000 {
		t.Errorf("one shard: %+v", one)
	}
	// class shares: lync2013-mix gives its own
	mix, _, err := scenarios.Load("lync2013-mix", nil)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, p := range mix.Phases {
		if p.Posts != nil {
			var d float64
			for _, c := range mix.Rooms.Classes {
				d += p.Posts.Rate.PerSecond() * *c.PostShare * float64(c.Size)
			}
			want = max(want, d)
		}
	}
	if got := Size(mix, 2).Deliveries; want == 0 || got < want*0.999999 || got > want*1.000001 {
		t.Errorf("lync2013-mix deliveries %g, want %g", got, want)
	}
	// a light load gets the floor
	storm, _, err := scenarios.Load("logon-storm", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := Size(storm, 2); s.DeliveriesPerShard*CPUPerDelivery.Seconds()*1000 >= MinMilliCPU || s.MilliCPU != MinMilliCPU {
		t.Errorf("logon-storm: %+v", s)
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		o    Options
		want []string
	}{
		{"no shards, no image", peak(t), Options{Set: target}, []string{"--shards 0: want at least 1", "--image: required"}},
		{"embedded server with shards", peak(t), Options{Shards: 2, Image: "i"}, []string{"no target: the shards need one shared server"}},
		{"bad name", peak(t), Options{Shards: 2, Image: "i", Name: "Peak_Run", Set: target}, []string{`--name "Peak_Run"`}},
		{"bad namespace", peak(t), Options{Shards: 2, Image: "i", Namespace: "a.b", Set: target}, []string{`--namespace "a.b"`}},
		{"bad quantity", peak(t), Options{Shards: 2, Image: "i", ShardMemory: "lots", Set: target}, []string{`--shard-memory "lots": not a Kubernetes quantity`}},
		{"bad pull policy", peak(t), Options{Shards: 2, Image: "i", ImagePullPolicy: "Sometimes", Set: target}, []string{`--pull "Sometimes"`}},
		{"bad scenario", []byte("name: x\nusers: {count: -1}\n"), Options{Shards: 1, Image: "i"}, []string{"bad.yaml:2"}},
		{"negative serve-results", peak(t), Options{Shards: 2, Image: "i", ServeResults: -time.Second, Set: target}, []string{"--serve-results -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Render(&buf, "bad.yaml", tc.data, tc.o)
			if err == nil {
				t.Fatal("rendered")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

func TestOverridesAndDefaultName(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Render(&buf, "peak.yaml", peak(t), Options{Shards: 2, Image: "i", ShardCPU: "2", ShardMemory: "1Gi", Set: append(target, "users.count=2000")}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"name: gcload-peak-shards", "cpu: \"2\"", "memory: 1Gi", "- users.count=2000", "1000 users per shard"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
