package capacity

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBuiltinProfiles(t *testing.T) {
	names := BuiltinProfiles()
	if !reflect.DeepEqual(names, []string{"ocs-r2-reference", "ocs-r2-reference-10k"}) {
		t.Fatalf("built-ins %v", names)
	}
	tests := []struct {
		name       string
		fsyncMidMs float64
		iops       float64
		seqBps     float64
	}{
		// 15K: ~4 ms dedicated log .. 5.8 ms shared; RAID 0 doubles IOPS
		// and bandwidth.
		{"ocs-r2-reference", 4.9, 2 * 170, 2 * 125e6},
		{"ocs-r2-reference-10k", 6.85, 2 * 130, 2 * 100e6},
	}
	for _, tc := range tests {
		p, err := LoadProfile(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if p.Cores != 8 || p.RAM != 8*GiB || p.NIC != 1e9 || p.Disk.RAID != "raid0" || p.Disk.Count != 2 {
			t.Errorf("%s: %+v", tc.name, p)
		}
		if !near(p.CPUFactor.Mid, 1.0/3, 1e-12) || !near(p.CPUFactor.Low, 0.2, 1e-12) || !near(p.CPUFactor.High, 0.5, 1e-12) {
			t.Errorf("%s: cpu factor %+v, want 1/5, 1/3, 1/2", tc.name, p.CPUFactor)
		}
		h := p.resolve()
		if !near(h.fsync.Mid*1e3, tc.fsyncMidMs, 1e-9) || h.iops != tc.iops || h.seqBps != tc.seqBps {
			t.Errorf("%s: fsync %v s, iops %g, seq %g", tc.name, h.fsync, h.iops, h.seqBps)
		}
		// A single commit is not faster on RAID 0: the fsync band is the
		// single disk's.
		if h.fsync != DiskDefaults[p.Disk.Type].FsyncMs.Scale(1e-3) {
			t.Errorf("%s: RAID 0 changed the commit latency: %v", tc.name, h.fsync)
		}
		// Round trip through YAML.
		y, err := p.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseProfile(tc.name+".yaml", y)
		if err != nil {
			t.Fatalf("%s: reading back its YAML: %v\n%s", tc.name, err, y)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("%s: YAML round trip\n got %+v\nwant %+v\n%s", tc.name, back, p, y)
		}
	}
}

const goodProfile = `# a newer machine, calibrated on its own hardware
name: lab-2024
description: 2 x 16-core, NVMe with power-loss protection
cores: 32
cpu_factor: {low: 0.9, mid: 1.1, high: 1.3}
disk:
  type: custom
  count: 2
  raid: raid0
  write_cache: true
  fsync_ms: {low: 0.05, mid: 0.1, high: 0.3}
  iops_per_disk: 50000
  seq_mb_per_s_per_disk: 1500
ram: 256GiB
ram_reserved: 16GiB
nic: 10Gbit/s
`

func TestParseProfile(t *testing.T) {
	p, err := ParseProfile("lab.yaml", []byte(goodProfile))
	if err != nil {
		t.Fatal(err)
	}
	h := p.resolve()
	if p.Cores != 32 || p.RAM != 256*GiB || p.NIC != 10e9 || h.iops != 100000 || h.seqBps != 3000e6 ||
		!near(h.fsync.Mid, 0.0001, 1e-12) || !near(h.fsyncP99.Mid, 0.0002, 1e-12) || h.ramUsable != float64(240*GiB) {
		t.Errorf("parsed %+v resolved %+v", p, h)
	}

	// Write cache on a 15K disk: commits well under 1 ms; scalar and
	// fraction bands; name from the file.
	p, err = ParseProfile("dir/cached.yml", []byte("cores: 4\ncpu_factor: 1/3\ndisk: {type: 15k, count: 1, write_cache: true}\nram: 4 GiB\nnic: 1Gbps\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "cached" || p.CPUFactor != Point(1.0/3) || p.resolve().fsync != WriteCacheFsyncMs.Scale(1e-3) || p.resolve().iops != 170 {
		t.Errorf("cached profile %+v", p)
	}

	// A profile file through LoadProfile.
	dir := t.TempDir()
	file := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(file, []byte(goodProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := LoadProfile(file); err != nil || p.Name != "lab-2024" {
		t.Errorf("LoadProfile(file) = %+v, %v", p, err)
	}
	if _, err := LoadProfile(filepath.Join(dir, "nope.yaml")); err == nil ||
		!strings.Contains(err.Error(), "not a built-in profile (ocs-r2-reference, ocs-r2-reference-10k)") {
		t.Errorf("missing profile: %v", err)
	}
}

func TestParseProfileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, each "FILE:LINE: field: ..."
	}{
		{
			name: "unknown key",
			yaml: "cores: 8\ncpu_factor: 0.3\ncorse: 4\ndisk: {type: 15k, count: 1}\nram: 8GiB\nnic: 1Gbit/s\n",
			want: []string{`p.yaml:3: corse: unknown key "corse", did you mean "cores"?`},
		},
		{
			name: "unknown disk key and bad raid",
			yaml: "cores: 8\ncpu_factor: 0.3\ndisk:\n  type: 15k\n  count: 1\n  raid: raid0\n  cache: true\nram: 8GiB\nnic: 1Gbit/s\n",
			want: []string{`p.yaml:7: disk.cache: unknown key "cache"`, `p.yaml:6: disk.raid: raid0 needs at least 2 disks`},
		},
		{
			name: "band out of order, with its line",
			yaml: "cores: 8\ncpu_factor:\n  low: 0.5\n  mid: 0.3\n  high: 0.6\ndisk: {type: 10k, count: 2, raid: raid0}\nram: 8GiB\nnic: 1Gbit/s\n",
			want: []string{`p.yaml:3: cpu_factor: want low <= mid <= high`},
		},
		{
			name: "unknown band key",
			yaml: "cores: 8\ncpu_factor:\n  mid: 0.3\n  hgh: 0.6\ndisk: {type: 10k, count: 1}\nram: 8GiB\nnic: 1Gbit/s\n",
			want: []string{`p.yaml:4: cpu_factor: unknown key "hgh" (known keys: low, mid, high)`},
		},
		{
			name: "wrong types and units",
			yaml: "cores: eight\ncpu_factor: fast\ndisk: {type: 15k, count: 1}\nram: 8 furlongs\nnic: 1 Gbit/s\n",
			want: []string{`p.yaml:1: cores: "eight" is not an integer`, `p.yaml:2: cpu_factor: "fast" is not a number`, `p.yaml:4: ram: "8 furlongs" is not a byte size`},
		},
		{
			name: "missing fields",
			yaml: "name: bare\ndisk:\n  type: ssd\n",
			want: []string{`cores: 0 (want at least 1)`, `cpu_factor: missing`, `p.yaml:3: disk.type: "ssd" (want 15k, 10k or custom)`, `disk.count: 0`, `ram: missing`, `nic: missing`},
		},
		{
			name: "custom disk needs its figures",
			yaml: "cores: 8\ncpu_factor: 0.3\ndisk: {type: custom, count: 1}\nram: 8GiB\nnic: 1Gbit/s\n",
			want: []string{`disk.fsync_ms: required`, `disk.iops_per_disk: required`, `disk.seq_mb_per_s_per_disk: required`},
		},
		{
			name: "reserved exceeds RAM",
			yaml: "cores: 8\ncpu_factor: 0.3\ndisk: {type: 15k, count: 1}\nram: 8GiB\nram_reserved: 9GiB\nnic: 1Gbit/s\n",
			want: []string{`p.yaml:5: ram_reserved: 9GiB leaves nothing of ram 8GiB`},
		},
		{
			name: "syntax error",
			yaml: "cores: 8\ncpu_factor: [0.3\n",
			want: []string{`p.yaml:`},
		},
	}
	for _, tc := range tests {
		_, err := ParseProfile("p.yaml", []byte(tc.yaml))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error\n%v\nwant it to contain %q", tc.name, err, w)
			}
		}
	}
}

