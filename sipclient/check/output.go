package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes a human-readable report: one line per rule, then each
// failure with the offending message.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range r.Results {
		note := ""
		switch x.Status {
		case Fail:
			note = plural(len(x.Failures), "failure")
		case Skip:
			note = x.Skipped
		default:
			note = plural(x.Checks, "check")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(x.Status)), x.ID, x.Ref, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Results {
		if x.Status != Fail {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s (%s)\n", x.ID, x.Title, x.Ref)
		for _, f := range x.Failures {
			fmt.Fprintf(w, "  - %s\n", f.Detail)
			if f.Message != "" {
				fmt.Fprintf(w, "    --- offending message ---\n%s\n", indent(f.Message, "    "))
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%d rules: %d passed, %d failed, %d skipped (%.1f s against %s)\n",
		len(r.Results), r.Counts[Pass], r.Counts[Fail], r.Counts[Skip], r.Seconds, r.Target.Server())
	return err
}

func indent(s, pre string) string {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// JUnit XML, the shape CI systems read (Jenkins, GitLab, GitHub actions):
// one testsuite, one testcase per rule, <failure> or <skipped> inside.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes the report as JUnit XML: one test case per rule,
// named by its ID, with class gcload.conform.<area> (the part of the ID
// before the slash).
func (r *Report) WriteJUnit(w io.Writer) error {
	secs := fmt.Sprintf("%.3f", r.Seconds)
	s := junitSuite{Name: "gcload conform " + r.Target.Server(), Tests: len(r.Results), Failures: r.Counts[Fail], Skipped: r.Counts[Skip], Time: secs, Timestamp: r.Start.UTC().Format("2006-01-02T15:04:05")}
	for _, x := range r.Results {
		area, _, _ := strings.Cut(x.ID, "/")
		c := junitCase{Name: x.ID, Classname: "gcload.conform." + area, Time: "0", SystemOut: x.Title + " (" + x.Ref + ")"}
		switch x.Status {
		case Fail:
			var b strings.Builder
			for _, f := range x.Failures {
				b.WriteString(f.Detail + "\n")
				if f.Message != "" {
					b.WriteString("--- offending message ---\n" + f.Message + "\n")
				}
			}
			c.Failure = &junitFailure{Message: x.Failures[0].Detail, Type: x.ID, Text: b.String()}
		case Skip:
			c.Skipped = &junitSkipped{Message: x.Skipped}
		}
		s.Cases = append(s.Cases, c)
	}
	doc := junitSuites{Name: "gcload conform", Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Time: secs, Suites: []junitSuite{s}}
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

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
