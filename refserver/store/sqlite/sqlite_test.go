package sqlite

import (
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
