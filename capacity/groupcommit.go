package capacity

import (
	"fmt"
	"math"
)

// GroupCommitRun is one run's commits.
type GroupCommitRun struct {
	Name        string  `json:"name"`
	PostsPerSec float64 `json:"posts_per_s"`
	Posts       float64 `json:"posts"`
	Flushes     int64   `json:"flushes"`
	// PostsPerFlush is Posts ÷ Flushes.
	PostsPerFlush float64 `json:"posts_per_flush"`
}

// GroupCommitFit is group commit as measured: posts per flush against the
// post rate X, fitted as 1 + X·w. A store that commits the posts that
// arrived during the previous flush has w equal to its flush time
// (Ratio = w ÷ the sync-write loop's flush time ≈ 1); one that gives
// every post its own flush has w = 0.
type GroupCommitFit struct {
	Runs []GroupCommitRun `json:"runs"`
	// WindowUs is w in µs and WindowCI its 90% interval.
	WindowUs float64  `json:"window_us"`
	WindowCI Interval `json:"window_ci"`
	// FsyncUs is the sync-write loop's mean flush; Ratio is w ÷ FsyncUs.
	FsyncUs float64 `json:"fsync_us"`
	Ratio   float64 `json:"ratio"`
	// Expected is the posts that would have shared a flush over all runs
	// if each flush carried the posts that arrived during the previous
	// one (Σ posts·X·t/(1+X·t)); Shared is how many did (Σ posts −
	// flushes).
	Expected float64 `json:"expected_shared"`
	Shared   float64 `json:"shared"`
	// Verdict is GroupCommitObserved, GroupCommitAbsent or
	// GroupCommitUnknown.
	Verdict  string `json:"verdict"`
	Sentence string `json:"sentence"`
}

// minExpectedShared is how many posts must be expected to share a flush,
// over all runs, before the runs can tell group commit from none.
const minExpectedShared = 5

// FitGroupCommit measures group commit from the runs' posts and flushes
// (Measurement.Fsyncs) with the sync-write loop's flush time fsyncUs.
// w is fitted by least squares through the origin of posts per flush − 1
// against X, each run weighted by its flushes. The verdict compares the
// posts that shared a flush with what batching would give: at least half
// of it is group commit (observed), none of it is its absence, and too
// few posts arriving during flushes (fewer than 5 expected in all) leaves
// it unknown. A run with 1.5 or more posts per flush is observed group
// commit whatever the flush time.
func FitGroupCommit(runs []Measurement, fsyncUs float64) GroupCommitFit {
	g := GroupCommitFit{FsyncUs: fsyncUs, Verdict: GroupCommitUnknown, WindowCI: Interval{math.NaN(), math.NaN()}}
	t := fsyncUs * 1e-6
	var sxy, sxx, many float64
	for _, r := range runs {
		if r.Fsyncs <= 0 || r.Posts() <= 0 {
			continue
		}
		p, f, x := r.Posts(), float64(r.Fsyncs), r.AchievedPostsPerSec
		g.Runs = append(g.Runs, GroupCommitRun{Name: r.Name, PostsPerSec: x, Posts: p, Flushes: r.Fsyncs, PostsPerFlush: p / f})
		g.Expected += p * x * t / (1 + x*t)
		g.Shared += p - f
		sxy += f * x * (p/f - 1)
		sxx += f * x * x
		many = math.Max(many, p/f)
	}
	if len(g.Runs) == 0 {
		g.Sentence = "group commit not measured: no run counted its flushes"
		return g
	}
	g.WindowUs = sxy / sxx * 1e6
	if n := len(g.Runs); n > 1 {
		var rss float64
		for _, r := range g.Runs {
			d := r.PostsPerFlush - 1 - r.PostsPerSec*g.WindowUs*1e-6
			rss += float64(r.Flushes) * d * d
		}
		se := math.Sqrt(rss/float64(n-1)/sxx) * 1e6
		h := tTwoSided(Confidence, n-1) * se
		g.WindowCI = Interval{g.WindowUs - h, g.WindowUs + h}
	}
	if fsyncUs > 0 {
		g.Ratio = g.WindowUs / fsyncUs
	}
	switch {
	case many >= 1.5:
		g.Verdict = GroupCommitObserved
		g.Sentence = fmt.Sprintf("group commit observed: up to %s posts per flush", num(many))
	case g.Expected < minExpectedShared:
		g.Sentence = fmt.Sprintf("group commit could not be observed: so few posts arrived during a flush (%s expected to share one in all %d runs) that batching and none look alike", num(g.Expected), len(g.Runs))
	case g.Shared >= g.Expected/2:
		g.Verdict = GroupCommitObserved
		g.Sentence = fmt.Sprintf("group commit observed: %s posts shared a flush where batching predicts %s; posts per flush = 1 + X·w with w = %s (%s flush in the sync-write loop)", num(g.Shared), num(g.Expected), fmtDur(g.WindowUs), fmtDur(fsyncUs))
	default:
		g.Verdict = GroupCommitAbsent
		g.Sentence = fmt.Sprintf("no group commit: %s posts shared a flush where batching predicts %s; each post has its own flush", num(math.Max(g.Shared, 0)), num(g.Expected))
	}
	return g
}
