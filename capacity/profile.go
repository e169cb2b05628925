package capacity

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gcload/gcload/internal/yamlx"
)

// Profile describes the hardware to predict for. Zero values of optional
// fields take the defaults of the disk type (see DiskDefaults).
type Profile struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Cores is the server's cores (all sockets).
	Cores int `json:"cores" yaml:"cores"`
	// CPUFactor is the speed of one of the profile's cores relative to one
	// core of the machine the calibration ran on (0.5: half as fast), as a
	// band. Ignored when HotPathDeliveryUs is given and the calibration
	// has its own hot-path figure: then the factor is their ratio.
	CPUFactor Band `json:"cpu_factor" yaml:"cpu_factor"`
	// HotPathDeliveryUs is the server's hot-path CPU per delivery measured
	// on the profile's hardware (`gcload calibrate` run there), in µs.
	HotPathDeliveryUs float64 `json:"hot_path_cpu_per_delivery_us,omitempty" yaml:"hot_path_cpu_per_delivery_us,omitempty"`
	Disk              Disk    `json:"disk" yaml:"disk"`
	// RAM is the machine's memory; RAMReserved what the OS and everything
	// but the per-user state needs.
	RAM         ByteSize `json:"ram" yaml:"ram"`
	RAMReserved ByteSize `json:"ram_reserved" yaml:"ram_reserved"`
	// NIC is the network interface's line rate.
	NIC BitRate `json:"nic" yaml:"nic"`
}

// Disk is the disk set that takes the synchronous commits and the writes.
type Disk struct {
	// Type is "15k" or "10k" (defaults below), or "custom" (give fsync_ms,
	// iops_per_disk and seq_mb_per_s_per_disk).
	Type string `json:"type" yaml:"type"`
	// Count is the number of disks; RAID is "none" or "raid0".
	Count int    `json:"count" yaml:"count"`
	RAID  string `json:"raid" yaml:"raid"`
	// WriteCache is a battery-backed write cache (commits well under 1 ms).
	WriteCache bool `json:"write_cache" yaml:"write_cache"`
	// FsyncMs is the latency of one synchronous commit in ms (mean, as a
	// band); FsyncP99Ms its 99th percentile (default twice FsyncMs).
	FsyncMs    *Band `json:"fsync_ms,omitempty" yaml:"fsync_ms,omitempty"`
	FsyncP99Ms *Band `json:"fsync_p99_ms,omitempty" yaml:"fsync_p99_ms,omitempty"`
	// IOPSPerDisk is random write operations per second of one disk;
	// SeqMBPerSecPerDisk its sequential write bandwidth in MB/s.
	IOPSPerDisk        float64 `json:"iops_per_disk,omitempty" yaml:"iops_per_disk,omitempty"`
	SeqMBPerSecPerDisk float64 `json:"seq_mb_per_s_per_disk,omitempty" yaml:"seq_mb_per_s_per_disk,omitempty"`
}

// DiskDefault is what a disk type implies unless the profile says
// otherwise.
type DiskDefault struct {
	FsyncMs            Band // no write cache: dedicated log spindle .. log sharing the spindle
	IOPSPerDisk        float64
	SeqMBPerSecPerDisk float64
}

// DiskDefaults are the disk types' figures (docs/capacity.md gives their
// sources): 15K SAS commits in ~4 ms on a dedicated log spindle and ~5.8 ms
// when the log shares the spindle, ~170 random IOPS, ~125 MB/s; 10K SAS
// 6 ms / 7.7 ms, ~130 IOPS; its sequential rate (not in the sources) is an
// assumption.
var DiskDefaults = map[string]DiskDefault{
	"15k": {FsyncMs: Band{4, 4.9, 5.8}, IOPSPerDisk: 170, SeqMBPerSecPerDisk: 125},
	"10k": {FsyncMs: Band{6, 6.85, 7.7}, IOPSPerDisk: 130, SeqMBPerSecPerDisk: 100},
}

// WriteCacheFsyncMs is the commit latency behind a battery-backed write
// cache: "well under 1 ms".
var WriteCacheFsyncMs = Band{0.1, 0.3, 1.0}

// P99OverMean is the default ratio of a commit's 99th percentile to its
// mean when the profile does not give fsync_p99_ms (a missed rotation
// plus a seek roughly doubles it).
const P99OverMean = 2.0

// referenceCPUFactor: a 2008 Xeon E5405 core against a current server core
// is about 1/3 as fast with all cores busy, 1/5 to 1/2 as a band.
var referenceCPUFactor = Band{1.0 / 5, 1.0 / 3, 1.0 / 2}

