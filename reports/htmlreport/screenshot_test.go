package htmlreport

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestScreenshot renders a report, has a headless Chromium (Debian's
// chromium, which .ci/run installs) take a screenshot of it with the
// network off, and checks that the picture is not blank: a page that does
// not render (broken markup, styles that hide everything) fails here even
// when it is well formed. Without a Chromium on the PATH the test skips.
func TestScreenshot(t *testing.T) {
	var browser string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium on the PATH (.ci/run installs Debian's)")
	}
	dir := t.TempDir()
	if err := Write(dir, synthetic(500, 60, 20), testEnv()); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
		"--hide-scrollbars", "--window-size=1280,2400", "--screenshot="+shot, "file://"+filepath.Join(dir, FileName))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	colours := map[uint32]bool{}
	var inked, total int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				inked++
			}
			total++
		}
	}
	t.Logf("screenshot %dx%d: %d colours, %.1f%% of pixels inked", b.Dx(), b.Dy(), len(colours), 100*float64(inked)/float64(total))
	if len(colours) < 16 || inked*100 < total {
		t.Fatalf("the screenshot is blank: %d colours, %d of %d pixels inked", len(colours), inked, total)
	}
}
