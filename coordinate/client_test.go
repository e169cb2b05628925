package coordinate

import (
	"context"
	"testing"
	"time"
)

// A shard knows its place in the run, and can measure its clock against
// the coordinator's again at any time (before its results, say).
func TestClientShardAndMeasure(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 2, Version: "v1"})
	const skew = 700 * time.Millisecond
	o := c.client(2)
	o.Clock = func() time.Time { return time.Now().Add(skew) }
	cl, err := Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if i, n := cl.Shard(); i != 2 || n != 2 {
		t.Fatalf("Shard() = %d/%d, want 2/2", i, n)
	}
	off, err := cl.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := (off.Offset + skew).Abs(); d > off.Uncertainty || off.Samples != o.Samples {
		t.Fatalf("measured %v (%d samples), injected %v: error %v beyond the uncertainty %v", off.Offset, off.Samples, -skew, d, off.Uncertainty)
	}
}

// The scenario hash changes with the file and with every override, their
// order included, and cannot be forged by moving bytes between them.
func TestHashScenario(t *testing.T) {
	base := HashScenario([]byte("name: smoke\n"), []string{"users.count=10", "seed=3"})
	if again := HashScenario([]byte("name: smoke\n"), []string{"users.count=10", "seed=3"}); again != base {
		t.Fatalf("same input, different hash: %s %s", base, again)
	}
	for name, h := range map[string]string{
		"other file":       HashScenario([]byte("name: peak\n"), []string{"users.count=10", "seed=3"}),
		"overrides order":  HashScenario([]byte("name: smoke\n"), []string{"seed=3", "users.count=10"}),
		"override missing": HashScenario([]byte("name: smoke\n"), []string{"users.count=10"}),
		"bytes moved":      HashScenario([]byte("name: smoke\nusers.count=10"), []string{"seed=3"}),
		"joined overrides": HashScenario([]byte("name: smoke\n"), []string{"users.count=10seed=3"}),
	} {
		if h == base {
			t.Errorf("%s: same hash as the base", name)
		}
	}
}
