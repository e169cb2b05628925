package coordinate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as a shard process (the netns test runs three,
// each in a namespace of its own): with GCLOAD_TEST_SHARD set, TestMain runs
// shardMain instead of the tests: the library alone, with a tiny shard
// main (the CLI's TestDistributedAcrossNamespaces runs the real commands,
// gcload run --coordinator URL among them).
const (
	envShard    = "GCLOAD_TEST_SHARD"     // shard index (1-based)
	envURL      = "GCLOAD_TEST_COORD"     // coordinator URL
	envSkew     = "GCLOAD_TEST_SKEW"      // artificial clock offset of the shard (a Go duration)
	envDuration = "GCLOAD_TEST_RUN_FOR"   // how long the shard "runs" after the start
	envHash     = "GCLOAD_TEST_SCEN_HASH" // the scenario hash to register with
)

func TestMain(m *testing.M) {
	if os.Getenv(envShard) != "" {
		if err := shardMain(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// goleak: a goroutine a coordinator or shard client started that
	// outlives the tests (heartbeats, watchers, uploads) fails the package
	goleak.VerifyTestMain(m)
}

// startedLine is what a shard prints once it has the start.
type startedLine struct {
	Shard  int       `json:"shard"`
	At     time.Time `json:"at"`
	Local  time.Time `json:"local"`
	Offset Offset    `json:"offset"`
}

func shardMain() error {
	index, err := strconv.Atoi(os.Getenv(envShard))
	if err != nil {
		return err
	}
	skew, err := time.ParseDuration(os.Getenv(envSkew))
	if err != nil {
		return err
	}
	runFor, err := time.ParseDuration(os.Getenv(envDuration))
	if err != nil {
		return err
	}
	clock := func() time.Time { return time.Now().Add(skew) } // this "machine's" clock is off by skew
	ctx := context.Background()
	c, err := Dial(ctx, ClientOptions{
		URL: os.Getenv(envURL), Index: index, Host: fmt.Sprintf("shard-%d", index), Version: "test",
		ScenarioHash: os.Getenv(envHash), Clock: clock, DialTimeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Join(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(startedLine{Shard: index, At: st.At, Local: st.Local, Offset: st.Offset})
	fmt.Printf("started %s\n", b)
	// the "load": from the local start for runFor, on this machine's clock
	end := st.Local.Add(runFor)
	select {
	case <-time.After(end.Sub(clock())):
	case <-c.Aborted():
		return fmt.Errorf("aborted: %s", c.AbortReason())
	}
	dir, err := os.MkdirTemp("", "gcload-shard-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	summary := fmt.Sprintf(`{"shard":"%d/3","start":%q}`, index, st.Local.Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), []byte(summary), 0o644); err != nil {
		return err
	}
	if err := c.Upload(ctx, dir); err != nil {
		return err
	}
	fmt.Println("uploaded")
	return nil
}
