package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/deploy/k8s"
	"github.com/gcload/gcload/scenarios"
)

func TestK8sRender(t *testing.T) {
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
	if _, err := k8s.Render(&want, "peak", data, k8s.Options{Shards: 3, Image: "gcload:test", Namespace: "load", Set: set, Port: k8s.DefaultPort}); err != nil {
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
