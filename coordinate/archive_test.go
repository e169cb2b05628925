package coordinate

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files (name → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every regular file under dir (slash name → content).
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestArchiveRoundTrip(t *testing.T) {
	src := t.TempDir()
	want := map[string]string{
		"summary.json":        `{"verdict":"pass"}`,
		"verdict.txt":         "pass\n0\n",
		"charts/latency.svg":  "<svg/>",
		"accounting.gob.gz":   strings.Repeat("\x00\x01binary", 10000),
		"empty":               "",
		"deep/er/still/x.txt": "x",
	}
	writeTree(t, src, want)
	if err := os.Mkdir(filepath.Join(src, "empty-folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	files, size, err := ExtractArchive(&buf, dst, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dst)
	if len(got) != len(want) || files != len(want) {
		t.Fatalf("got %d files (%d counted), want %d", len(got), files, len(want))
	}
	var total int64
	for name, content := range want {
		if got[name] != content {
			t.Errorf("%s: content differs", name)
		}
		total += int64(len(content))
	}
	if size != total {
		t.Errorf("size %d, want %d", size, total)
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty-folder")); err != nil || !fi.IsDir() {
		t.Errorf("empty folder not recreated: %v", err)
	}
}

func TestWriteArchiveRefusesLinks(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"summary.json": "{}"})
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "passwd")); err != nil {
		t.Fatal(err)
	}
	err := WriteArchive(io.Discard, src)
	if err == nil || !strings.Contains(err.Error(), "passwd") {
		t.Fatalf("error %v, want one naming the link", err)
	}
}

type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}

// archive builds a tar.gz by hand, as a hostile shard could.
func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zeros is a gzip bomb: a file of n zero bytes compresses to about n/1000.
func zeros(t *testing.T, name string, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeroReader{}, n); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestExtractRefusesHostileArchives(t *testing.T) {
	lim := Limits{Compressed: 1 << 20, Expanded: 1 << 20, Files: 5, Depth: 3}
	good := archive(t, file("summary.json", "{}"))
	many := make([]entry, 6)
	for i := range many {
		many[i] = file(string(rune('a'+i)), "x")
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		want   string
		tooBig bool
	}{
		{name: "parent traversal", data: archive(t, file("../escaped", "x")), want: `"../escaped": path escapes the folder`},
		{name: "traversal inside a path", data: archive(t, file("charts/../../escaped", "x")), want: `not a clean path`},
		{name: "absolute path", data: archive(t, file("/tmp/escaped", "x")), want: `"/tmp/escaped": absolute path`},
		{name: "dot path", data: archive(t, file("./summary.json", "x")), want: `not a clean path`},
		{name: "backslash", data: archive(t, file(`..\escaped`, "x")), want: `backslash`},
		{name: "symbolic link", data: archive(t, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "link", Linkname: "/etc/passwd"}}), want: `"link" is a symbolic link`},
		{name: "hard link", data: archive(t, entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "link", Linkname: "/etc/passwd"}}), want: `"link" is a hard link`},
		{name: "device", data: archive(t, entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}}), want: `character device`},
		{name: "named pipe", data: archive(t, entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}}), want: `named pipe`},
		{name: "duplicate", data: archive(t, file("summary.json", "{}"), file("summary.json", "{}")), want: `appears twice`},
		{name: "file over a folder", data: archive(t, file("charts", "x"), file("charts/a.svg", "x")), want: `"charts/a.svg"`},
		{name: "too deep", data: archive(t, file("a/b/c/d", "x")), want: `deeper than 3 folders`},
		{name: "long name", data: archive(t, file(strings.Repeat("n", 256), "x")), want: `longer than 255 bytes`},
		{name: "too many entries", data: archive(t, many...), want: `more than 5 entries`, tooBig: true},
		{name: "gzip bomb", data: zeros(t, "bomb", 4<<20), want: `past 1048576 bytes`, tooBig: true},
		{name: "not gzip", data: []byte("PK\x03\x04 a zip file"), want: `not a gzip stream`},
		{name: "truncated", data: good[:len(good)/2], want: `bad results archive`},
		{name: "corrupt checksum", data: append(append([]byte{}, good[:len(good)-8]...), 0, 0, 0, 0, 0, 0, 0, 0), want: `bad results archive`},
		{name: "trailing data", data: append(append([]byte{}, good...), zeros(t, "more", 4<<20)...), want: `after the archive's end`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "in")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_, _, err := ExtractArchive(bytes.NewReader(tc.data), dst, lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if tc.tooBig != errors.Is(err, ErrTooLarge) || !tc.tooBig && !errors.Is(err, ErrBadArchive) {
				t.Errorf("error %v: ErrTooLarge %v, ErrBadArchive %v", err, errors.Is(err, ErrTooLarge), errors.Is(err, ErrBadArchive))
			}
			// nothing was written beside the destination
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Errorf("the parent folder holds %d entries, want only the destination", len(ents))
			}
			if _, err := os.Lstat(filepath.Join(os.TempDir(), "escaped")); err == nil {
				t.Errorf("a file escaped to %s", filepath.Join(os.TempDir(), "escaped"))
			}
		})
	}
	// and the good one passes with the same limits
	if _, _, err := ExtractArchive(bytes.NewReader(good), t.TempDir(), lim); err != nil {
		t.Fatalf("a good archive refused: %v", err)
	}
}

// FuzzExtractArchive: whatever the bytes, extraction returns (no panic, no
// hang), stays within its limits, and writes nothing outside the folder.
func FuzzExtractArchive(f *testing.F) {
	f.Add(archive(f, file("summary.json", "{}"), file("charts/a.svg", "<svg/>")))
	f.Add(archive(f, file("../x", "x")))
	f.Add(archive(f, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/"}}))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	lim := Limits{Compressed: 1 << 20, Expanded: 1 << 20, Files: 20, Depth: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "in")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		files, size, err := ExtractArchive(bytes.NewReader(data), dst, lim)
		if err == nil && (files > lim.Files || size > lim.Expanded) {
			t.Fatalf("accepted %d files, %d bytes beyond the limits", files, size)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 1 {
			t.Fatalf("wrote beside the folder: %v", ents)
		}
		// nothing but folders and regular files inside
		_ = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !d.Type().IsRegular() {
				t.Fatalf("%s is a %v", p, d.Type())
			}
			return nil
		})
	})
}