var builtinProfiles = map[string]Profile{
	"ocs-r2-reference": {
		Name:        "ocs-r2-reference",
		Description: "OCS 2007 R2 Group Chat reference server: 2 x Xeon E5405 (8 cores, 2.0 GHz), 2 x 72 GB 15K SAS in RAID 0, 8 GB, 1 GbE",
		Cores:       8,
		CPUFactor:   referenceCPUFactor,
		Disk:        Disk{Type: "15k", Count: 2, RAID: "raid0"},
		RAM:         8 * GiB,
		RAMReserved: 2 * GiB,
		NIC:         1e9,
	},
	"ocs-r2-reference-10k": {
		Name:        "ocs-r2-reference-10k",
		Description: "OCS 2007 R2 Group Chat reference server with 10K disks: 2 x Xeon E5405 (8 cores, 2.0 GHz), 2 x 72 GB 10K SAS in RAID 0, 8 GB, 1 GbE",
		Cores:       8,
		CPUFactor:   referenceCPUFactor,
		Disk:        Disk{Type: "10k", Count: 2, RAID: "raid0"},
		RAM:         8 * GiB,
		RAMReserved: 2 * GiB,
		NIC:         1e9,
	},
}

// BuiltinProfiles lists the names of the built-in profiles.
func BuiltinProfiles() []string {
	names := make([]string, 0, len(builtinProfiles))
	for n := range builtinProfiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BuiltinProfile returns a built-in profile by name.
func BuiltinProfile(name string) (Profile, bool) {
	p, ok := builtinProfiles[name]
	return p, ok
}

// DefaultProfile is the profile `gcload capacity` uses without --profile.
const DefaultProfile = "ocs-r2-reference"

// LoadProfile returns the built-in profile of that name, or else reads the
// YAML file of that name.
func LoadProfile(nameOrFile string) (Profile, error) {
	if p, ok := BuiltinProfile(nameOrFile); ok {
		return p, nil
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Profile{}, fmt.Errorf("profile %q: not a built-in profile (%s) and no such file", nameOrFile, strings.Join(BuiltinProfiles(), ", "))
		}
		return Profile{}, fmt.Errorf("profile %q: %w", nameOrFile, err)
	}
	return ParseProfile(nameOrFile, data)
}

