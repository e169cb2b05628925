package refserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
)

// TestNoticeDelayBounds: a notice delay outside 0..1s is refused with the
// value and the bound, before anything is opened.
func TestNoticeDelayBounds(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 2 * time.Second} {
		_, err := refserver.New(context.Background(), refserver.WithTCP("127.0.0.1:0"), refserver.WithNoticeDelay(d))
		if err == nil || !strings.Contains(err.Error(), "notice delay "+d.String()+": must be between 0 and 1s") {
			t.Errorf("WithNoticeDelay(%v): %v, want a refusal naming the bound", d, err)
		}
	}
}