func TestUnits(t *testing.T) {
	bytesTests := []struct {
		in   string
		want ByteSize
	}{
		{"8GiB", 8 * GiB}, {"8 GiB", 8 * GiB}, {"512MiB", 512 * MiB}, {"16GB", 16e9}, {"1024", 1024}, {"1.5 KiB", 1536},
	}
	for _, tc := range bytesTests {
		var b ByteSize
		if err := b.UnmarshalText([]byte(tc.in)); err != nil || b != tc.want {
			t.Errorf("ByteSize(%q) = %d, %v; want %d", tc.in, b, err, tc.want)
		}
	}
	rateTests := []struct {
		in   string
		want BitRate
	}{
		{"1Gbit/s", 1e9}, {"100 Mbit/s", 100e6}, {"10Gbps", 10e9}, {"1e9", 1e9}, {"2.5 gbit/s", 2.5e9},
	}
	for _, tc := range rateTests {
		var r BitRate
		if err := r.UnmarshalText([]byte(tc.in)); err != nil || r != tc.want {
			t.Errorf("BitRate(%q) = %g, %v; want %g", tc.in, float64(r), err, float64(tc.want))
		}
	}
	for _, bad := range []string{"", "GiB", "8 parsecs", "-1e"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("ByteSize(%q) accepted", bad)
		}
	}
	if s := (8 * GiB).String(); s != "8GiB" {
		t.Errorf("8 GiB prints %q", s)
	}
	if s := BitRate(1e9).String(); s != "1Gbit/s" {
		t.Errorf("1e9 bit/s prints %q", s)
	}
}

// The profile example in docs/capacity.md is one this loader reads.
func TestDocProfileExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/capacity.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	blocks := 0
	for _, part := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if !strings.Contains(block, "cpu_factor") {
			continue
		}
		blocks++
		p, err := ParseProfile("capacity.md", []byte(block))
		if err != nil {
			t.Errorf("docs/capacity.md profile example: %v", err)
			continue
		}
		cal := synth(defaultTruth(), synthSizes, synthCores, synthLoads)
		pred, err := Predict(cal, p, PeakMix(), DefaultObjective())
		if err != nil {
			t.Fatal(err)
		}
		// hot path 5 µs here, 4.1 µs there.
		if !near(pred.CPUFactor.Mid, 5/4.1, 1e-9) || pred.Profile.Cores != 32 {
			t.Errorf("example profile: factor %v, cores %d", pred.CPUFactor, pred.Profile.Cores)
		}
	}
	if blocks == 0 {
		t.Error("no profile example in docs/capacity.md")
	}
}
