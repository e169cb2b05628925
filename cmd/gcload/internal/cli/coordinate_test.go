package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/target"
)

// gcloadSkewed runs gcload in this process with its clock taken to be off
// by skew (Env.clockSkew).
func gcloadSkewed(skew time.Duration, args ...string) result {
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb, Now: time.Now, Args: args, clockSkew: skew}
	code := Main(env)
	return result{code, out.String(), errb.String()}
}

// quickSets are quick's scenario overrides (without --progress, which
// gcload coordinate does not have).
var quickSets = quick[:len(quick)-2]

// acceptable says whether a run's exit code is one a busy machine may give
// a sound run: a latency threshold missed (3) or the generator judging
// itself too slow (5); the accounting compared is exact either way.
func acceptable(code int) bool {
	return code == 0 || code == reports.ExitThresholds || code == reports.ExitInvalidRun
}

// TestCoordinatedRun: gcload coordinate and three gcload run --coordinator
// shards (in this process), shard 2's clock 2.5 s fast. The shards start
// together and send their results; the coordinator merges them into what
// an unsplit run of the same plan gives (expected and received
// deliveries, users, posts), with shard 2's offset measured to within its
// uncertainty and corrected (no delivery latency carries the 2.5 s, and
// the accounting's membership times line up); its verdict and exit code
// are gcload merge's on the folders it received.
func TestCoordinatedRun(t *testing.T) {
	srv := refservertest.Start(t)
	dir := t.TempDir()
	tflags := []string{"--target", srv.LookupURI(), "--server", srv.TCPAddr(), "--admin", srv.AdminURL(), "--admin-token", srv.AdminToken()}
	scenario := append(append([]string{"smoke"}, quickSets...), tflags...)
	addr, out := freeAddr(t), filepath.Join(dir, "merged")
	coord := make(chan result, 1)
	go func() {
		coord <- gcload(t, nil, append([]string{"coordinate", "--shards", "3", "--listen", addr, "--out", out, "--ready-timeout", "1m"}, scenario...)...)
	}()
	skews := []time.Duration{0, 2500 * time.Millisecond, 0}
	shards := make(chan result, 3)
	for i := 1; i <= 3; i++ {
		go func() {
			shards <- gcloadSkewed(skews[i-1], append([]string{"run", "--coordinator", "http://" + addr, "--shard", itoa(i), "--progress", "none",
				"--out", filepath.Join(dir, "s"+itoa(i))}, scenario...)...)
		}()
	}
	for range 3 {
		if r := <-shards; !acceptable(r.code) {
			t.Fatalf("shard exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	var c result
	select {
	case c = <-coord:
	case <-time.After(time.Minute):
		t.Fatal("the coordinator did not end")
	}
	if !acceptable(c.code) {
		t.Fatalf("coordinator exit %d\n%s\n%s", c.code, c.stdout, c.stderr)
	}
	m := readSummary(t, out)
	if len(m.Shards) != 3 || m.Shard != "merged(3)" {
		t.Fatalf("merged summary: shard %q, shards %+v", m.Shard, m.Shards)
	}
	for _, sh := range m.Shards {
		if sh.State != reports.ShardDone || sh.Clock == nil || sh.EndClock == nil || sh.Dir == "" {
			t.Fatalf("shard %d: %+v", sh.Index, sh)
		}
		// the offset measured is the skew, within the uncertainty (and
		// the microsecond the figures are rounded to)
		if d := sh.Clock.OffsetUS + skews[sh.Index-1].Microseconds(); max(d, -d) > sh.Clock.UncertaintyUS+1 {
			t.Errorf("shard %d: offset %dµs ± %dµs, its clock is %v off", sh.Index, sh.Clock.OffsetUS, sh.Clock.UncertaintyUS, skews[sh.Index-1])
		}
		// the shard recorded the offset it was given, and its start is
		// the coordinator's
		own := readSummary(t, filepath.Join(out, "shards", fmt.Sprintf("shard-%d", sh.Index)))
		if own.Clock == nil || own.Clock.OffsetUS != sh.Clock.OffsetUS || own.Shard != fmt.Sprintf("%d/3", sh.Index) {
			t.Errorf("shard %d's own summary: shard %q, clock %+v", sh.Index, own.Shard, own.Clock)
		}
	}
	// corrected: a 2.5 s error would show in every delivery between shard
	// 2 and the others
	if p := m.Ops[reports.OpPostToDelivery]; p.Count == 0 || p.Max > time.Second.Microseconds() {
		t.Errorf("post_to_delivery %+v: the skew is not corrected", p)
	}
	if !strings.Contains(c.stdout, "shards (clock offset") || !strings.Contains(c.stdout, m.Shards[1].Clock.String()) {
		t.Errorf("the coordinator's summary does not show the shards' clocks:\n%s", c.stdout)
	}
	// and so does report.html, well formed
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "Shards and clocks") || !strings.Contains(string(page), m.Shards[1].Clock.String()) {
		t.Errorf("report.html does not show the shards' clocks")
	}
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(page, []byte("<!DOCTYPE html>"))))
	d.Strict, d.Entity = true, xml.HTMLEntity
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("report.html is not well formed: %v", err)
		}
	}

	// the coordinator vets uploads: that shard's results, of its scenario
	s1 := filepath.Join(out, "shards", "shard-1")
	yml, err := os.ReadFile(filepath.Join(s1, reports.FileScenario))
	if err != nil {
		t.Fatal(err)
	}
	hash := coordinate.HashScenario(yml, nil)
	if err := checkShardResults(s1, 1, 3, hash); err != nil {
		t.Fatal(err)
	}
	if err := checkShardResults(s1, 2, 3, hash); err == nil || !strings.Contains(err.Error(), "shard 1/3, not 2/3") {
		t.Errorf("shard 1's results accepted from shard 2: %v", err)
	}
	if err := checkShardResults(s1, 1, 3, "another"); err == nil || !strings.Contains(err.Error(), "not the scenario") {
		t.Errorf("another scenario's results accepted: %v", err)
	}
	if err := checkShardResults(dir, 1, 3, hash); err == nil {
		t.Errorf("a folder without results accepted")
	}

	// gcload merge on the folders the coordinator received: the same
	// verdict and exit code
	r := gcload(t, nil, "merge", filepath.Join(out, "shards", "shard-1"), filepath.Join(out, "shards", "shard-2"), filepath.Join(out, "shards", "shard-3"), "--out", filepath.Join(dir, "remerged"))
	if r.code != c.code || readSummary(t, filepath.Join(dir, "remerged")).Verdict != m.Verdict {
		t.Fatalf("gcload merge: exit %d, coordinator %d (%s)\n%s", r.code, c.code, m.Verdict, r.stdout)
	}

	// an unsplit run of the same plan: the same accounting
	whole := filepath.Join(dir, "whole")
	if r := gcload(t, nil, append([]string{"run", "--out", whole, "--progress", "none"}, scenario...)...); !acceptable(r.code) {
		t.Fatalf("unsplit exit %d\n%s", r.code, r.stderr)
	}
	w := readSummary(t, whole)
	if m.Delivery != w.Delivery || m.Delivery.Expected == 0 || m.Users.SignedIn != w.Users.SignedIn || m.Ops[reports.OpPostAck].Count != w.Ops[reports.OpPostAck].Count {
		t.Fatalf("coordinated %+v %+v\nunsplit %+v %+v", m.Delivery, m.Users, w.Delivery, w.Users)
	}
}

