package coordinate

import (
	"fmt"
	"strconv"
	"strings"
)

// EnvCompletionIndex is the environment variable Kubernetes sets in each
// pod of an Indexed Job (completionMode: Indexed): the pod's completion
// index, 0 to completions−1.
const EnvCompletionIndex = "JOB_COMPLETION_INDEX"

// ShardIndex returns a shard's 1-based index (gcload's shards are i/N with
// 1 <= i <= N) and, when known, the number of shards (0 when the
// coordinator is to say).
//
// An explicit value wins: "i" or "i/N" (as --shard takes it). Without one,
// the index comes from JOB_COMPLETION_INDEX, read with lookup (os.LookupEnv
// in a command): Kubernetes numbers a Job's pods from 0, so completion
// index k is shard k+1; an Indexed Job of N completions runs shards 1/N to
// N/N. Errors name where the bad value came from.
func ShardIndex(explicit string, lookup func(string) (string, bool)) (index, of int, err error) {
	if explicit != "" {
		i, n, found := strings.Cut(explicit, "/")
		if index, err = strconv.Atoi(i); err != nil || index < 1 {
			return 0, 0, fmt.Errorf("coordinate: shard %q: want i or i/N with 1 <= i <= N", explicit)
		}
		if found {
			if of, err = strconv.Atoi(n); err != nil || of < 1 || index > of {
				return 0, 0, fmt.Errorf("coordinate: shard %q: want i or i/N with 1 <= i <= N", explicit)
			}
		}
		return index, of, nil
	}
	v, ok := lookup(EnvCompletionIndex)
	if !ok {
		return 0, 0, fmt.Errorf("coordinate: no shard index: give one (--shard i/N) or run as a pod of a Kubernetes Indexed Job, which sets %s", EnvCompletionIndex)
	}
	k, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || k < 0 {
		return 0, 0, fmt.Errorf("coordinate: %s=%q: want a completion index (0 or more)", EnvCompletionIndex, v)
	}
	return k + 1, 0, nil
}
