package swarm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
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

// filesArchived has 10 file posts and then downloads of them, for the
// compliance cross-check.
const filesArchived = `
name: files-archived
seed: 5
users: {count: 10}
rooms:
  classes: [{name: f, size: 5, count: 2}]
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: 1s
    uploads: {rate: 10/s, arrival: constant, size: {dist: uniform, min: 100, max: 2000}}
  - name: wait
    duration: 2s
  - name: fetch
    duration: 1s
    downloads: {rate: 10/s, arrival: constant}
drain: 500ms
limits: {max_lag: 20s}
`

// TestFileRecordsCrossChecked: the compliance cross-check counts every
// acknowledged upload's FILEUPLOAD record and every download's
// FILEDOWNLOAD record: against a server that drops one of each in five
// (drop-file-records, which keeps the file posts' CHAT records), exactly
// those are missing; against a clean one, none.
func TestFileRecordsCrossChecked(t *testing.T) {
	t.Parallel()
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "drop-file-records"}[drop], func(t *testing.T) {
			t.Parallel()
			plan, err := swarm.NewPlan(loadSpec(t, filesArchived))
			if err != nil {
				t.Fatal(err)
			}
			c := plan.Counts(swarm.Shard{Index: 1, Of: 1})
			uploads, downloads := c[swarm.KindPost], c[swarm.KindDownload]
			if uploads != 10 || downloads != 10 {
				t.Fatalf("planned %d uploads and %d downloads, want 10 and 10", uploads, downloads)
			}
			opts := []refserver.Option{refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: t.TempDir()}), refserver.WithAdmin("127.0.0.1:0")}
			if drop {
				opts = append(opts, refserver.WithFaults(fault.Set{}.With(fault.DropFileRecords)))
			}
			srv := server(t, plan, opts...)
			start := time.Now().Add(200 * time.Millisecond)
			rec := reports.NewRecorder(start, time.Second)
			sw, err := swarm.New(plan, swarm.Options{
				Target: target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}}, Shard: swarm.Shard{Index: 1, Of: 1},
				Recorder: rec, Start: start, Archive: adminclient.New(srv.AdminURL(), srv.AdminToken()),
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := sw.Run(context.Background(), context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := rec.Histogram(reports.OpFileDownload).TotalCount()
			if up := rec.Histogram(reports.OpFileUpload).TotalCount(); up != 10 || got != 10 {
				t.Fatalf("%d uploads and %d downloads done, want 10 and 10 (counters %v)", up, got, rec.Counters())
			}
			cc := out.Compliance
			// 10 CHAT + 10 FILEUPLOAD + 10 FILEDOWNLOAD, and the joins
			if cc == nil || cc.Error != "" || cc.Checked < 30 {
				t.Fatalf("compliance %+v", cc)
			}
			want := int64(0)
			if drop {
				want = 4 // the 5th and 10th upload, the 5th and 10th download
			}
			if cc.Missing != want || cc.Extra != 0 {
				t.Fatalf("compliance %+v, want %d missing and none extra", cc, want)
			}
			if drop {
				ex := strings.Join(cc.Examples, "\n")
				if !strings.Contains(ex, "missing: acknowledged FILEUPLOAD of post") || !strings.Contains(ex, "FILEDOWNLOAD of") {
					t.Fatalf("examples do not name the missing upload and download records:\n%s", ex)
				}
			}
		})
	}
}
