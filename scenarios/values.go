package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gcload/gcload/internal/yamlx"
)

// UnmarshalYAML reads a duration such as "30s", "10m", "1h30m" or "500ms".
// A bare number is an error: a duration needs a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s, got %s", yamlx.Describe(n))
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return fmt.Errorf("%s is not a duration: a duration needs a unit (such as %ss, %sms or %sm)", n.Value, n.Value, n.Value, n.Value)
	}
	x, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("%q is not a duration (want a number with a unit: 500ms, 30s, 10m, 1h30m)", n.Value)
	}
	*d = Duration(x)
	return nil
}

// MarshalYAML writes the duration as String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats the duration as "30s", "10m", "1h30m" or "500ms" (no
// trailing zero units).
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// rateUnit returns the length in seconds of a rate's unit.
func rateUnit(u string) (float64, bool) {
	switch u {
	case "s":
		return 1, true
	case "m":
		return 60, true
	case "h":
		return 3600, true
	}
	return 0, false
}

// ParseRate parses a rate: "40/s", "2400/m", "1/h", "0.5/s", or a bare
// number of events per second.
func ParseRate(s string) (Rate, error) {
	num, unit, slash := strings.Cut(s, "/")
	num, unit = strings.TrimSpace(num), strings.TrimSpace(unit)
	per := 1.0
	if slash {
		var ok bool
		if per, ok = rateUnit(unit); !ok {
			return 0, fmt.Errorf("%q is not a rate (want N/s, N/m, N/h or a number)", s)
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a rate (want N/s, N/m, N/h or a number)", s)
	}
	return Rate(f / per), nil
}

// UnmarshalYAML reads a rate: "40/s", "2400/m", "1/h", "0.5/s", or a bare
// number (per second).
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a rate such as 40/s, got %s", yamlx.Describe(n))
	}
	x, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = x
	return nil
}

// MarshalYAML writes the rate as String does.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// String formats the rate so that it reads back exactly: per second when
// that takes at most three decimals ("40/s", "0.5/s"), else per minute or
// per hour when that is a whole number ("1/h"), else per second in full.
func (r Rate) String() string {
	if s := strconv.FormatFloat(float64(r), 'f', -1, 64); len(s)-strings.IndexByte(s+".", '.') <= 4 {
		if back, err := ParseRate(s + "/s"); err == nil && back == r {
			return s + "/s"
		}
	}
	for _, u := range []string{"m", "h"} {
		per, _ := rateUnit(u)
		n := float64(r) * per
		if n != math.Trunc(n) || math.Abs(n) >= 1e15 {
			continue
		}
		s := strconv.FormatFloat(n, 'f', -1, 64) + "/" + u
		if back, err := ParseRate(s); err == nil && back == r {
			return s
		}
	}
	return strconv.FormatFloat(float64(r), 'g', -1, 64) + "/s"
}
