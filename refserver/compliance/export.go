// Package compliance exports the reference server's compliance archive
// (store.Archive) in the XML shape of the Lync Server 2013 Persistent Chat
// compliance service's default adapter: Conversations/Conversation, one
// per room, with the room's ma-chan:// URI in Channel, then
// Messages/Message of type JOIN, PART, CHAT, BACKCHAT, FILEUPLOAD or
// FILEDOWNLOAD, each with its Sender and DateTimeUTC (docs/compliance.md;
// the schema is compliance.xsd in this folder).
//
// An export without a time range resumes where the exporter of that name
// stopped (a cursor kept in the database): it writes the records after the
// cursor, then moves the cursor. Files are named by the cursor they start
// from, and the cursor moves only once they are written and synced, so an
// export that crashed in between is redone into the same files: no record
// is exported twice in two files, none is skipped.
package compliance

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/xccos"
)

// Schema is the XSD the exported files validate against.
//
//go:embed compliance.xsd
var Schema []byte

// DefaultName is the name of the exporter whose cursor an export without
// Options.Name moves.
const DefaultName = "default"

// DefaultMaxRecords bounds the records of one export (one file, or one
// file per room): an export that stops there leaves the rest to the next.
const DefaultMaxRecords = 100_000

// Options of an export.
type Options struct {
	// Dir is the folder the files are written to (created if missing).
	Dir string
	// Domain makes the rooms' ma-chan:// URIs.
	Domain string
	// Name names the exporter whose cursor is resumed and moved
	// (DefaultName when empty).
	Name string
	// PerRoom writes one file per room instead of one per export.
	PerRoom bool
	// Since and Until, when either is set, export the records of that
	// time range (Since <= time < Until) without using or moving the
	// cursor.
	Since, Until time.Time
	// MaxRecords bounds one export (DefaultMaxRecords when 0).
	MaxRecords int
}

// Result says what an export wrote.
type Result struct {
	Files   []string
	Records int
	// From and To are the cursor before and after the export.
	From, To store.Cursor
	// More: the export stopped at MaxRecords; the rest is for the next.
	More bool
}

// Export writes the archive's records after the named exporter's cursor
// (or in the time range) to XML files in o.Dir, then moves the cursor.
// With no new record it writes nothing.
func Export(ctx context.Context, a store.Archive, rooms map[string]string, o Options) (Result, error) {
	if o.Dir == "" {
		return Result{}, errors.New("compliance: no output folder")
	}
	if o.Domain == "" {
		return Result{}, errors.New("compliance: no domain for the rooms' ma-chan:// URIs")
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	ranged := !o.Since.IsZero() || !o.Until.IsZero()
	if ranged && !o.Until.IsZero() && !o.Since.Before(o.Until) {
		return Result{}, fmt.Errorf("compliance: since %s is not before until %s", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}
	var res Result
	if !ranged {
		c, err := a.ExportCursor(ctx, o.Name)
		if err != nil {
			return res, fmt.Errorf("compliance: %w", err)
		}
		res.From = c
	}
	res.To = res.From
	var records []store.Event
	for len(records) < o.MaxRecords {
		page, next, err := a.ReadArchive(ctx, store.ArchiveQuery{After: res.To, Since: o.Since, Until: o.Until, Limit: min(store.MaxArchiveRead, o.MaxRecords-len(records))})
		if err != nil {
			return res, fmt.Errorf("compliance: %w", err)
		}
		if len(page) == 0 {
			break
		}
		records = append(records, page...)
		res.To = next
	}
	res.More = len(records) >= o.MaxRecords
	res.Records = len(records)
	if len(records) == 0 {
		return res, nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, fmt.Errorf("compliance: %w", err)
	}
	base := "compliance-" + strings.ReplaceAll(res.From.String(), ".", "-")
	if ranged {
		base = "compliance-" + stamp(o.Since) + "-" + stamp(o.Until)
	}
	byRoom := map[string][]store.Event{}
	var order []string
	for _, e := range records {
		if _, ok := byRoom[e.RoomID]; !ok {
			order = append(order, e.RoomID)
		}
		byRoom[e.RoomID] = append(byRoom[e.RoomID], e)
	}
	slices.Sort(order)
	write := func(name string, ids []string) error {
		path := filepath.Join(o.Dir, name)
		if err := writeFile(path, func(w io.Writer) error { return Write(w, o.Domain, rooms, ids, byRoom) }); err != nil {
			return fmt.Errorf("compliance: %w", err)
		}
		res.Files = append(res.Files, path)
		return nil
	}
	if o.PerRoom {
		for _, id := range order {
			if err := write(base+"-"+id+".xml", []string{id}); err != nil {
				return res, err
			}
		}
	} else if err := write(base+".xml", order); err != nil {
		return res, err
	}
	if err := syncDir(o.Dir); err != nil {
		return res, fmt.Errorf("compliance: %w", err)
	}
	if !ranged {
		if err := a.SetExportCursor(ctx, o.Name, res.To); err != nil {
			return res, fmt.Errorf("compliance: %w", err)
		}
	}
	return res, nil
}

// Run exports every interval until ctx ends (and once at once); an export
// that stopped at MaxRecords is followed by the next at once. Errors are
// logged and tried again at the next interval.
func Run(ctx context.Context, a store.Archive, rooms func() map[string]string, o Options, every time.Duration, log *slog.Logger) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := Export(ctx, a, rooms(), o)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("compliance export", "err", err)
		case res.Records > 0:
			log.Info("compliance export", "records", res.Records, "files", len(res.Files), "cursor", res.To.String())
		}
		if err == nil && res.More {
			t.Reset(0)
		} else {
			t.Reset(every)
		}
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "any"
	}
	return t.UTC().Format("20060102T150405Z")
}

