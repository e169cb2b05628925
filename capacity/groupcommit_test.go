package capacity

import (
	"math"
	"strings"
	"testing"
)

func commitRuns(rates []float64, posts float64, perFlush func(x float64) float64) []Measurement {
	var ms []Measurement
	for _, x := range rates {
		ms = append(ms, Measurement{Name: "r", AchievedPostsPerSec: x, WallSeconds: posts / x, Fsyncs: int64(math.Round(posts / perFlush(x)))})
	}
	return ms
}

func TestFitGroupCommit(t *testing.T) {
	const fsync = 400.0 // µs
	rates := []float64{10, 20, 40, 80, 160}
	tests := []struct {
		name    string
		runs    []Measurement
		verdict string
		window  float64 // µs, 0: not checked
		words   string
	}{
		{"a flush carries what arrived during the previous one", commitRuns(rates, 5000, func(x float64) float64 { return 1 + x*fsync*1e-6 }), GroupCommitObserved, fsync, "w = 400 µs"},
		{"a store that waits 2 ms to batch", commitRuns(rates, 5000, func(x float64) float64 { return 1 + x*2e-3 }), GroupCommitObserved, 2000, "group commit observed"},
		{"every post its own flush", commitRuns(rates, 5000, func(float64) float64 { return 1 }), GroupCommitAbsent, 0, "no group commit"},
		{"too slow to tell", commitRuns([]float64{1, 2}, 100, func(float64) float64 { return 1 }), GroupCommitUnknown, 0, "could not be observed"},
		{"not counted", commitRuns(rates, 5000, func(float64) float64 { return math.Inf(1) }), GroupCommitUnknown, 0, "not measured"},
		{"large batches", commitRuns([]float64{5}, 100, func(float64) float64 { return 4 }), GroupCommitObserved, 0, "up to 4 posts per flush"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := FitGroupCommit(tc.runs, fsync)
			if g.Verdict != tc.verdict || !strings.Contains(g.Sentence, tc.words) {
				t.Errorf("verdict %s (%s), want %s saying %q", g.Verdict, g.Sentence, tc.verdict, tc.words)
			}
			if tc.window > 0 && (!near(g.WindowUs, tc.window, 0.05) || !g.WindowCI.Contains(tc.window)) {
				t.Errorf("window %g µs %v, want %g", g.WindowUs, g.WindowCI, tc.window)
			}
		})
	}
	// The real sweep (flushes counted by the reference server's admin
	// API): the posts that shared a flush match a window near the
	// sync-write loop's flush time.
	cal, err := LoadCalibration("testdata/calibration-full.json")
	if err != nil {
		t.Fatal(err)
	}
	g := FitGroupCommit(cal.Measurements, cal.Micro.FsyncMeanUs)
	if g.Verdict != GroupCommitObserved || g.Ratio < 0.3 || g.Ratio > 3 {
		t.Errorf("the real sweep: %s (ratio %.2f)", g.Sentence, g.Ratio)
	}
	t.Log(g.Sentence)
}
