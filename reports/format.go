package reports

import (
	"math"
	"strconv"
	"strings"
)

// FormatMicros renders a duration in microseconds for people, with up to
// four significant digits: "850µs", "412.3ms", "1.5s", "2.5m".
func FormatMicros(us float64) string {
	a := math.Abs(us)
	switch {
	case a < 1e3:
		return formatFloat(us) + "µs"
	case a < 1e6:
		return formatFloat(us/1e3) + "ms"
	case a < 60e6:
		return formatFloat(us/1e6) + "s"
	}
	return formatFloat(us/60e6) + "m"
}

// formatFloat renders integers exactly and other values with up to four
// significant digits, never in exponent form.
func formatFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// FormatCount renders an integer with thousands separators: 24,332,000.
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
