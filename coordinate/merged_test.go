package coordinate

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServeFolder: the merged folder is served as a tar.gz that unpacks to
// the same files, and file by file; the run's token is required; healthz
// answers without it; ending ctx stops the server and closes its port.
func TestServeFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "shards", "shard-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"summary.json": `{"verdict":"pass"}`, "report.html": "<html/>", "shards/shard-1/summary.json": `{"shard":"1/2"}`}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- ServeFolder(ctx, ln, dir, FolderOptions{Token: "tok", Health: Health{Shards: 2, Started: true}})
	}()
	get := func(path, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get(PathMerged, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %s", resp.Status)
	}
	if resp := get(PathMerged+"/summary.json", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %s", resp.Status)
	}
	var h Health
	if resp := get(PathHealth, ""); resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil || h.Shards != 2 || !h.Started {
		t.Fatalf("healthz: %s %+v", resp.Status, h)
	}
	resp := get(PathMerged, "tok")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("archive: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	got := t.TempDir()
	if n, _, err := ExtractArchive(resp.Body, got, DefaultLimits); err != nil || n != len(files) {
		t.Fatalf("unpacked %d files: %v", n, err)
	}
	for name, body := range files {
		if b, err := os.ReadFile(filepath.Join(got, name)); err != nil || string(b) != body {
			t.Errorf("%s: %q %v, want %q", name, b, err, body)
		}
	}
	resp = get(PathMerged+"/shards/shard-1/summary.json", "tok")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != files["shards/shard-1/summary.json"] {
		t.Fatalf("one file: %s %q", resp.Status, b)
	}
	// nothing outside the folder
	for _, p := range []string{"/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd"} {
		if resp := get(PathMerged+p, "tok"); resp.StatusCode == http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("%s: %s %.40q", p, resp.Status, b)
		}
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeFolder did not return when its context ended")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the port still takes connections")
	}
	// not a folder: refused at once
	if err := ServeFolder(context.Background(), mustListen(t), filepath.Join(dir, "summary.json"), FolderOptions{}); err == nil {
		t.Fatal("served a file as a folder")
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
