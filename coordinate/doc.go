// Package coordinate runs the shards of one gcload run on several
// machines together: a coordinator (Server) that N shards (Client) register
// with over HTTP or HTTPS, that measures each shard's clock offset, hands
// every shard the same start once all are ready, watches them while they
// run, and receives each shard's results folder when it finishes.
// Merging the folders and judging the run are not this package's: the
// caller merges Outcome.Dirs() and names Outcome.Dead() in the verdict
// (gcload coordinate: loadrun.Merge), then may serve the merged folder
// (ServeFolder) for a pod whose results are not on a shared volume.
//
// A shard's life, as the client drives it:
//
//	c, err := coordinate.Dial(ctx, coordinate.ClientOptions{URL: url, Index: i, ...}) // register; heartbeats start
//	defer c.Close()
//	st, err := c.Join(ctx)         // clock offset, ready, wait for the shared start
//	... run the load from st.Local, stopping early if <-c.Aborted() ...
//	err = c.Upload(ctx, resultsDir) // end offset, then the folder as tar.gz
//
// and the coordinator's:
//
//	srv, err := coordinate.NewServer(coordinate.Options{Shards: n, ScenarioHash: h, Dir: dir, ResultsTimeout: d})
//	out, err := srv.Run(ctx, listener) // returns when every shard is done or dead
//
// The protocol (paths in protocol.go; JSON bodies of at most 64 KiB,
// unknown fields refused):
//
//  1. Register: index (1-based), host, version, scenario hash. The
//     coordinator refuses a hash or version other than its own, an index
//     out of range or held by a live shard, and any registration once the
//     run started; it answers a session token that authenticates every
//     later request, the number of shards, and the heartbeat interval.
//  2. Clock: Samples exchanges (t0 shard send, t1 coordinator receive, t2
//     coordinator send, t3 shard receive). The sample with the least round
//     trip is kept: offset ((t1−t0)+(t2−t3))/2, uncertainty half the
//     round trip. The shard reports that sample; the coordinator checks
//     t1 and t2 are ones it handed out and computes the offset itself.
//  3. Ready, then a long poll for the start: once all N shards are ready
//     (and none has lost its connection), the start is StartLead later on
//     the coordinator's clock; each shard converts it to its own clock
//     with its offset. If not all are ready within ReadyTimeout, Run
//     returns a *BarrierError naming each missing shard and why (never
//     registered, registered but not ready, connection lost).
//  4. Heartbeats every interval while the shard lives. A running shard is
//     declared dead when it is silent for HeartbeatTimeout, when a
//     connection it used closed and it is silent for LostGrace (a killed
//     process), when its results have not arrived ResultsTimeout after the
//     start, or when it reports failure. A dead shard's later requests are
//     answered 410 Gone with the reason. Server.Abort makes heartbeats
//     answer with an abort: the shards stop their load and send what they
//     have.
//  5. Results: a second offset measurement (drift over the run), then the
//     folder as a gzip-compressed tar (PUT), unpacked into Dir/shard-I
//     through an os.Root: folders and regular files only, clean relative
//     names, bounded in compressed and expanded bytes, entries and depth;
//     anything else is refused with the entry named, and a refused upload
//     leaves nothing behind.
//
// Shard indexes are gcload's, 1 to N. In a Kubernetes Indexed Job each pod
// gets JOB_COMPLETION_INDEX from 0 to N−1; ShardIndex maps index k to
// shard k+1.
//
// What an offset means for latencies: a post sent on shard A at A's time
// tA and received on shard B at B's time tB took
// (tB + offset_B) − (tA + offset_A), with an error of at most
// uncertainty_A + uncertainty_B.
package coordinate
