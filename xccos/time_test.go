package xccos

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2006-01-02T15:04:05Z", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"2010-09-14T14:26:17.6206356Z", time.Date(2010, 9, 14, 14, 26, 17, 620635600, time.UTC)},
		{"2010-09-14T14:26:17.6Z", time.Date(2010, 9, 14, 14, 26, 17, 600000000, time.UTC)},
		{"2010-09-14T14:26:17.123456789Z", time.Date(2010, 9, 14, 14, 26, 17, 123456789, time.UTC)},
		{"2010-09-14T15:26:17+01:00", time.Date(2010, 9, 14, 14, 26, 17, 0, time.UTC)},
		{"2010-09-14T09:56:17.5-04:30", time.Date(2010, 9, 14, 14, 26, 17, 500000000, time.UTC)},
		{"2010-01-01T00:30:00+01:00", time.Date(2009, 12, 31, 23, 30, 0, 0, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2000-02-29T23:59:59-00:00", time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC)},
		{"0001-01-01T00:00:00Z", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, want %v in UTC", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"2010-09-14",
		"2010-09-14T14:26:17",             // no zone
		"2010-09-14 14:26:17Z",            // space instead of T
		"2010-09-14t14:26:17z",            // lowercase
		"2010-09-14T14:26:17.Z",           // empty fraction
		"2010-09-14T14:26:17.1234567890Z", // 10 digits
		"2010-09-14T14:26:17ZZ",
		"2010-09-14T14:26:17+0100",
		"2010-09-14T14:26:17+01",
		"2010-09-14T14:26:17+24:00",
		"2010-13-14T14:26:17Z",
		"2010-00-14T14:26:17Z",
		"2010-02-29T14:26:17Z", // not a leap year
		"1900-02-29T14:26:17Z",
		"2010-09-31T14:26:17Z",
		"2010-09-14T24:00:00Z",
		"2010-09-14T14:60:17Z",
		"2010-09-14T14:26:60Z",
		"+010-09-14T14:26:17Z",
		"2010-09-14T14:26:17.6206356Z ",
		" 2010-09-14T14:26:17Z",
		"yesterday at noon, roughly",
	} {
		_, err := ParseTime(in)
		if !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q) error = %v, want ErrBadTime", in, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "xccos: ") || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseTime(%q) error %q does not name the input", in, err)
		}
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2010, 9, 14, 14, 26, 17, 620635600, time.UTC), "2010-09-14T14:26:17.6206356Z"},
		{time.Date(2010, 9, 14, 14, 26, 17, 620635699, time.UTC), "2010-09-14T14:26:17.6206356Z"}, // truncated
		{time.Date(2026, 11, 21, 21, 42, 34, 0, time.UTC), "2026-11-21T21:42:34.0000000Z"},
		{time.Date(2010, 9, 14, 16, 26, 17, 100, time.FixedZone("CEST", 7200)), "2010-09-14T14:26:17.0000001Z"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01T00:00:00.0000000Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.9999999Z"},
		{time.Date(12345, 1, 2, 3, 4, 5, 0, time.UTC), "12345-01-02T03:04:05.0000000Z"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(AppendTime([]byte("ts="), tt.in)); got != "ts="+tt.want {
			t.Errorf("AppendTime(%v) = %q", tt.in, got)
		}
		if tt.in.Year() > 9999 {
			continue
		}
		back, err := ParseTime(tt.want)
		if err != nil || !back.Equal(tt.in.Truncate(100)) {
			t.Errorf("ParseTime(FormatTime(%v)) = %v, %v", tt.in, back, err)
		}
	}
	buf := make([]byte, 0, 64)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = AppendTime(buf[:0], now) }); n != 0 {
		t.Errorf("AppendTime allocates %v times, want 0", n)
	}
}
