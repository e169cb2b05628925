package reports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// TestStreamWriters: the JSON stream writes one line per interval, the CSV
// stream its header once, an interval row and a row per operation; both
// flush a buffered writer after each interval, so a reader sees it.
func TestStreamWriters(t *testing.T) {
	all, _, _, _ := phaseRun(t)
	var jb, cb bytes.Buffer
	jw, cw := bufio.NewWriterSize(&jb, 1<<20), bufio.NewWriterSize(&cb, 1<<20)
	js, cs := NewJSONStream(jw), NewCSVStream(cw)
	var posts int64
	for i, iv := range all.Intervals {
		phase := DrainPhase
		if k := PhaseIndex(all.Summary.Phases, Midpoint(iv, all.Summary.Start)); k >= 0 {
			phase = all.Summary.Phases[k].Name
		}
		rec := NewIntervalRecord(i, iv, all.Summary.Start, phase)
		if err := js.WriteInterval(rec); err != nil {
			t.Fatal(err)
		}
		if err := cs.WriteInterval(rec); err != nil {
			t.Fatal(err)
		}
		// flushed: what was written is in the buffer underneath
		if n := strings.Count(jb.String(), "\n"); n != i+1 {
			t.Fatalf("after interval %d the JSON stream has %d lines", i, n)
		}
		posts += rec.Counters[CounterPosts]
	}
	lines := strings.Split(strings.TrimSpace(jb.String()), "\n")
	var phases []string
	for i, line := range lines {
		var rec IntervalRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Interval != i {
			t.Fatalf("line %d: %v", i, err)
		}
		phases = append(phases, rec.Phase)
		if want := SummarizePacked(all.Intervals[i].Hists[OpPostAck], all.Intervals[i].seconds()); rec.Ops[OpPostAck] != want {
			t.Errorf("interval %d post_ack %+v, want %+v", i, rec.Ops[OpPostAck], want)
		}
	}
	if got := strings.Join(phases, " "); got != "signin signin signin steady steady steady steady steady drain drain" {
		t.Errorf("phases %s", got)
	}
	rows, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := CSVHeader()
	if strings.Join(rows[0], ",") != strings.Join(header, ",") {
		t.Fatalf("header %v", rows[0])
	}
	opCol, postsCol := 6, 6+len(csvOpColumns)
	var csvPosts, intervalRows, opRows int
	for _, r := range rows[1:] {
		if len(r) != len(header) {
			t.Fatalf("row of %d cells: %v", len(r), r)
		}
		if r[opCol] == "" {
			intervalRows++
			n := 0
			for _, c := range r[postsCol] {
				n = 10*n + int(c-'0')
			}
			csvPosts += n
		} else {
			opRows++
		}
	}
	ops := 0
	for _, iv := range all.Intervals {
		ops += len(iv.Hists)
	}
	if intervalRows != len(all.Intervals) || opRows != ops || int64(csvPosts) != posts || posts != all.Summary.Counters[CounterPosts] {
		t.Errorf("%d interval rows, %d operation rows (want %d, %d); posts %d, stream %d, summary %d", intervalRows, opRows, len(all.Intervals), ops, csvPosts, posts, all.Summary.Counters[CounterPosts])
	}
}
