package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/compliance"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/spf13/cobra"
)

// ComplianceOptions are the flags of gcload compliance export.
type ComplianceOptions struct {
	DB, Out, Domain, Name string
	Since, Until          string
	PerRoom               bool
	MaxRecords            int
}

// NewCmdCompliance builds `gcload compliance` and its export command.
func NewCmdCompliance(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compliance",
		Short: "Export the reference server's compliance archive",
		Args:  cobra.NoArgs,
	}
	o := &ComplianceOptions{}
	exp := &cobra.Command{
		Use:   "export",
		Short: "Write the compliance archive's records as XML files",
		Long: `Write the records of the reference server's compliance archive (every join,
part, post, history view, file upload and download, docs/compliance.md) as XML
files in the shape of the Lync Server 2013 Persistent Chat compliance service:
Conversations/Conversation per room (Channel uri="ma-chan://DOMAIN/ROOM"), then
Messages/Message of type JOIN, PART, CHAT, BACKCHAT, FILEUPLOAD or FILEDOWNLOAD
with its Sender and DateTimeUTC. The schema is refserver/compliance/compliance.xsd.

Without --since and --until, the export resumes where the last export of the
exporter --name stopped (its cursor is kept in the database) and then moves the
cursor: run it again and it writes only what came since, with no record twice
and none skipped, even after a crash between writing and moving the cursor (the
same file is written again). One file per run (compliance-CURSOR.xml), or one
per room with --per-room. With --since or --until it writes the records of that
time range (RFC 3339) and leaves the cursor alone.

gcload serve --compliance-dir exports the same way on an interval.`,
		Example: `  gcload compliance export --db gcload.db --out archive/
  gcload compliance export --db postgres://gcload@db/gcload --out archive/ --per-room
  gcload compliance export --db gcload.db --out audit/ --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runComplianceExport(cmd.Context(), env, o) },
	}
	f := exp.Flags()
	f.StringVar(&o.DB, "db", "gcload.db", "the server's database: an SQLite file, or a postgres:// URL")
	f.StringVar(&o.Out, "out", "", "folder to write the XML files to (created if missing; required)")
	f.StringVar(&o.Domain, "domain", refserver.DefaultDomain, "the server's SIP domain (the rooms' ma-chan:// URIs)")
	f.StringVar(&o.Name, "name", compliance.DefaultName, "the exporter whose cursor is resumed and moved (one per archiving system)")
	f.StringVar(&o.Since, "since", "", "export the records from this time on (RFC 3339), without using the cursor")
	f.StringVar(&o.Until, "until", "", "export the records before this time (RFC 3339), without using the cursor")
	f.BoolVar(&o.PerRoom, "per-room", false, "one file per room instead of one per run")
	f.IntVar(&o.MaxRecords, "max-records", 0, fmt.Sprintf("records of one run at most; the command runs again until all are written (0: %d)", compliance.DefaultMaxRecords))
	cmd.AddCommand(exp)
	return cmd
}

func runComplianceExport(ctx context.Context, env *Env, o *ComplianceOptions) error {
	if o.Out == "" {
		return badInput(errors.New("--out: give the folder to write the files to"))
	}
	opts := compliance.Options{Dir: o.Out, Domain: o.Domain, Name: o.Name, PerRoom: o.PerRoom, MaxRecords: o.MaxRecords}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--since", o.Since, &opts.Since}, {"--until", o.Until, &opts.Until}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return badInput(fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-12-01T00:00:00Z", t.flag, t.v))
		}
		*t.dst = v
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return badInput(fmt.Errorf("--since %s is not before --until %s", o.Since, o.Until))
	}
	st, err := openArchive(ctx, o.DB)
	if err != nil {
		return badInput(err)
	}
	defer st.Close()
	rooms, err := st.Rooms(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, r := range rooms {
		names[r.ID] = r.Name
	}
	total, files := 0, 0
	for {
		res, err := compliance.Export(ctx, st, names, opts)
		if err != nil {
			return err
		}
		total, files = total+res.Records, files+len(res.Files)
		for _, f := range res.Files {
			fmt.Fprintln(env.Stdout, f)
		}
		if !res.More || (!opts.Since.IsZero() || !opts.Until.IsZero()) {
			if res.More {
				fmt.Fprintf(env.Stderr, "gcload compliance export: the range holds more than %d records: only the first were written; narrow it or raise --max-records\n", res.Records)
			}
			fmt.Fprintf(env.Stdout, "gcload compliance export: %d records in %d files, cursor %s\n", total, files, res.To)
			return nil
		}
	}
}

// openArchive opens an existing database: a missing SQLite file is an
// error, not a new empty archive.
func openArchive(ctx context.Context, db string) (store.Store, error) {
	if postgres.IsURL(db) {
		return postgres.Open(ctx, db)
	}
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--db %s: no such database file", db)
	}
	return sqlite.Open(db)
}
