package compare

import (
	"errors"
	"strings"
	"testing"

	"github.com/gcload/gcload/reports"
)

func TestParseRule(t *testing.T) {
	good := []struct {
		in   string
		want Rule
	}{
		{"post_to_last_delivery.p99 > +10%", Rule{Op: reports.OpPostToLastDelivery, Stat: StatP99, Above: true, Relative: true, Value: 0.10}},
		{"post_ack.p50 > +2ms", Rule{Op: reports.OpPostAck, Stat: StatP50, Above: true, Value: 2000}},
		{"post_ack.p99.9 > 500us", Rule{Op: reports.OpPostAck, Stat: StatP999, Above: true, Value: 500}},
		{"post_ack.p99_9 > +500µs", Rule{Op: reports.OpPostAck, Stat: StatP999, Above: true, Value: 500}},
		{"post_ack.max > +1.5s", Rule{Op: reports.OpPostAck, Stat: StatMax, Above: true, Value: 1.5e6}},
		{"post_ack.mean<-5%", Rule{Op: reports.OpPostAck, Stat: StatMean, Relative: true, Value: -0.05}},
		{"post_ack.rate < -5%", Rule{Op: reports.OpPostAck, Stat: StatRate, Relative: true, Value: -0.05}},
		{"post_ack.count < -100", Rule{Op: reports.OpPostAck, Stat: StatCount, Value: -100}},
		{"lost > +0", Rule{Counter: "lost", Above: true}},
		{"errors.rate > +50%", Rule{Counter: "errors", Stat: StatRate, Above: true, Relative: true, Value: 0.5}},
		{"errors.count > 3", Rule{Counter: "errors", Above: true, Value: 3}},
		{"sip.503 > +3", Rule{Counter: "sip.503", Above: true, Value: 3}},
		{"violations.info/200-empty > 0", Rule{Counter: "violations.info/200-empty", Above: true}},
		{"  lost_ratio > +0.001  ", Rule{Counter: "lost_ratio", Above: true, Value: 0.001}},
		{"\tpost_ack.p90\t>\t+10%", Rule{Op: reports.OpPostAck, Stat: StatP90, Above: true, Relative: true, Value: 0.1}},
	}
	for _, c := range good {
		got, err := ParseRule(c.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", c.in, err)
			continue
		}
		c.want.Raw = strings.TrimSpace(c.in)
		if got != c.want {
			t.Errorf("ParseRule(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}

	bad := []struct {
		in    string
		pos   int
		token string
		msg   string
	}{
		{"", 1, "", "want METRIC OP CHANGE"},
		{"   ", 4, "", "want METRIC OP CHANGE"},
		{"post_ack.p99", 13, "", "want an operator"},
		{"post_ack.p99 >= +10%", 14, ">=", "unsupported operator"},
		{"post_ack.p99 == 10%", 14, "==", "unsupported operator"},
		{"post_ack.p99 > ", 16, "", "want a change"},
		{"post_ack.p99 > +10", 16, "+10", "give the change a unit"},
		{"post_ack.p99 > +10x", 19, "x", "unknown unit"},
		{"post_ack.p99 > abc", 16, "abc", "not a number"},
		{"post_ack.p99 > +1.2.3ms", 17, "1.2.3", "not a number"},
		{"post_ack.p99 > +10% extra", 21, "extra", "unexpected text"},
		{"post_ack.p95 > +10%", 10, "p95", "unknown statistic"},
		{"post_acks.p99 > +10%", 1, "post_acks", "unknown operation"},
		{"post_ack > +10%", 1, "post_ack", "say which statistic"},
		{"lost > +3ms", 10, "ms", "not a latency"},
		{"lost_ratio.rate > 1", 12, "rate", "takes no statistic"},
		{"lo$t > 1", 1, "lo$t", "not an operation or a counter name"},
		{"  post_ack.p99 > +10", 18, "+10", "give the change a unit"},
	}
	for _, c := range bad {
		_, err := ParseRule(c.in)
		if err == nil {
			t.Errorf("ParseRule(%q): no error", c.in)
			continue
		}
		var re *RuleError
		if !errors.As(err, &re) || !errors.Is(err, ErrBadRule) {
			t.Errorf("ParseRule(%q): error %v is not a *RuleError wrapping ErrBadRule", c.in, err)
			continue
		}
		if re.Pos != c.pos || re.Token != c.token || !strings.Contains(re.Msg, c.msg) || re.Rule != c.in {
			t.Errorf("ParseRule(%q) = at %d %q %q, want at %d %q %q", c.in, re.Pos, re.Token, re.Msg, c.pos, c.token, c.msg)
		}
		if !strings.Contains(err.Error(), c.in) {
			t.Errorf("error %q does not name the rule", err)
		}
	}
}

func TestRuleMetric(t *testing.T) {
	for in, want := range map[string]string{
		"post_ack.p99.9 > 1ms": "post_ack.p99_9",
		"errors.rate > 1":      "errors.rate",
		"errors.count > 1":     "errors",
		"sip.503 > 1":          "sip.503",
	} {
		r, err := ParseRule(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Metric() != want {
			t.Errorf("%q: Metric() = %q, want %q", in, r.Metric(), want)
		}
	}
}
