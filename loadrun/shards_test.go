package loadrun

import (
	"strings"
	"testing"

	"github.com/gcload/gcload/reports"
)

// TestClockWarning: a merged run is flagged when the worst clock error of
// a cross-shard latency (the two largest per-shard errors, each the larger
// of the start uncertainty and the drift plus the end uncertainty) is over
// 10% of the post_to_delivery p50.
func TestClockWarning(t *testing.T) {
	off := func(us, unc int64) *reports.ClockOffset {
		return &reports.ClockOffset{OffsetUS: us, UncertaintyUS: unc}
	}
	done := func(i int, start, end *reports.ClockOffset) reports.ShardStatus {
		return reports.ShardStatus{Index: i, Of: 3, State: reports.ShardDone, Clock: start, EndClock: end}
	}
	for _, c := range []struct {
		name   string
		shards []reports.ShardStatus
		p50us  int64
		want   string // "" no flag, else a part of it
	}{
		{"well within", []reports.ShardStatus{done(1, off(0, 100), nil), done(2, off(-2500000, 100), nil)}, 2000, ""},
		{"just within", []reports.ShardStatus{done(1, off(0, 100), nil), done(2, off(5, 100), nil)}, 2000, ""},
		{"over 10%", []reports.ShardStatus{done(1, off(0, 100), nil), done(2, off(5, 101), nil)}, 2000, "up to 201µs between shards 1 and 2, more than 10% of the post_to_delivery p50 of 2ms"},
		{"the worst pair", []reports.ShardStatus{done(1, off(0, 10), nil), done(2, off(0, 300), nil), done(3, off(0, 200), nil)}, 4000, "up to 500µs between shards 2 and 3"},
		{"drift counts", []reports.ShardStatus{done(1, off(0, 50), off(400, 50)), done(2, off(0, 50), nil)}, 4000, "up to 500µs between shards 1 and 2"},
		{"one shard", []reports.ShardStatus{done(1, off(0, 1000), nil)}, 100, ""},
		{"dead shards do not count", []reports.ShardStatus{done(1, off(0, 100), nil), {Index: 2, Of: 2, State: reports.ShardDead, Clock: off(0, 5000)}}, 100, ""},
		{"no offsets (by hand)", []reports.ShardStatus{done(1, nil, nil), done(2, nil, nil)}, 100, ""},
		{"no deliveries", []reports.ShardStatus{done(1, off(0, 100), nil), done(2, off(0, 100), nil)}, 0, ""},
	} {
		got := clockWarning(c.shards, c.p50us)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestMergeCompliance: the shards' cross-checks add up (each checked its
// own users), examples are bounded, errors name their shard, and no shard
// checking means no check.
func TestMergeCompliance(t *testing.T) {
	res := func(shard string, c *reports.Compliance) *reports.Result {
		return &reports.Result{Summary: reports.Summary{Shard: shard, Compliance: c}}
	}
	if got := mergeCompliance([]*reports.Result{res("1/2", nil), res("2/2", nil)}); got != nil {
		t.Fatalf("no shard checked: %+v", got)
	}
	got := mergeCompliance([]*reports.Result{
		res("1/2", &reports.Compliance{Checked: 10, Missing: 1, Examples: []string{"a", "b", "c"}}),
		res("2/2", &reports.Compliance{Checked: 5, Extra: 2, Examples: []string{"d", "e", "f"}, Error: "no admin API"}),
	})
	if got.Checked != 15 || got.Missing != 1 || got.Extra != 2 || len(got.Examples) != 5 || got.Error != "shard 2/2: no admin API" {
		t.Fatalf("merged %+v", got)
	}
}
