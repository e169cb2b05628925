package compliance

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
)

const domain = "example.com"

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"eng", "ops"} {
		if err := st.PutRoom(context.Background(), store.Room{ID: id, Name: "Room " + id}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// fill writes n posts to each room, a join before them and a history view
// and a file upload after them; seq continues from seq0.
func fill(t *testing.T, st store.Store, seq0, n int) {
	t.Helper()
	wait := func(f func(done func(error)) error) {
		t.Helper()
		done := make(chan error, 1)
		if err := f(func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, room := range []string{"eng", "ops"} {
		wait(func(d func(error)) error {
			return st.Record([]store.Event{{Kind: store.EventJoin, RoomID: room, User: "sip:alice@" + domain, TS: time.Now()}}, d)
		})
		for i := 1; i <= n; i++ {
			text := fmt.Sprintf("post %d <&> \"quoted\"", seq0+i)
			wait(func(d func(error)) error {
				return st.Append(store.Message{RoomID: room, Seq: uint64(seq0 + i), Author: "sip:alice@" + domain, TS: time.Now(), Text: text}, d)
			})
		}
		wait(func(d func(error)) error {
			return st.Record([]store.Event{{Kind: store.EventBackchat, RoomID: room, User: "sip:bob@" + domain, TS: time.Now(), Detail: "3"},
				{Kind: store.EventFileUpload, RoomID: room, User: "sip:bob@" + domain, TS: time.Now(), Detail: "plan.txt"}}, d)
		})
	}
}

// validate checks a file against the XSD with xmllint when it is
// installed (CI installs it: .ci/run), and structurally in Go always; it
// returns the messages' "room type id content" in file order.
func validate(t *testing.T, path string) []string {
	t.Helper()
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		xsd := filepath.Join(t.TempDir(), "compliance.xsd")
		if err := os.WriteFile(xsd, Schema, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput(); err != nil {
			t.Fatalf("%s does not validate against compliance.xsd: %v\n%s", path, err, out)
		}
	} else {
		t.Log("xmllint (Debian's libxml2-utils) is not installed: the files are checked structurally only")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc xConversations
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, c := range doc.Conversations {
		room, ok := strings.CutPrefix(c.Channel.URI, "ma-chan://"+domain+"/")
		if !ok || len(c.Messages) == 0 || c.FirstMessage != c.Messages[0] {
			t.Fatalf("%s: conversation %+v", path, c.Channel)
		}
		for _, m := range c.Messages {
			if m.Sender.URI == "" || m.Time.String == "" || time.UnixMilli(m.Time.Since1970).UTC().Format("2006-01-02T15:04:05") != m.Time.String[:19] {
				t.Fatalf("%s: message %+v", path, m)
			}
			out = append(out, fmt.Sprintf("%s %s %d %s", room, m.Type, m.ID, m.Content))
		}
	}
	return out
}

// exportedOnce checks that the files hold every record of the archive
// exactly once.
func exportedOnce(t *testing.T, st store.Store, files []string) {
	t.Helper()
	seen := map[string]int{}
	for _, f := range files {
		for _, m := range validate(t, f) {
			seen[m]++
		}
	}
	evs, _, err := st.ReadArchive(context.Background(), store.ArchiveQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		k := fmt.Sprintf("%s %s %d %s", e.RoomID, e.Kind, e.Cursor.ID, messageOf(e).Content)
		if seen[k] != 1 {
			t.Errorf("record %q exported %d times, want once", k, seen[k])
		}
		delete(seen, k)
	}
	for k, n := range seen {
		t.Errorf("exported %q (%d times), which the archive does not hold", k, n)
	}
}

// failCursor fails SetExportCursor: a crash after the files were written.
type failCursor struct{ store.Store }

func (failCursor) SetExportCursor(context.Context, string, store.Cursor) error {
	return errors.New("crash before the cursor moved")
}

// TestExportResumes: each export writes what came since the last one,
// into a file named by its starting cursor; an export whose cursor did not
// move is redone into the same file, so that the files together hold
// every record exactly once; the files validate against the XSD.
func TestExportResumes(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	dir := t.TempDir()
	names := map[string]string{"eng": "Engineering"}
	o := Options{Dir: dir, Domain: domain}
	fill(t, st, 0, 3)
	r1, err := Export(ctx, st, names, o)
	if err != nil || len(r1.Files) != 1 || r1.Records != 12 || r1.More {
		t.Fatalf("first export: %+v, %v", r1, err)
	}
	if r, err := Export(ctx, st, names, o); err != nil || len(r.Files) != 0 || r.From != r1.To {
		t.Fatalf("export with nothing new: %+v, %v", r, err)
	}
	fill(t, st, 3, 2)
	if _, err := Export(ctx, failCursor{st}, names, o); err == nil {
		t.Fatal("the failed cursor was not reported")
	}
	fill(t, st, 5, 1)
	r2, err := Export(ctx, st, names, o)
	if err != nil || len(r2.Files) != 1 || r2.From != r1.To || r2.Records != 18 {
		t.Fatalf("export after the crash: %+v, %v", r2, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 || !slices.Contains(files, r1.Files[0]) || !slices.Contains(files, r2.Files[0]) {
		t.Fatalf("files %v, want the first export's and the redone second's (no temporary left)", files)
	}
	exportedOnce(t, st, files)
	b, _ := os.ReadFile(r1.Files[0])
	if !strings.Contains(string(b), `<Channel uri="ma-chan://example.com/eng" name="Engineering" islogged="true">`) ||
		!strings.Contains(string(b), `content="post 1 &lt;&amp;&gt; &#34;quoted&#34;"`) {
		t.Fatalf("the file lacks the room or the escaped post:\n%s", b)
	}
}

// TestExportPerRoomAndRange: one file per room; a time range exports its
// records without moving the cursor; bad options are refused.
func TestExportPerRoomAndRange(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	before := time.Now()
	fill(t, st, 0, 2)
	dir := t.TempDir()
	r, err := Export(ctx, st, nil, Options{Dir: dir, Domain: domain, PerRoom: true, MaxRecords: 5})
	if err != nil || len(r.Files) != 1 || !r.More || r.Records != 5 || !strings.HasSuffix(r.Files[0], "-eng.xml") {
		t.Fatalf("per room, 5 at most: %+v, %v", r, err)
	}
	r2, err := Export(ctx, st, nil, Options{Dir: dir, Domain: domain, PerRoom: true})
	if err != nil || len(r2.Files) != 1 || r2.Records != 5 || !strings.HasSuffix(r2.Files[0], "-ops.xml") {
		t.Fatalf("the rest: %+v, %v", r2, err)
	}
	exportedOnce(t, st, append(r.Files, r2.Files...))

	rdir := t.TempDir()
	rr, err := Export(ctx, st, nil, Options{Dir: rdir, Domain: domain, Since: before, Until: time.Now().Add(time.Minute)})
	if err != nil || rr.Records != 10 || len(rr.Files) != 1 {
		t.Fatalf("range: %+v, %v", rr, err)
	}
	exportedOnce(t, st, rr.Files)
	if c, _ := st.ExportCursor(ctx, DefaultName); c != r2.To {
		t.Fatalf("a ranged export moved the cursor to %v", c)
	}
	for _, o := range []Options{{Domain: domain}, {Dir: rdir}, {Dir: rdir, Domain: domain, Since: time.Now(), Until: before}} {
		if _, err := Export(ctx, st, nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// TestSchemaRefusesWrongShapes: the XSD is not a rubber stamp (needs
// xmllint).
func TestSchemaRefusesWrongShapes(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint (Debian's libxml2-utils) is not installed")
	}
	dir := t.TempDir()
	xsd := filepath.Join(dir, "compliance.xsd")
	if err := os.WriteFile(xsd, Schema, 0o644); err != nil {
		t.Fatal(err)
	}
	msg := `<Message type="%s" content="" id="%s"><Sender UserName="a" uri="a@d"/><DateTimeUTC since1970="0" string="1970-01-01T00:00:00.0000000Z" long="0"/></Message>`
	doc := func(uri, typ, id1, id2 string) string {
		m1, m2 := fmt.Sprintf(msg, typ, id1), fmt.Sprintf(msg, "JOIN", id2)
		return `<Conversations><Conversation><Channel uri="` + uri + `" name="n"/><FirstMessage` + m1[len("<Message"):len(m1)-len("</Message>")] + `</FirstMessage><Messages>` + m1 + m2 + `</Messages>` +
			`<StartTimeUTC since1970="0" string="1970-01-01T00:00:00.0000000Z" long="0"/><EndTimeUTC since1970="0" string="1970-01-01T00:00:00.0000000Z" long="0"/></Conversation></Conversations>`
	}
	for _, c := range []struct {
		name, xml string
		ok        bool
	}{
		{"good", doc("ma-chan://d/r", "CHAT", "1", "2"), true},
		{"type", doc("ma-chan://d/r", "SHOUT", "1", "2"), false},
		{"uri", doc("sip:r@d", "CHAT", "1", "2"), false},
		{"id twice", doc("ma-chan://d/r", "CHAT", "1", "1"), false},
	} {
		path := filepath.Join(dir, c.name+".xml")
		if err := os.WriteFile(path, []byte(c.xml), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput()
		if (err == nil) != c.ok {
			t.Errorf("%s: valid %v, want %v\n%s", c.name, err == nil, c.ok, out)
		}
	}
}
