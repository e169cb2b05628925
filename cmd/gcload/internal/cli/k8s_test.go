package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/deploy/k8s"
	"github.com/gcload/gcload/scenarios"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

func TestK8sRender(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "peak.yaml")
	set := []string{"target.lookup=sip:ocschat@example.com", "target.server=gc.example.com:5061"}
	r := gcload(t, nil, "k8s", "render", "peak", "--shards", "3", "--image", "gcload:test", "--namespace", "load",
		"--set", set[0], "--set", set[1], "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "3 shards, each memory 133Mi = 64 MiB base + 20000 users per shard") {
		t.Errorf("stderr %q", r.stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := scenarios.ShippedFile("peak")
	var want bytes.Buffer
	if _, err := k8s.Render(&want, "peak", data, k8s.Options{Shards: 3, Image: "gcload:test", Namespace: "load", Set: set, Port: k8s.DefaultPort, ServeResults: DefaultServeResults}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("the command wrote other manifests than k8s.Render")
	}
	// to standard output without --out
	r = gcload(t, nil, "k8s", "render", "peak", "--shards", "3", "--image", "gcload:test", "--namespace", "load", "--set", set[0], "--set", set[1])
	if r.code != 0 || r.stdout != string(got) {
		t.Errorf("exit %d, stdout differs from the file", r.code)
	}
	// bad input: exit 2 with the problem named
	r = gcload(t, nil, "k8s", "render", "peak", "--shards", "3", "--image", "gcload:test")
	if r.code != 2 || !strings.Contains(r.stderr, "no target") {
		t.Errorf("no target: exit %d %q", r.code, r.stderr)
	}
	r = gcload(t, nil, "k8s", "render", "peak", "--image", "gcload:test", "--set", set[0], "--set", set[1])
	if r.code != 2 || !strings.Contains(r.stderr, "--shards 0") {
		t.Errorf("no shards: exit %d %q", r.code, r.stderr)
	}
}

// TestK8sArgsParse: the command lines of the rendered pods parse with the
// real gcload coordinate and gcload run, into what the manifests mean: N
// shards listening on the Service's port, the merged results in the work
// folder served for --serve-results, every --set on both sides, and each
// shard at the coordinator's Service with its index from
// JOB_COMPLETION_INDEX. A flag renamed in either command fails here.
func TestK8sArgsParse(t *testing.T) {
	set := []string{"target.lookup=sip:ocschat@example.com", "target.server=gc.example.com:5061"}
	var buf bytes.Buffer
	data, _ := scenarios.ShippedFile("peak")
	o := k8s.Options{Shards: 4, Image: "gcload:test", Name: "load1", Set: set, Port: 9443, ServeResults: 5 * time.Minute}
	if _, err := k8s.Render(&buf, "peak", data, o); err != nil {
		t.Fatal(err)
	}
	type container struct {
		Args []string
		Env  []struct{ Name, Value string }
	}
	pods := map[string]container{}
	dec := yaml.NewDecoder(&buf)
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct{ Containers []container }
				}
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "Job" {
			pods[doc.Metadata.Name] = doc.Spec.Template.Spec.Containers[0]
		}
	}
	// parse args as the container runtime gives them: $(VAR) expanded
	// from the container's env
	parse := func(c container, cmd *cobra.Command) {
		t.Helper()
		args := make([]string, len(c.Args))
		for i, a := range c.Args {
			for _, e := range c.Env {
				a = strings.ReplaceAll(a, "$("+e.Name+")", e.Value)
			}
			args[i] = a
		}
		root := &cobra.Command{Use: "gcload", SilenceErrors: true, SilenceUsage: true}
		root.AddCommand(cmd)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Now: time.Now}
	var co *CoordinateOptions
	parse(pods["load1-coordinator"], NewCmdCoordinate(env, func(o *CoordinateOptions) error { co = o; return nil }))
	scenario := k8s.ScenarioDir + "/" + k8s.ScenarioKey
	if co == nil || co.Scenario != scenario || co.Shards != 4 || co.Listen != ":9443" || co.Out != k8s.WorkDir+"/results" ||
		co.ServeResults != 5*time.Minute || !slices.Equal(co.Set, set) {
		t.Fatalf("coordinator: %+v", co)
	}
	var ro *RunOptions
	parse(pods["load1-shards"], NewCmdRun(env, func(o *RunOptions) error { ro = o; return nil }))
	if ro == nil || ro.Scenario != scenario || ro.Coordinator != o.CoordinatorURL() || ro.Coordinator != "http://load1-coordinator:9443" || !slices.Equal(ro.Set, set) || ro.Shard != "" {
		t.Fatalf("shard: %+v", ro)
	}
	// the index comes from the pod's completion index
	if i, of, err := coordinate.ShardIndex(ro.Shard, func(string) (string, bool) { return "3", true }); err != nil || i != 4 || of != 0 {
		t.Fatalf("completion index 3: shard %d/%d, %v", i, of, err)
	}
}
