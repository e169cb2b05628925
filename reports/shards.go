package reports

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ClockOffset is a shard's clock measured against a coordinator's
// (docs/distributed.md): the coordinator's clock minus the shard's, from
// the NTP-style exchange with the least round trip.
type ClockOffset struct {
	// OffsetUS is the coordinator's clock minus the shard's: a time read
	// on the shard plus the offset is the same instant on the
	// coordinator's clock.
	OffsetUS int64 `json:"offset_us"`
	// UncertaintyUS bounds its error (half the round trip): the true
	// offset is within OffsetUS ± UncertaintyUS.
	UncertaintyUS int64 `json:"uncertainty_us"`
	RTTUS         int64 `json:"rtt_us"`
	Samples       int   `json:"samples"`
}

// ClockOffsetOf converts an offset, its uncertainty and round trip.
func ClockOffsetOf(offset, uncertainty, rtt time.Duration, samples int) *ClockOffset {
	return &ClockOffset{OffsetUS: offset.Microseconds(), UncertaintyUS: uncertainty.Microseconds(), RTTUS: rtt.Microseconds(), Samples: samples}
}

// String is the offset to the microsecond, signed, ± its uncertainty:
// "-2.500012s ± 141µs".
func (c *ClockOffset) String() string {
	off := (time.Duration(c.OffsetUS) * time.Microsecond).String()
	if c.OffsetUS >= 0 {
		off = "+" + off
	}
	return fmt.Sprintf("%s ± %s", off, FormatMicros(float64(c.UncertaintyUS)))
}

// The states of a shard of a merged run.
const (
	ShardDone    = "done"    // its results are merged
	ShardDead    = "dead"    // the coordinator declared it dead: its results are not here
	ShardMissing = "missing" // no results folder was given for it
)

// ShardStatus is one shard of a merged run (Summary.Shards).
type ShardStatus struct {
	Index int    `json:"index"` // 1 to Of
	Of    int    `json:"of"`
	State string `json:"state"` // ShardDone, ShardDead, ShardMissing
	// Host is the machine the shard said it ran on; Addr the address its
	// registration came from (a coordinated run).
	Host string `json:"host,omitempty"`
	Addr string `json:"addr,omitempty"`
	// Why says why a shard is dead (the coordinator's words) or missing.
	Why string `json:"why,omitempty"`
	// Dir is its results folder as merged.
	Dir string `json:"dir,omitempty"`
	// Clock is its clock offset measured before the start; EndClock the
	// one measured before it sent its results (the drift over the run).
	Clock    *ClockOffset `json:"clock,omitempty"`
	EndClock *ClockOffset `json:"end_clock,omitempty"`
}

// shardReasons are the health reasons of a merged run's shards: a shard
// that is dead or missing did not contribute its planned work.
func shardReasons(s *Summary) []string {
	var out []string
	for _, sh := range s.Shards {
		switch sh.State {
		case ShardDone:
		case ShardDead:
			out = append(out, fmt.Sprintf("shard %d/%d died, its planned work not done: %s", sh.Index, sh.Of, sh.Why))
		default:
			why := "no results"
			if sh.Why != "" {
				why = sh.Why
			}
			out = append(out, fmt.Sprintf("shard %d/%d missing, its planned work not in these results: %s", sh.Index, sh.Of, why))
		}
	}
	return out
}

// writeShards writes a merged run's shards with their clocks, and a
// coordinated shard's own clock.
func writeShards(ew io.Writer, s *Summary) {
	if s.Clock != nil {
		fmt.Fprintf(ew, "clock: coordinator minus this machine %s (round trip %s, %d samples); the times in these results are on the coordinator's clock\n\n",
			s.Clock, FormatMicros(float64(s.Clock.RTTUS)), s.Clock.Samples)
	}
	if len(s.Shards) == 0 {
		return
	}
	fmt.Fprintln(ew, "shards (clock offset: coordinator minus shard, before the start → before the upload)")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, sh := range s.Shards {
		host := sh.Host
		if sh.Addr != "" {
			host = strings.TrimSpace(host + " (" + sh.Addr + ")")
		}
		clock := "-"
		if sh.Clock != nil {
			clock = sh.Clock.String()
			if sh.EndClock != nil {
				clock += " → " + sh.EndClock.String()
			}
		}
		state := sh.State
		if sh.State != ShardDone {
			state = strings.ToUpper(state)
		}
		fmt.Fprintf(tw, "  %d/%d\t%s\t%s\t%s", sh.Index, sh.Of, state, orDash(host), clock)
		if sh.Why != "" {
			fmt.Fprintf(tw, "\t%s", sh.Why)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if s.ClockWarning != "" {
		fmt.Fprintf(ew, "  WARNING: %s\n", s.ClockWarning)
	}
	fmt.Fprintln(ew)
}
