package coordinate

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what the coordinator accepts as one shard's results.
type Limits struct {
	// Compressed bounds the upload as sent (the gzip stream).
	Compressed int64
	// Expanded bounds the sum of the files' sizes once unpacked.
	Expanded int64
	// Files bounds the number of entries (files and folders).
	Files int
	// Depth bounds the folders a path may go through (a/b/c is depth 3).
	Depth int
}

// Default limits: a shard of the peak scenario (60,000 users over three
// shards) writes a results folder of a few tens of megabytes, most of it
// accounting.gob.gz; these leave a wide margin and still bound a hostile
// upload.
const (
	DefaultMaxCompressed = 2 << 30 // 2 GiB
	DefaultMaxExpanded   = 8 << 30 // 8 GiB
	DefaultMaxFiles      = 10000
	DefaultMaxDepth      = 8
	maxName              = 255 // bytes in one path element, as Linux allows
)

// DefaultLimits are the limits of a Server whose Options leave them zero.
var DefaultLimits = Limits{Compressed: DefaultMaxCompressed, Expanded: DefaultMaxExpanded, Files: DefaultMaxFiles, Depth: DefaultMaxDepth}

func (l Limits) withDefaults() Limits {
	if l.Compressed <= 0 {
		l.Compressed = DefaultMaxCompressed
	}
	if l.Expanded <= 0 {
		l.Expanded = DefaultMaxExpanded
	}
	if l.Files <= 0 {
		l.Files = DefaultMaxFiles
	}
	if l.Depth <= 0 {
		l.Depth = DefaultMaxDepth
	}
	return l
}

// Archive errors. An upload refused for its size wraps ErrTooLarge;
// anything else wrong with it wraps ErrBadArchive.
var (
	ErrTooLarge   = errors.New("results archive too large")
	ErrBadArchive = errors.New("bad results archive")
)

// WriteArchive writes the folder dir as a gzip-compressed tar stream to
// w: its folders and regular files, with slash-separated relative names.
// Anything else in the folder (a symbolic link, a device, a socket) is an
// error rather than being skipped, so that what arrives is what is there.
func WriteArchive(w io.Writer, dir string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("coordinate: results folder: %w", err)
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: info.ModTime()})
		case d.Type().IsRegular():
			f, err := root.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
				return err
			}
			if _, err := io.Copy(tw, f); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		default:
			return fmt.Errorf("%s is a %v, not a file or a folder", name, d.Type())
		}
	})
	if err != nil {
		return fmt.Errorf("coordinate: archiving %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// checkName accepts a tar entry's name when it is a clean, relative,
// slash-separated path inside the folder, and returns it without a
// folder's trailing slash.
func checkName(name string, depth int) (string, error) {
	name = strings.TrimSuffix(name, "/")
	switch {
	case name == "" || name == ".":
		return "", errors.New("empty name")
	case strings.ContainsAny(name, "\\\x00"):
		return "", errors.New("backslash or NUL in the name")
	case path.IsAbs(name):
		return "", errors.New("absolute path")
	case path.Clean(name) != name:
		return "", errors.New("not a clean path (., .. or doubled slashes)")
	case !filepath.IsLocal(name):
		return "", errors.New("path escapes the folder")
	}
	parts := strings.Split(name, "/")
	if len(parts) > depth {
		return "", fmt.Errorf("deeper than %d folders", depth)
	}
	for _, p := range parts {
		if p == ".." {
			return "", errors.New("path escapes the folder")
		}
		if len(p) > maxName {
			return "", fmt.Errorf("a path element longer than %d bytes", maxName)
		}
	}
	return name, nil
}

// ExtractArchive unpacks a gzip-compressed tar stream written by
// WriteArchive into dst, an existing empty folder, within lim. It accepts
// folders and regular files with clean relative names only: an absolute
// path, "..", a link, a device, a duplicate name, too many entries or too
// many bytes are refused with an error naming the entry (and nothing is
// ever written outside dst: files are created through an os.Root). On an
// error dst may hold part of the archive; the caller removes it. It
// returns the number of files and their total size.
func ExtractArchive(r io.Reader, dst string, lim Limits) (files int, size int64, err error) {
	lim = lim.withDefaults()
	root, err := os.OpenRoot(dst)
	if err != nil {
		return 0, 0, err
	}
	defer root.Close()
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: not a gzip stream: %w", ErrBadArchive, err)
	}
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	entries := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return files, size, fmt.Errorf("%w: after %d entries: %w", ErrBadArchive, entries, err)
		}
		entries++
		if entries > lim.Files {
			return files, size, fmt.Errorf("%w: more than %d entries", ErrTooLarge, lim.Files)
		}
		name, err := checkName(h.Name, lim.Depth)
		if err != nil {
			return files, size, fmt.Errorf("%w: entry %q: %v", ErrBadArchive, h.Name, err)
		}
		if seen[name] {
			return files, size, fmt.Errorf("%w: entry %q appears twice", ErrBadArchive, h.Name)
		}
		seen[name] = true
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, size, fmt.Errorf("%w: entry %q: %w", ErrBadArchive, h.Name, err)
			}
		case tar.TypeReg:
			if h.Size < 0 || h.Size > lim.Expanded-size {
				return files, size, fmt.Errorf("%w: entry %q (%d bytes) takes the results past %d bytes", ErrTooLarge, h.Name, h.Size, lim.Expanded)
			}
			if dir := path.Dir(name); dir != "." {
				if err := root.MkdirAll(dir, 0o755); err != nil {
					return files, size, fmt.Errorf("%w: entry %q: %w", ErrBadArchive, h.Name, err)
				}
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return files, size, fmt.Errorf("%w: entry %q: %w", ErrBadArchive, h.Name, err)
			}
			n, err := io.Copy(f, tr) // tar.Reader stops at h.Size and reports a short entry
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			size += n
			if err != nil {
				return files, size, fmt.Errorf("%w: entry %q: %w", ErrBadArchive, h.Name, err)
			}
			files++
		default:
			return files, size, fmt.Errorf("%w: entry %q is a %s: only files and folders are accepted", ErrBadArchive, h.Name, typeName(h.Typeflag))
		}
	}
	// Read the gzip stream to its end so that its checksum is verified
	// (the tar end marker can come before the last compressed bytes).
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, 1<<20)); err != nil {
		return files, size, fmt.Errorf("%w: %w", ErrBadArchive, err)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(zr, 1)); n > 0 {
		return files, size, fmt.Errorf("%w: more than 1 MiB of data after the archive's end", ErrBadArchive)
	}
	return files, size, nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	case tar.TypeXGlobalHeader:
		return "global header"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("entry of type %q", t)
}
