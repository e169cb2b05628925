package web

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "report v2 (final).pdf", "déjà vu.txt", strings.Repeat("é", MaxNameLen), "gcl:abc:1:2:1:-1:123|"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", `a\b`, "a\x00b", "a\nb", "a\x7fb", "\xff", strings.Repeat("n", MaxNameLen+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	st, err := sqlite.Open(t.TempDir() + "/gc.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Dir, cfg.Store = t.TempDir(), st
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetBaseURL("http://h:1/")
	return s
}

func TestFileURLs(t *testing.T) {
	s := newService(t, Config{})
	id := strings.Repeat("ab", 16)
	if u := s.FileURL(id); u != "http://h:1/files/"+id {
		t.Fatalf("FileURL = %q", u)
	}
	if got, ok := s.FileID("http://h:1/files/" + id); !ok || got != id {
		t.Fatalf("FileID of its own URL: %q %v", got, ok)
	}
	for _, u := range []string{"http://other:1/files/" + id, "http://h:1/files/" + strings.ToUpper(id), "http://h:1/files/" + id[:30], "http://h:1/files/" + id + "/x", "http://h:1/files/../" + id[3:]} {
		if _, ok := s.FileID(u); ok {
			t.Errorf("FileID(%q) took it", u)
		}
	}
}

// TestTokenLimits: tokens in all and per user are bounded; expired ones
// make room; a download token is only for a file of its room.
func TestTokenLimits(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := newService(t, Config{MaxTokens: 3, MaxUserTokens: 2, TokenTTL: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 2 {
		if _, _, err := s.UploadToken(ctx, "sip:a@d", "r", "f"); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if _, _, err := s.UploadToken(ctx, "sip:a@d", "r", "f"); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "one user") {
		t.Fatalf("a third token for one user: %v", err)
	}
	if _, _, err := s.UploadToken(ctx, "sip:b@d", "r", "f"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UploadToken(ctx, "sip:c@d", "r", "f"); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "3 outstanding") {
		t.Fatalf("a fourth token in all: %v", err)
	}
	now = now.Add(time.Minute)
	if _, _, err := s.UploadToken(ctx, "sip:c@d", "r", "f"); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
	if st := s.Stats(); st.Tokens != 1 {
		t.Fatalf("%d tokens outstanding, want 1", st.Tokens)
	}
	id := strings.Repeat("cd", 16)
	if err := s.cfg.Store.AddFile(ctx, store.File{ID: id, RoomID: "r", Uploader: "sip:a@d", Name: "f", SHA256: "00"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DownloadToken(ctx, "sip:a@d", "other", s.FileURL(id)); !errors.Is(err, ErrBadURL) {
		t.Fatalf("a download token for a file of another room: %v", err)
	}
	if _, err := s.DownloadToken(ctx, "sip:a@d", "r", s.FileURL(id)); err != nil {
		t.Fatal(err)
	}
}
