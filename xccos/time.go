package xccos

import (
	"fmt"
	"time"
)

// timeForm describes the timestamps ParseTime accepts, for error messages.
const timeForm = "2006-01-02T15:04:05[.fffffffff](Z|±hh:mm)"

// timeLayout is the canonical rendering: UTC with a 7-digit fraction, the
// form real servers send.
const timeLayout = "2006-01-02T15:04:05.0000000Z"

// ParseTime parses an XCCOS timestamp: "2006-01-02T15:04:05Z", optionally
// with a fraction of 1 to 9 digits ("2010-09-14T14:26:17.6206356Z" is the
// common server form) and with a numeric offset ("+01:00") instead of Z.
// The result is in UTC. The error is an *Error wrapping ErrBadTime.
func ParseTime(s string) (time.Time, error) {
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, &Error{Err: ErrBadTime, Offset: -1, Msg: fmt.Sprintf("timestamp %q is not of the form %s", s, timeForm)}
	}
	return t, nil
}

// num reads the decimal digits s[i:j] (all of them must be digits).
func num(s string, i, j int) (int, bool) {
	v := 0
	for ; i < j; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func parseTime(s string) (time.Time, bool) {
	// 2006-01-02T15:04:05 is 19 bytes; a zone needs at least one more.
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := num(s, 0, 4)
	month, ok2 := num(s, 5, 7)
	day, ok3 := num(s, 8, 10)
	hour, ok4 := num(s, 11, 13)
	minute, ok5 := num(s, 14, 16)
	sec, ok6 := num(s, 17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		nsec, _ = num(s, i+1, j)
		for k := digits; k < 9; k++ {
			nsec *= 10
		}
		i = j
	}
	if i >= len(s) {
		return time.Time{}, false
	}
	offset := 0
	switch s[i] {
	case 'Z':
		if i+1 != len(s) {
			return time.Time{}, false
		}
	case '+', '-':
		if len(s) != i+6 || s[i+3] != ':' {
			return time.Time{}, false
		}
		oh, ok1 := num(s, i+1, i+3)
		om, ok2 := num(s, i+4, i+6)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

// FormatTime renders t in UTC in the 7-digit form
// "2006-01-02T15:04:05.0000000Z" (the fraction is truncated to 100 ns).
func FormatTime(t time.Time) string {
	var buf [len(timeLayout)]byte
	return string(AppendTime(buf[:0], t))
}

// AppendTime appends FormatTime(t) to dst without allocating (when dst
// has room).
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timeLayout)
	}
	hour, minute, sec := t.Clock()
	dst = append2(append2(dst, year/100), year%100)
	dst = append2(append(dst, '-'), int(month))
	dst = append2(append(dst, '-'), day)
	dst = append2(append(dst, 'T'), hour)
	dst = append2(append(dst, ':'), minute)
	dst = append2(append(dst, ':'), sec)
	frac := t.Nanosecond() / 100
	dst = append(dst, '.',
		byte('0'+frac/1000000),
		byte('0'+frac/100000%10),
		byte('0'+frac/10000%10),
		byte('0'+frac/1000%10),
		byte('0'+frac/100%10),
		byte('0'+frac/10%10),
		byte('0'+frac%10),
		'Z')
	return dst
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}
