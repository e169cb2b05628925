package loadrun

import (
	"bytes"
	"compress/gzip"
	"encoding/gob"
	"fmt"
	"io"
	"maps"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/check"
	"github.com/gcload/gcload/sipclient/swarm"
)

// buildResult assembles the results of a run (or of merged shards).
func buildResult(spec *scenarios.Spec, plan *swarm.Plan, shard swarm.Shard, target string, hists map[reports.Op]*hdrhistogram.Histogram, counters map[string]int64, intervals []reports.Interval, interval time.Duration, acc swarm.Accounted, oc *swarm.Outcome) (*reports.Result, error) {
	hists[reports.OpPostToLastDelivery] = acc.LastDelivery
	if acc.LastDeliveryService != nil && acc.LastDeliveryService.TotalCount() > 0 {
		hists[reports.OpPostToLastDeliveryService] = acc.LastDeliveryService
	} else {
		delete(hists, reports.OpPostToLastDeliveryService)
	}
	intervals = completionIntervals(intervals, acc.Completions)
	secs := oc.End.Sub(oc.Start).Seconds()
	s := reports.Summary{
		Scenario: spec.Name, Shard: shard.String(), Target: target, Start: oc.Start, End: oc.End, Seconds: secs,
		Users: oc.Users, Counters: counters, Delivery: acc.Delivery, Rooms: acc.Rooms, Generator: oc.Generator,
		Aborted: oc.Aborted, AbortReason: oc.AbortReason, Stopped: oc.Stopped, Unreachable: oc.Unreachable, Phases: oc.Phases, Errors: oc.Errors,
		Servers: oc.Servers,
	}
	for i := range s.Rooms {
		s.Rooms[i].Status = s.Rooms[i].StatusOf()
	}
	s.Counters["lost"] = acc.Delivery.Lost
	s.Counters[reports.CounterIncompleteFanouts] = acc.Incomplete
	s.Counters[reports.CounterWrongRoom] = acc.WrongRoom
	s.Counters[reports.CounterForeign] = acc.Foreign
	if cc := oc.Compliance; cc != nil {
		s.Compliance = cc
		s.Counters[reports.CounterComplianceChecked] = cc.Checked
		s.Counters[reports.CounterComplianceMissing] = cc.Missing
		s.Counters[reports.CounterComplianceExtra] = cc.Extra
	}
	// what the accounting found that breaks a conformance rule (lost
	// deliveries stay a figure of their own: under overload they are a
	// capacity result, gated by a "lost" threshold)
	setRule := func(rule string, n int64) {
		if n > 0 {
			s.Counters["violations."+rule] = n
		} else {
			delete(s.Counters, "violations."+rule)
		}
	}
	setRule(ruleid.ExactlyOnce, acc.Delivery.Duplicated)
	setRule(ruleid.Order, acc.Delivery.OutOfOrder)
	setRule(ruleid.NoSpoofing, acc.Delivery.Spoofed)
	s.RecomputeOps(hists)
	s.Rules = runRules(oc.Checks, &s)
	for _, t := range spec.Thresholds {
		th, err := reports.ParseThreshold(t)
		if err != nil {
			return nil, badInput(err)
		}
		s.Thresholds = append(s.Thresholds, th.Eval(&s, hists))
	}
	s.Verdict, _, s.Reasons = reports.Decide(&s)
	yml, err := spec.YAML()
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err := gob.NewEncoder(zw).Encode(oc.Data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	res := &reports.Result{
		Summary: s, Hists: hists, Intervals: intervals, IntervalLength: interval, ScenarioYAML: yml,
		Extra: map[string][]byte{fileAccounting: gz.Bytes()},
	}
	// per phase, from the intervals (post_to_last_delivery now in the
	// interval of each post's intended time), with the drain
	res.RecomputePhases()
	return res, nil
}

// runRules is the status of each rule gcload run checks as it goes:
// sipclient's per-message checks (checks, by rule) and the delivery
// accounting's (every delivery received is checked for duplicates, order
// and author). A rule nothing exercised is not_exercised.
func runRules(checks map[string]int64, s *reports.Summary) []reports.RuleStatus {
	var out []reports.RuleStatus
	for _, id := range check.RunRules {
		n := checks[id]
		switch id {
		case ruleid.ExactlyOnce, ruleid.Order, ruleid.NoSpoofing:
			n = s.Delivery.Received + s.Delivery.Duplicated + s.Delivery.Extra
		}
		v := s.Counters["violations."+id]
		out = append(out, reports.RuleStatus{Rule: id, Checks: n, Violations: v, Status: reports.RuleStatusOf(n, v)})
	}
	return out
}

// fileAccounting keeps a run's delivery accounting data, so that merge can
// recompute the accounting over every shard.
const fileAccounting = "accounting.gob.gz"

// readAccounting decodes a results folder's accounting.gob.gz.
func readAccounting(res *reports.Result, dir string) (*swarm.Data, error) {
	b, ok := res.Extra[fileAccounting]
	if !ok {
		return nil, fmt.Errorf("%s: no accounting.gob.gz (not a gcload run's results?)", dir)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: accounting.gob.gz: %w", dir, err)
	}
	var d swarm.Data
	if err := gob.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: accounting.gob.gz: %w", dir, err)
	}
	return &d, nil
}

// completionIntervals returns the intervals with each post's fan-out
// completion time in the interval of its intended time (known only once
// the accounting is done; a merge recomputes them, so any already there
// are replaced). The intervals a Recorder returned are shared: each is
// copied before it changes.
func completionIntervals(in []reports.Interval, cs []swarm.Completion) []reports.Interval {
	out := make([]reports.Interval, len(in))
	copy(out, in)
	for i := range out {
		if _, ok := out[i].Hists[reports.OpPostToLastDelivery]; ok {
			out[i].Hists = maps.Clone(out[i].Hists)
			delete(out[i].Hists, reports.OpPostToLastDelivery)
		}
	}
	cloned := make([]bool, len(out))
	for _, c := range cs {
		t := time.Unix(0, c.Intended)
		i := sort.Search(len(out), func(i int) bool { return out[i].End.After(t) })
		if i == len(out) || t.Before(out[i].Start) && i > 0 {
			continue
		}
		if !cloned[i] {
			out[i].Hists = maps.Clone(out[i].Hists)
			if out[i].Hists == nil {
				out[i].Hists = map[reports.Op]*hdrhistogram.PackedHistogram{}
			}
			cloned[i] = true
		}
		h := out[i].Hists[reports.OpPostToLastDelivery]
		if h == nil {
			h = reports.NewPackedHistogram()
			out[i].Hists[reports.OpPostToLastDelivery] = h
		}
		_ = h.RecordValue(c.Micros)
	}
	return out
}
