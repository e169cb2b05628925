package swarm_test

import (
	"testing"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient/swarm"
)

// withFiles has file posts, downloads of them and message searches beside
// text posts, at constant rates, so the plan's counts are exact.
const withFiles = `
name: files
seed: 3
users: {count: 20}
rooms:
  classes: [{name: f, size: 10, count: 2}]
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: 1s
    posts: {rate: 10/s, arrival: constant}
    uploads: {rate: 4/s, arrival: constant, size: {dist: uniform, min: 1000, max: 50000}}
  - name: fetch
    duration: 2s
    downloads: {rate: 5/s, arrival: constant}
    message_search: {rate: 5/s, arrival: constant, by: keyword, limit: 50}
drain: 500ms
# the counts are exact: on a busy machine an operation starts late rather
# than being dropped
limits: {max_lag: 20s}
`

// TestFilePostsUnderLoad: every file post is uploaded, delivered to every
// member like a message (file_post_to_delivery), every planned download
// fetches the very bytes, every message search is answered; a server that
// corrupts downloads is caught.
func TestFilePostsUnderLoad(t *testing.T) {
	t.Parallel()
	for _, corrupt := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "file-corrupt"}[corrupt], func(t *testing.T) {
			t.Parallel()
			plan, err := swarm.NewPlan(loadSpec(t, withFiles))
			if err != nil {
				t.Fatal(err)
			}
			uploads, text := 0, 0
			for _, op := range plan.Ops {
				if op.Kind == swarm.KindPost && op.File {
					uploads++
				} else if op.Kind == swarm.KindPost {
					text++
				}
			}
			c := plan.Counts(swarm.Shard{Index: 1, Of: 1})
			downloads, searches := c[swarm.KindDownload], c[swarm.KindMsgSearch]
			if uploads != 4 || text != 10 || downloads == 0 || searches != 10 {
				t.Fatalf("planned %d uploads, %d posts, %d downloads, %d searches", uploads, text, downloads, searches)
			}
			opts := []refserver.Option{refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: t.TempDir()})}
			if corrupt {
				opts = append(opts, refserver.WithFaults(fault.Set{}.With(fault.FileCorrupt)))
			}
			srv := server(t, plan, opts...)
			outs, recs := run(t, plan, srv, 1)
			d, rec := outs[0].Accounted.Delivery, recs[0]
			if d.Posts != 14 || d.Expected != 140 || d.Received != 140 || d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 {
				t.Fatalf("delivery %+v, want 14 posts (4 of files), 140 expected and received", d)
			}
			want := map[reports.Op]int64{reports.OpFileUpload: 4, reports.OpFilePostToDelivery: 40, reports.OpPostToDelivery: 100,
				reports.OpPostAck: 10, reports.OpMessageSearch: int64(searches), reports.OpFileDownload: int64(downloads)}
			if corrupt {
				want[reports.OpFileDownload] = 0
			}
			for op, n := range want {
				if got := rec.Histogram(op).TotalCount(); got != n {
					t.Errorf("%s histogram has %d values, want %d", op, got, n)
				}
			}
			cs := rec.Counters()
			if corrupt {
				if cs["errors.file_download"] != int64(downloads) {
					t.Fatalf("corrupt downloads: counters %v, want %d errors.file_download", cs, downloads)
				}
				return
			}
			if cs[reports.CounterErrors] != 0 || cs[reports.CounterSkipped] != 0 {
				t.Fatalf("counters %v", cs)
			}
			if st := srv.Stats().Files; st == nil || st.Uploads != 4 || st.Downloads != uint64(downloads) {
				t.Fatalf("the web service counted %+v", st)
			}
		})
	}
}