// writeFile writes path through a temporary file, synced before it is
// renamed over path.
func writeFile(path string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".compliance-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 64<<10)
	if err = fill(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// The XML shape.
type (
	xConversations struct {
		XMLName       xml.Name        `xml:"Conversations"`
		XSI           string          `xml:"xmlns:xsi,attr"`
		XSD           string          `xml:"xmlns:xsd,attr"`
		Conversations []xConversation `xml:"Conversation"`
	}
	xConversation struct {
		Channel      xChannel   `xml:"Channel"`
		FirstMessage xMessage   `xml:"FirstMessage"`
		Messages     []xMessage `xml:"Messages>Message"`
		StartTimeUTC xTime      `xml:"StartTimeUTC"`
		EndTimeUTC   xTime      `xml:"EndTimeUTC"`
	}
	xChannel struct {
		URI      string `xml:"uri,attr"`
		Name     string `xml:"name,attr"`
		IsLogged string `xml:"islogged,attr"`
	}
	xMessage struct {
		Type    string  `xml:"type,attr"`
		Content string  `xml:"content,attr"`
		ID      int64   `xml:"id,attr"`
		Sender  xSender `xml:"Sender"`
		Time    xTime   `xml:"DateTimeUTC"`
	}
	xSender struct {
		UserName string `xml:"UserName,attr"`
		Email    string `xml:"email,attr"`
		Internal string `xml:"internal,attr"`
		URI      string `xml:"uri,attr"`
	}
	xTime struct {
		Since1970 int64  `xml:"since1970,attr"`
		String    string `xml:"string,attr"`
		Long      int64  `xml:"long,attr"`
	}
)

// ticksAt1970 is 1970-01-01 in .NET ticks (100 ns since 0001-01-01), the
// unit of DateTimeUTC's long attribute.
const ticksAt1970 = 621_355_968_000_000_000

func timeOf(t time.Time) xTime {
	t = t.UTC()
	return xTime{Since1970: t.UnixMilli(), String: t.Format("2006-01-02T15:04:05.0000000Z"), Long: ticksAt1970 + t.UnixNano()/100}
}

func messageOf(e store.Event) xMessage {
	uri := strings.TrimPrefix(e.User, "sip:")
	name, _, _ := strings.Cut(uri, "@")
	content := ""
	switch e.Kind {
	case store.EventChat:
		content = e.Text
	case store.EventFileUpload, store.EventFileDownload:
		content = e.Detail
	}
	return xMessage{Type: string(e.Kind), Content: xccos.SanitizeText(content), ID: e.Cursor.ID,
		Sender: xSender{UserName: xccos.SanitizeText(name), Email: xccos.SanitizeText(uri), Internal: "true", URI: xccos.SanitizeText(uri)},
		Time:   timeOf(e.TS)}
}

// Write writes the records of the rooms ids (from byRoom), one
// Conversation per room in that order; names gives the rooms' names (the
// room's id when missing).
func Write(w io.Writer, domain string, names map[string]string, ids []string, byRoom map[string][]store.Event) error {
	doc := xConversations{XSI: "http://www.w3.org/2001/XMLSchema-instance", XSD: "http://www.w3.org/2001/XMLSchema"}
	for _, id := range ids {
		evs := byRoom[id]
		if len(evs) == 0 {
			continue
		}
		name := names[id]
		if name == "" {
			name = id
		}
		c := xConversation{Channel: xChannel{URI: xccos.ChanURI(domain, id), Name: xccos.SanitizeText(name), IsLogged: "true"}}
		for _, e := range evs {
			c.Messages = append(c.Messages, messageOf(e))
		}
		c.FirstMessage = c.Messages[0]
		first, last := evs[0].TS, evs[0].TS
		for _, e := range evs {
			if e.TS.Before(first) {
				first = e.TS
			}
			if e.TS.After(last) {
				last = e.TS
			}
		}
		c.StartTimeUTC, c.EndTimeUTC = timeOf(first), timeOf(last)
		doc.Conversations = append(doc.Conversations, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
