package reports

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestDecideShards: a merged run whose every shard is done passes; one
// with a shard dead or missing fails, naming it, however good the rest.
func TestDecideShards(t *testing.T) {
	off := &ClockOffset{OffsetUS: -2500012, UncertaintyUS: 99, RTTUS: 198, Samples: 16}
	done := []ShardStatus{{Index: 1, Of: 2, State: ShardDone, Clock: off}, {Index: 2, Of: 2, State: ShardDone}}
	s := Summary{Generator: Generator{Valid: true}, Users: Users{Planned: 4, SignedIn: 4}, Shards: done}
	if v, code, reasons := Decide(&s); v != VerdictPass || code != ExitPass || reasons != nil {
		t.Fatalf("every shard done: %s %d %q", v, code, reasons)
	}
	s.Shards = []ShardStatus{done[0], {Index: 2, Of: 2, State: ShardDead, Host: "pod-1", Why: "connection lost: 10.0.0.7:41234 closed at 10:04:12.010"}}
	v, code, reasons := Decide(&s)
	want := []string{"shard 2/2 died, its planned work not done: connection lost: 10.0.0.7:41234 closed at 10:04:12.010"}
	if v != VerdictFail || code != ExitThresholds || !slices.Equal(reasons, want) {
		t.Fatalf("a dead shard: %s %d %q", v, code, reasons)
	}
	s.Shards[1] = ShardStatus{Index: 2, Of: 2, State: ShardMissing}
	if v, _, reasons := Decide(&s); v != VerdictFail || len(reasons) != 1 || !strings.Contains(reasons[0], "shard 2/2 missing") {
		t.Fatalf("a missing shard: %s %q", v, reasons)
	}
	// the text shows every shard with its offset and the reason
	s.Shards[1] = ShardStatus{Index: 2, Of: 2, State: ShardDead, Host: "pod-1", Addr: "10.0.0.7:41234", Why: "no heartbeat for 10s"}
	s.ClockWarning = "offsets uncertain"
	var b bytes.Buffer
	if err := WriteText(&b, &s); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"1/2  done", "-2.500012s ± 99µs", "2/2  DEAD  pod-1 (10.0.0.7:41234)  -", "  no heartbeat for 10s\n", "WARNING: offsets uncertain", "verdict: FAIL"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
	if strings.Contains(b.String(), " \n") {
		t.Errorf("trailing spaces:\n%s", b.String())
	}
}
