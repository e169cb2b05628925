package htmlreport

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gcload/gcload/reports/compare"
)

// screenshot has a headless Chromium (Debian's chromium, which .ci/run
// installs) take a screenshot of the page file, width 1280 px, with the
// network off and a fresh profile; it skips the test without a Chromium
// on the PATH. With GCLOAD_SCREENSHOTS set to a folder, the picture is
// also saved there as name.png, for a person to look at.
func screenshot(t *testing.T, file, name string, height int) image.Image {
	t.Helper()
	var browser string
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium on the PATH (.ci/run installs Debian's)")
	}
	dir := t.TempDir()
	shot := filepath.Join(dir, name+".png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
		"--hide-scrollbars", "--window-size=1280,"+itoa(height), "--screenshot="+shot, "file://"+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	if keep := os.Getenv("GCLOAD_SCREENSHOTS"); keep != "" {
		if err := os.WriteFile(filepath.Join(keep, name+".png"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// inked reports whether a pixel is not (nearly) white.
func inked(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r < 0xe000 || g < 0xe000 || b < 0xe000
}

// coloured reports whether a pixel has a colour, not a shade of grey.
func coloured(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return max(r, g, b)-min(r, g, b) > 0x3000
}

// checkPicture fails the test when the screenshot is blank, and returns
// the rightmost coloured (not grey) column of the lower half of the
// page's content: the charts' series and threshold lines, the only
// colour down there (the glossary after them is black and grey).
func checkPicture(t *testing.T, img image.Image) (contentBottom, chartsRight int) {
	t.Helper()
	bo := img.Bounds()
	colours := map[uint32]bool{}
	var ink, total int
	last := 0
	for y := bo.Min.Y; y < bo.Max.Y; y += 2 {
		for x := bo.Min.X; x < bo.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|b>>8] = true
			if inked(img, x, y) {
				ink++
				last = y
			}
			total++
		}
	}
	t.Logf("screenshot %dx%d: %d colours, %.1f%% of pixels inked, content down to %d px", bo.Dx(), bo.Dy(), len(colours), 100*float64(ink)/float64(total), last)
	if len(colours) < 16 || ink*100 < total {
		t.Fatalf("the screenshot is blank: %d colours, %d of %d pixels inked", len(colours), ink, total)
	}
	for y := last / 2; y <= last; y++ {
		for x := bo.Max.X - 1; x > chartsRight; x-- {
			if coloured(img, x, y) {
				chartsRight = x
				break
			}
		}
	}
	return last, chartsRight
}

// TestScreenshot renders a report and has Chromium take a picture of it:
// the page is not blank (broken markup or styles that hide everything
// fail here even when the document is well formed), its bottom (the
// charts) is not cut off by the window, and the charts span the page
// width (1280 px window, page at most 1180 px wide with 1.5em padding):
// they reach past 1,160 px (the content ends at 1,209).
func TestScreenshot(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, synthetic(500, 60, 20), testEnv()); err != nil {
		t.Fatal(err)
	}
	img := screenshot(t, filepath.Join(dir, FileName), "report", 19000)
	bottom, right := checkPicture(t, img)
	if bottom >= img.Bounds().Dy()-10 {
		t.Fatalf("the page is longer than the %d px window", img.Bounds().Dy())
	}
	if right < 1160 {
		t.Errorf("the charts reach %d px of 1280: not full width", right)
	}
}

// TestCompareScreenshot does the same for the page of gcload compare.
func TestCompareScreenshot(t *testing.T) {
	base, slow := synthetic(500, 60, 20), synthetic(500, 60, 20)
	for _, iv := range slow.Intervals {
		for _, h := range iv.Hists {
			_ = h.RecordValues(5000, 200)
		}
	}
	for op, h := range slow.Hists {
		_ = h.RecordValues(5000, 200*int64(len(slow.Intervals)))
		slow.Hists[op] = h
	}
	slow.Summary.RecomputeOps(slow.Hists)
	opts := compare.DefaultOptions()
	opts.BaseName, opts.NewName = "results/base", "results/slow"
	rep, err := compare.Compare(base, slow, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Regressed || len(rep.Charts()) != 2 {
		t.Fatalf("comparison: regressed %v, %d charts", rep.Regressed, len(rep.Charts()))
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "compare.html")
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img := screenshot(t, file, "compare", 14000)
	bottom, right := checkPicture(t, img)
	if bottom >= img.Bounds().Dy()-10 {
		t.Fatalf("the page is longer than the %d px window", img.Bounds().Dy())
	}
	if right < 1160 {
		t.Errorf("the charts reach %d px of 1280: not full width", right)
	}
}