// ParseProfile decodes a YAML profile strictly: unknown keys, wrong types
// and impossible values are all reported, each as "FILE:LINE: field:
// message". A profile without a name is named after the file.
func ParseProfile(file string, data []byte) (Profile, error) {
	var p Profile
	pos, errs := yamlx.Decode(file, data, &p, nil)
	if p.Name == "" {
		p.Name = strings.TrimSuffix(strings.TrimSuffix(baseName(file), ".yaml"), ".yml")
	}
	syntax := false // a problem with the document itself: nothing else is worth checking
	for _, e := range errs {
		var ye *yamlx.Error
		if !errors.As(e, &ye) || ye.Field == "" {
			syntax = true
		}
	}
	if !syntax {
		// Report every problem at once, but not twice: a field that could
		// not be decoded is not also reported as missing.
		for _, e := range p.validateAll(pos) {
			var ye *yamlx.Error
			dup := false
			if errors.As(e, &ye) {
				for _, d := range errs {
					var de *yamlx.Error
					if errors.As(d, &de) && yamlx.Related(de.Field, ye.Field) {
						dup = true
					}
				}
			}
			if !dup {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return Profile{}, errors.Join(errs...)
	}
	return p, nil
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

// Validate reports what is missing or impossible in the profile.
func (p Profile) Validate() error { return p.validate(nil) }

func (p Profile) validate(pos *yamlx.Positions) error { return errors.Join(p.validateAll(pos)...) }

func (p Profile) validateAll(pos *yamlx.Positions) []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, pos.Errorf(path, format, args...))
	}
	if p.Cores < 1 {
		bad("cores", "%d (want at least 1)", p.Cores)
	}
	if p.HotPathDeliveryUs < 0 {
		bad("hot_path_cpu_per_delivery_us", "%g is negative", p.HotPathDeliveryUs)
	}
	if p.HotPathDeliveryUs == 0 || p.CPUFactor != (Band{}) {
		if !(p.CPUFactor.Low > 0) {
			bad("cpu_factor", "missing or not positive (want the speed of one core relative to the calibration machine's, e.g. {low: 0.2, mid: 0.33, high: 0.5})")
		}
	}
	d := p.Disk
	switch d.Type {
	case "15k", "10k":
	case "custom":
		if d.FsyncMs == nil {
			bad("disk.fsync_ms", "required for disk type custom")
		}
		if d.IOPSPerDisk == 0 {
			bad("disk.iops_per_disk", "required for disk type custom")
		}
		if d.SeqMBPerSecPerDisk == 0 {
			bad("disk.seq_mb_per_s_per_disk", "required for disk type custom")
		}
	case "":
		bad("disk.type", "missing (want 15k, 10k or custom)")
	default:
		bad("disk.type", "%q (want 15k, 10k or custom)", d.Type)
	}
	if d.Count < 1 {
		bad("disk.count", "%d (want at least 1)", d.Count)
	}
	switch d.RAID {
	case "", "none":
	case "raid0":
		if d.Count < 2 {
			bad("disk.raid", "raid0 needs at least 2 disks (count is %d)", d.Count)
		}
	default:
		bad("disk.raid", "%q (want none or raid0)", d.RAID)
	}
	for _, b := range []struct {
		path string
		v    *Band
	}{{"disk.fsync_ms", d.FsyncMs}, {"disk.fsync_p99_ms", d.FsyncP99Ms}} {
		if b.v != nil && !(b.v.Low > 0) {
			bad(b.path, "must be positive")
		}
	}
	if d.IOPSPerDisk < 0 {
		bad("disk.iops_per_disk", "%g is negative", d.IOPSPerDisk)
	}
	if d.SeqMBPerSecPerDisk < 0 {
		bad("disk.seq_mb_per_s_per_disk", "%g is negative", d.SeqMBPerSecPerDisk)
	}
	if p.RAM <= 0 {
		bad("ram", "missing (want the machine's memory, e.g. 8GiB)")
	} else if p.RAMReserved >= p.RAM {
		bad("ram_reserved", "%s leaves nothing of ram %s", p.RAMReserved, p.RAM)
	}
	if p.RAMReserved < 0 {
		bad("ram_reserved", "is negative")
	}
	if !(p.NIC > 0) {
		bad("nic", "missing (want the line rate, e.g. 1Gbit/s)")
	}
	return errs
}

// hw is a profile resolved to SI units with its defaults applied.
type hw struct {
	cores     int
	factor    Band    // core speed relative to the calibration machine
	fsync     Band    // seconds, mean commit
	fsyncP99  Band    // seconds
	iops      float64 // write operations/s of the disk set
	seqBps    float64 // bytes/s of the disk set
	ramUsable float64 // bytes
	nicBps    float64 // bits/s
}

func (p Profile) resolve() hw {
	d := p.Disk
	def := DiskDefaults[d.Type]
	fs := def.FsyncMs
	if d.WriteCache {
		fs = WriteCacheFsyncMs
	}
	if d.FsyncMs != nil {
		fs = *d.FsyncMs
	}
	fp := fs.Scale(P99OverMean)
	if d.FsyncP99Ms != nil {
		fp = *d.FsyncP99Ms
	}
	iops, seq := def.IOPSPerDisk, def.SeqMBPerSecPerDisk
	if d.IOPSPerDisk > 0 {
		iops = d.IOPSPerDisk
	}
	if d.SeqMBPerSecPerDisk > 0 {
		seq = d.SeqMBPerSecPerDisk
	}
	n := 1.0
	if d.RAID == "raid0" {
		// RAID 0 stripes: random IOPS and bandwidth add up; one
		// synchronous commit still lands on one spindle (fsync unchanged).
		n = float64(d.Count)
	}
	return hw{
		cores:     p.Cores,
		factor:    p.CPUFactor,
		fsync:     fs.Scale(1e-3),
		fsyncP99:  fp.Scale(1e-3),
		iops:      iops * n,
		seqBps:    seq * 1e6 * n,
		ramUsable: float64(p.RAM - p.RAMReserved),
		nicBps:    float64(p.NIC),
	}
}

// YAML returns the profile as YAML that ParseProfile reads back.
func (p Profile) YAML() ([]byte, error) { return yaml.Marshal(p) }

