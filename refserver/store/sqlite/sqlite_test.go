package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/storetest"
)

func TestStore(t *testing.T) {
	var last string
	open := func(t *testing.T) store.Store {
		last = filepath.Join(t.TempDir(), "gc.db")
		s, err := Open(last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	reopen := func(t *testing.T) store.Store {
		s, err := Open(last)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, open, reopen)
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Fatal("opened a database in a missing directory")
	}
}

// BenchmarkAppend: group commit with 1 to 256 posters waiting for their
// acknowledgements (docs/performance.md).
func BenchmarkAppend(b *testing.B) {
	for _, inflight := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "gc.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchAppend(b, s, inflight)
		})
	}
}
