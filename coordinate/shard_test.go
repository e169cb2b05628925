package coordinate

import (
	"strings"
	"testing"
)

func TestShardIndex(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct {
		name      string
		explicit  string
		env       map[string]string
		index, of int
		err       string
	}{
		{name: "explicit i/N", explicit: "2/3", index: 2, of: 3},
		{name: "explicit i", explicit: "3", index: 3},
		{name: "explicit wins over the Job's index", explicit: "1/2", env: map[string]string{EnvCompletionIndex: "1"}, index: 1, of: 2},
		{name: "Job index 0 is shard 1", env: map[string]string{EnvCompletionIndex: "0"}, index: 1},
		{name: "Job index 4 is shard 5", env: map[string]string{EnvCompletionIndex: "4"}, index: 5},
		{name: "nothing", err: "no shard index"},
		{name: "bad Job index", env: map[string]string{EnvCompletionIndex: "two"}, err: `JOB_COMPLETION_INDEX="two"`},
		{name: "negative Job index", env: map[string]string{EnvCompletionIndex: "-1"}, err: `JOB_COMPLETION_INDEX="-1"`},
		{name: "shard 0", explicit: "0/3", err: `shard "0/3"`},
		{name: "index past N", explicit: "4/3", err: `shard "4/3"`},
		{name: "garbage", explicit: "a/b", err: `shard "a/b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, n, err := ShardIndex(tc.explicit, env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil || i != tc.index || n != tc.of {
				t.Fatalf("got %d/%d, %v; want %d/%d", i, n, err, tc.index, tc.of)
			}
		})
	}
}