// UnmarshalYAML reads a band as a mapping {low, mid, high} (low and high
// default to mid) or as one number for all three; numbers may be written
// as fractions ("1/3").
func (b *Band) UnmarshalYAML(n *yaml.Node) error {
	lineErr := func(n *yaml.Node, format string, args ...any) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		x, err := parseNumber(n.Value)
		if err != nil {
			return lineErr(n, "%v", err)
		}
		*b = Point(x)
		return nil
	case yaml.MappingNode:
	default:
		return lineErr(n, "want a number or a mapping {low, mid, high}")
	}
	var got Band
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return lineErr(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		var dst *float64
		switch k.Value {
		case "low":
			dst = &got.Low
		case "mid":
			dst = &got.Mid
		case "high":
			dst = &got.High
		default:
			return lineErr(k, "unknown key %q (known keys: low, mid, high)", k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return lineErr(v, "%s: want a number", k.Value)
		}
		x, err := parseNumber(v.Value)
		if err != nil {
			return lineErr(v, "%s: %v", k.Value, err)
		}
		*dst = x
	}
	if !seen["mid"] {
		return lineErr(n, "missing mid")
	}
	if !seen["low"] {
		got.Low = got.Mid
	}
	if !seen["high"] {
		got.High = got.Mid
	}
	if !(got.Low <= got.Mid && got.Mid <= got.High) {
		return lineErr(n, "want low <= mid <= high, got %g, %g, %g", got.Low, got.Mid, got.High)
	}
	*b = got
	return nil
}

// parseNumber reads "0.25", "2.5e3" or a fraction "1/3".
func parseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if num, den, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.ParseFloat(strings.TrimSpace(num), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err1 != nil || err2 != nil || b == 0 || !finite(a/b) {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		return a / b, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(x) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return x, nil
}

// ByteSize is a number of bytes, written "8GiB", "512 MiB", "16GB"
// (1000-based) or a plain number.
type ByteSize int64

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = []struct {
	name string
	mult float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1}, {"", 1},
}

// UnmarshalText parses a byte size.
func (s *ByteSize) UnmarshalText(text []byte) error {
	x, err := parseUnit(string(text), func(unit string) (float64, bool) {
		for _, u := range byteUnits {
			if unit == u.name {
				return u.mult, true
			}
		}
		return 0, false
	})
	if err != nil {
		return fmt.Errorf("%q is not a byte size (want e.g. 8GiB, 512MiB, 16GB): %v", text, err)
	}
	if x < 0 || x > math.MaxInt64 {
		return fmt.Errorf("%q is out of range", text)
	}
	*s = ByteSize(x)
	return nil
}

// MarshalText writes the size in the largest binary unit that divides it.
func (s ByteSize) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s ByteSize) String() string {
	for _, u := range []struct {
		n string
		v ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.v == 0 {
			return strconv.FormatInt(int64(s/u.v), 10) + u.n
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// BitRate is a line rate in bits per second, written "1Gbit/s",
// "100Mbit/s", "10Gbps" or a plain number of bits/s.
type BitRate float64

// UnmarshalText parses a bit rate.
func (r *BitRate) UnmarshalText(text []byte) error {
	x, err := parseUnit(string(text), func(unit string) (float64, bool) {
		unit = strings.TrimSuffix(strings.TrimSuffix(unit, "/s"), "ps")
		unit = strings.TrimSuffix(unit, "bit")
		switch unit {
		case "", "b":
			return 1, true
		case "k", "kb":
			return 1e3, true
		case "m", "mb":
			return 1e6, true
		case "g", "gb":
			return 1e9, true
		case "t", "tb":
			return 1e12, true
		}
		return 0, false
	})
	if err != nil || x < 0 {
		return fmt.Errorf("%q is not a bit rate (want e.g. 1Gbit/s, 100Mbit/s, 10Gbps)", text)
	}
	*r = BitRate(x)
	return nil
}

// MarshalText writes the rate as "1Gbit/s" style.
func (r BitRate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r BitRate) String() string {
	x := float64(r)
	for _, u := range []struct {
		n string
		v float64
	}{{"Tbit/s", 1e12}, {"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}} {
		if x >= u.v {
			return strconv.FormatFloat(x/u.v, 'g', -1, 64) + u.n
		}
	}
	return strconv.FormatFloat(x, 'g', -1, 64) + "bit/s"
}

// parseUnit reads "NUMBER[ ]UNIT" with the unit (lower-cased) looked up.
func parseUnit(s string, unit func(string) (float64, bool)) (float64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '+' || s[i] == '-' ||
		(s[i] == 'e' || s[i] == 'E') && i > 0 && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '+' || s[i+1] == '-')) {
		i++
	}
	x, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, errors.New("no number")
	}
	m, ok := unit(strings.ToLower(strings.TrimSpace(s[i:])))
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", strings.TrimSpace(s[i:]))
	}
	return x * m, nil
}