// TestCoordinatedDeadShard: a shard that joins and then goes away without
// its results (its connection closes, as a killed process's do) is named
// dead in the verdict, which fails (exit 3; 5 if the machine was too busy
// for the generator) however good the others' work;
// gcload merge on the folders received says the same (the shard missing).
func TestCoordinatedDeadShard(t *testing.T) {
	srv := refservertest.Start(t)
	dir := t.TempDir()
	tflags := []string{"--target", srv.LookupURI(), "--server", srv.TCPAddr(), "--admin", srv.AdminURL(), "--admin-token", srv.AdminToken()}
	scenario := append(append([]string{"smoke"}, quickSets...), tflags...)
	addr, out := freeAddr(t), filepath.Join(dir, "merged")
	coord := make(chan result, 1)
	go func() {
		coord <- gcload(t, nil, append([]string{"coordinate", "--shards", "2", "--listen", addr, "--out", out, "--ready-timeout", "1m"}, scenario...)...)
	}()
	shard := make(chan result, 1)
	go func() {
		shard <- gcload(t, nil, append([]string{"run", "--coordinator", "http://" + addr, "--shard", "1", "--progress", "none", "--out", filepath.Join(dir, "s1")}, scenario...)...)
	}()
	// shard 2 registers with the scenario's hash, joins, and vanishes
	var sets []string
	for i := 1; i < len(quickSets); i += 2 {
		sets = append(sets, quickSets[i])
	}
	tg := target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}, Admin: srv.AdminURL()}
	spec, err := loadSpec("smoke", append(sets, targetSets(tg)...), targetFlags)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := scenarioHash(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := coordinate.Dial(ctx, coordinate.ClientOptions{URL: "http://" + addr, Index: 2, Host: "vanishing", Version: Version, ScenarioHash: hash, DialTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if r := <-shard; !acceptable(r.code) {
		t.Fatalf("shard 1 exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var r result
	select {
	case r = <-coord:
	case <-time.After(time.Minute):
		t.Fatal("the coordinator did not end")
	}
	// a fail (3), or invalid (5) when this busy machine also slowed the
	// generator: never a pass
	if r.code != reports.ExitThresholds && r.code != reports.ExitInvalidRun {
		t.Fatalf("coordinator exit %d, want %d\n%s\n%s", r.code, reports.ExitThresholds, r.stdout, r.stderr)
	}
	m := readSummary(t, out)
	dead := m.Shards[1]
	if reports.ExitCode(m.Verdict) != r.code || dead.State != reports.ShardDead || dead.Host != "vanishing" || !strings.Contains(dead.Why, "connection lost") ||
		!strings.Contains(strings.Join(m.Reasons, "\n"), "shard 2/2 died") {
		t.Fatalf("verdict %s, reasons %q, shard 2 %+v", m.Verdict, m.Reasons, dead)
	}
	mr := gcload(t, nil, "merge", filepath.Join(out, "shards", "shard-1"), "--out", filepath.Join(dir, "remerged"))
	if mr.code != r.code || !strings.Contains(mr.stdout, "shard 2/2 missing") {
		t.Fatalf("gcload merge: exit %d, coordinator %d\n%s", mr.code, r.code, mr.stdout)
	}
}

// TestCoordinatedTLS: a coordinator over HTTPS with a run token, one shard
// (against the embedded server, which one shard may use). A shard without
// the token is refused (exit 2, saying so), one that does not trust the
// coordinator's CA fails on the certificate, one with both runs; after the
// verdict the coordinator serves the merged folder (the token needed) until
// interrupted, and exits with the verdict's code.
func TestCoordinatedTLS(t *testing.T) {
	dir := t.TempDir()
	b, err := tlsconf.WriteBundle(filepath.Join(dir, "tls"), []string{"127.0.0.1"}, "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const token = "run-token-for-the-test"
	run := func(sig chan os.Signal, token string, args ...string) result {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Now: time.Now, Args: args, Signals: sig, Getenv: func(name string) string {
			if name == TokenEnv {
				return token
			}
			return ""
		}}
		code := Main(env)
		return result{code, out.String(), errb.String()}
	}
	addr, out := freeAddr(t), filepath.Join(dir, "merged")
	sig := make(chan os.Signal, 2)
	coord := make(chan result, 1)
	go func() {
		coord <- run(sig, token, append([]string{"coordinate", "smoke", "--shards", "1", "--listen", addr, "--out", out,
			"--tls-cert", b.Cert, "--tls-key", b.Key, "--serve-results", "1m", "--ready-timeout", "1m"}, quickSets...)...)
	}()
	shard := func(token string, extra ...string) result {
		return run(nil, token, append(append([]string{"run", "smoke", "--coordinator", "https://" + addr, "--shard", "1", "--progress", "none",
			"--out", filepath.Join(dir, "s1")}, quickSets...), extra...)...)
	}
	if r := shard("", "--coordinator-ca", b.CA); r.code != reports.ExitBadInput || !strings.Contains(r.stderr, "token") {
		t.Fatalf("without the token: exit %d\n%s", r.code, r.stderr)
	}
	if r := shard(token); r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("without the CA: exit %d\n%s", r.code, r.stderr)
	}
	if r := shard(token, "--coordinator-ca", b.CA); !acceptable(r.code) {
		t.Fatalf("shard: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// the merged results, served over HTTPS to who has the token
	pool, err := tlsconf.LoadPool(b.CA)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	get := func(tok string) *http.Response {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+coordinate.PathMerged, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := hc.Do(req)
			if err == nil && resp.StatusCode != http.StatusNotFound { // 404: still the run's server
				return resp
			}
			if err == nil {
				resp.Body.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("the merged results are not served: %v", err)
			}
		}
	}
	if resp := get("wrong"); resp.StatusCode != http.StatusUnauthorized {
		resp.Body.Close()
		t.Fatalf("with a wrong token: %s", resp.Status)
	}
	resp := get(token)
	got := t.TempDir()
	_, _, err = coordinate.ExtractArchive(resp.Body, got, coordinate.DefaultLimits)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %s %v", resp.Status, err)
	}
	m, d := readSummary(t, out), readSummary(t, got)
	if d.Verdict != m.Verdict || d.Delivery != m.Delivery || len(d.Shards) != 1 || d.Shards[0].Clock == nil {
		t.Fatalf("downloaded summary %+v, written %+v", d, m)
	}
	if _, err := os.Stat(filepath.Join(got, "shards", "shard-1", "summary.json")); err != nil {
		t.Fatalf("the shard's folder is not in the download: %v", err)
	}
	sig <- os.Interrupt // stops serving
	select {
	case r := <-coord:
		if _, code, _ := reports.Decide(&m); r.code != code {
			t.Fatalf("coordinator exit %d, its verdict's %d\n%s", r.code, code, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the coordinator did not stop serving on Ctrl-C")
	}
}

// TestCoordinatorInterrupted: Ctrl-C on the coordinator mid-run asks the
// shard to stop its load; the shard sends what it has, and the merged
// result is aborted (exit 6) long before the planned end.
func TestCoordinatorInterrupted(t *testing.T) {
	dir := t.TempDir()
	addr, out := freeAddr(t), filepath.Join(dir, "merged")
	sets := append(append([]string(nil), quickSets...), "--set", "phases.steady.duration=60s")
	sig := make(chan os.Signal, 2)
	coord := make(chan result, 1)
	begin := time.Now()
	go func() {
		coord <- gcload(t, sig, append([]string{"coordinate", "smoke", "--shards", "1", "--listen", addr, "--out", out, "--ready-timeout", "1m"}, sets...)...)
	}()
	shard := make(chan result, 1)
	go func() {
		shard <- gcload(t, nil, append([]string{"run", "smoke", "--coordinator", "http://" + addr, "--shard", "1", "--progress", "none", "--out", filepath.Join(dir, "s1")}, sets...)...)
	}()
	// once the load runs (a second past the start), interrupt the coordinator
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var h coordinate.Health
		if resp, err := http.Get("http://" + addr + coordinate.PathHealth); err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Started {
				time.Sleep(time.Until(h.Start.Add(time.Second)))
				break
			}
		}
		select {
		case r := <-shard:
			t.Fatalf("the shard ended before the start: exit %d\n%s", r.code, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not start")
		}
	}
	sig <- os.Interrupt
	var c, s result
	select {
	case c = <-coord:
		s = <-shard
	case <-time.After(45 * time.Second):
		t.Fatal("the interrupted run did not end")
	}
	// aborted (6), unless this busy machine also failed a latency
	// threshold (3) or slowed the generator (5), which come first
	stopped := func(code int) bool {
		return code == reports.ExitAborted || code == reports.ExitThresholds || code == reports.ExitInvalidRun
	}
	if !stopped(c.code) || !stopped(s.code) || time.Since(begin) > 40*time.Second {
		t.Fatalf("coordinator exit %d, shard exit %d after %v\n%s\n%s", c.code, s.code, time.Since(begin), c.stderr, s.stderr)
	}
	m := readSummary(t, out)
	if !m.Aborted || reports.ExitCode(m.Verdict) != c.code || !strings.Contains(strings.Join(m.Reasons, "\n"), "aborted before the scheduled end") || m.Users.SignedIn != 12 || m.Shards[0].State != reports.ShardDone ||
		!strings.Contains(m.AbortReason, "the coordinator stopped the run") {
		t.Fatalf("merged: aborted %v (%q), verdict %s, users %+v, shard %+v", m.Aborted, m.AbortReason, m.Verdict, m.Users, m.Shards[0])
	}
}
