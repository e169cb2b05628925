package reports

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Kinds of glossary terms.
const (
	TermLatency  = "latency"  // an operation's latency histogram (µs)
	TermDelivery = "delivery" // a figure of the delivery accounting
	TermUsers    = "users"    // a user count
	TermRatio    = "ratio"    // a ratio of two figures
	TermCounter  = "counter"  // a counter (totals in summary.json, deltas per interval)
	TermFamily   = "family"   // a family of counters named by a pattern
	TermGauge    = "gauge"    // a sampled value per interval
	TermSearch   = "search"   // a field of a breakpoint search's search.json
)

// A Term is one entry of the glossary of what a run measures: every
// latency, delivery figure, user count, ratio, counter, counter family
// and gauge that a run can produce. docs/results.md and report.html are
// both written from Glossary, so they cannot drift apart.
type Term struct {
	// Name is the name in summary.json, counters.json and thresholds; a
	// family's is a pattern with <placeholders>: "sip.<code>".
	Name string
	Kind string
	// What it measures or counts.
	What string
	// When it goes up (or, for a latency, when a sample is recorded).
	When string
	// Verdict says which built-in verdict check uses it ("": none; any
	// threshold may still name every term but the gauges).
	Verdict string
}

// Glossary lists every term in report order: latencies (Ops' order),
// delivery figures, user counts, ratios, counters, counter families,
// gauges.
var Glossary = []Term{
	{Name: string(OpSignIn), Kind: TermLatency, What: "sign-in's intended time → channel INVITE answered (the whole sign-in: REGISTER, lookup, channel INVITE, joins)", When: "each user signed in"},
	{Name: string(OpSignInService), Kind: TermLatency, What: "the sign-in's actual start → channel INVITE answered", When: "each user signed in"},
	{Name: string(OpRegister), Kind: TermLatency, What: "REGISTER (and provisioning SUBSCRIBE), from its send", When: "each registration answered"},
	{Name: string(OpLookup), Kind: TermLatency, What: "the lookup flow until the channel URI is known, from its start", When: "each lookup done"},
	{Name: string(OpChannelInvite), Kind: TermLatency, What: "INVITE to the channel service → 200", When: "each channel session opened"},
	{Name: string(OpJoin), Kind: TermLatency, What: "`cmd:join`/`bjoin` → reply (a rejoin from its intended time)", When: "each join answered"},
	{Name: string(OpPostAck), Kind: TermLatency, What: "post's intended time → its INFO answered 200", When: "each post acknowledged"},
	{Name: string(OpPostAckService), Kind: TermLatency, What: "post's INFO sent → answered 200", When: "each post acknowledged"},
	{Name: string(OpPostToDelivery), Kind: TermLatency, What: "post's intended time → each delivery", When: "each delivery received of a post of this run"},
	{Name: string(OpPostToDeliveryService), Kind: TermLatency, What: "post sent → each delivery (posts of this shard)", When: "each delivery received of a post this shard sent"},
	{Name: string(OpPostToLastDelivery), Kind: TermLatency, What: "post's intended time → its last expected delivery (fan-out complete)", When: "each post whose every expected member got it (live: when it completes; in the results: recomputed by the accounting, in the interval of the post's intended time)"},
	{Name: string(OpPostToLastDeliveryService), Kind: TermLatency, What: "post sent → its last expected delivery", When: "each post whose every expected member got it (from the accounting)"},
	{Name: string(OpHistory), Kind: TermLatency, What: "`cmd:bccontext`'s intended time → reply", When: "each history fetch answered"},
	{Name: string(OpHistoryService), Kind: TermLatency, What: "`cmd:bccontext` sent → reply", When: "each history fetch answered"},
	{Name: string(OpSearch), Kind: TermLatency, What: "`cmd:chansrch`'s intended time → reply", When: "each search answered"},
	{Name: string(OpSearchService), Kind: TermLatency, What: "`cmd:chansrch` sent → reply", When: "each search answered"},
	{Name: string(OpPart), Kind: TermLatency, What: "`cmd:part`'s intended time → reply (churn)", When: "each part answered"},
	{Name: string(OpPartService), Kind: TermLatency, What: "`cmd:part` sent → reply", When: "each part answered"},
	{Name: string(OpFileUpload), Kind: TermLatency, What: "file upload's intended time → `201 Created` (`cmd:getfutok`, the HTTP upload, the file post durable and fanned out)", When: "each file upload accepted"},
	{Name: string(OpFileUploadService), Kind: TermLatency, What: "`cmd:getfutok` sent → `201 Created`", When: "each file upload accepted"},
	{Name: string(OpFilePostToDelivery), Kind: TermLatency, What: "file upload's intended time → each delivery of its file post (file posts are also in `posts`, `expected`, `received`, `lost` like messages)", When: "each delivery received of a file post of this run"},
	{Name: string(OpFileDownload), Kind: TermLatency, What: "file download's intended time → its last byte (`cmd:getfdtok`, the HTTP download; the bytes are checked against what was uploaded)", When: "each file downloaded whole and intact"},
	{Name: string(OpFileDownloadService), Kind: TermLatency, What: "`cmd:getfdtok` sent → the download's last byte", When: "each file downloaded whole and intact"},
	{Name: string(OpMessageSearch), Kind: TermLatency, What: "`cmd:msgsrch`'s intended time → reply", When: "each message search answered"},
	{Name: string(OpMessageSearchService), Kind: TermLatency, What: "`cmd:msgsrch` sent → reply", When: "each message search answered"},
	{Name: string(OpManage), Kind: TermLatency, What: "a manager's membership change's intended time → reply (`cmd:chanupd` adding a guest user to a room and taking out the previous one)", When: "each membership change answered"},
	{Name: string(OpManageService), Kind: TermLatency, What: "`cmd:chanupd` sent → reply", When: "each membership change answered"},
	{Name: string(OpSchedLag), Kind: TermLatency, What: "intended time → operation started (the generator's own lag)", When: "each operation the dispatcher started",
		Verdict: "`invalid` (exit 5) when its p99 is over 100 ms"},
	{Name: string(OpReconnect), Kind: TermLatency, What: "session lost → signed in again through another server and rejoined (scenario `reconnect:`)", When: "each lost session whose user came back"},

	{Name: "posts", Kind: TermDelivery, What: "posts sent and acknowledged", When: "each post answered 200 (also a counter, so the intervals have it)"},
	{Name: "expected", Kind: TermDelivery, What: "deliveries expected: members online from before the post until `limits.part_grace` after its 200", When: "computed once, by the accounting after the run"},
	{Name: "received", Kind: TermDelivery, What: "expected deliveries that arrived", When: "computed by the accounting"},
	{Name: "lost", Kind: TermDelivery, What: "expected deliveries that never arrived", When: "computed by the accounting",
		Verdict: "none built in (under overload it is a capacity result): gate it with a threshold such as `lost == 0`"},
	{Name: "duplicated", Kind: TermDelivery, What: "deliveries of a post a member already had", When: "computed by the accounting",
		Verdict: "`nonconformant` (exit 4), as `violations.fanout/exactly-once`"},
	{Name: "out_of_order", Kind: TermDelivery, What: "deliveries after a later post of the same sender was acknowledged", When: "computed by the accounting",
		Verdict: "`nonconformant` (exit 4), as `violations.fanout/order`"},
	{Name: "spoofed", Kind: TermDelivery, What: "deliveries whose author is not the poster", When: "computed by the accounting",
		Verdict: "`nonconformant` (exit 4), as `violations.post/no-spoofing`"},
	{Name: "extra", Kind: TermDelivery, What: "deliveries to members not expected (joining or leaving around the post)", When: "computed by the accounting"},
	{Name: "missed_offline", Kind: TermDelivery, What: "posts due to a member while it was away (its session lost, until it signed in again and rejoined) that it found in the room's history afterwards; one it found neither live nor there counts as `expected` and `lost`", When: "computed by the accounting"},

	{Name: "signed_in", Kind: TermUsers, What: "users that signed in", When: "each sign-in that completed"},
	{Name: "users_failed", Kind: TermUsers, What: "users that could not sign in (failed or dropped)", When: "each sign-in that failed or was dropped",
		Verdict: "`fail` (exit 3) when > 0; `unreachable` (exit 7) when no user signed in"},
	{Name: "peak_online", Kind: TermUsers, What: "most users online at once", When: "a new maximum of users online"},

	{Name: "lost_ratio", Kind: TermRatio, What: "lost / expected", When: "by the accounting, after the run"},
	{Name: "signed_in_ratio", Kind: TermRatio, What: "users signed in / users planned", When: "at the end of the run"},

	{Name: CounterDropped, Kind: TermCounter, What: "operations that could not start within `limits.max_lag` (the generator's lag)", When: "each planned operation dropped (also `dropped.<kind>`)",
		Verdict: "`invalid` (exit 5) when > 0: the generator, not the server, was the limit"},
	{Name: CounterTimeouts, Kind: TermCounter, What: "SIP transactions that timed out, and commands whose reply did not come within `limits.timeout`", When: "each timeout"},
	{Name: CounterLateReplies, Kind: TermCounter, What: "answers and XCCOS replies that came after the client's timeout (a late reply is a timeout, never a protocol violation)", When: "each late answer or reply"},
	{Name: CounterOutOfFiles, Kind: TermCounter, What: "connections the generator could not open for lack of file descriptors (its process's open-file limit, EMFILE, or the system's, ENFILE): the generator's limit, not the server's", When: "each connection attempt refused so (also `errors.<op>.out_of_file_descriptors`)",
		Verdict: "`invalid` (exit 5) when > 0, naming the limit: use more shards, each with fewer users"},
	{Name: CounterRetransmits, Kind: TermCounter, What: "requests re-sent (UDP)", When: "each retransmission"},
	{Name: CounterErrors, Kind: TermCounter, What: "operations that failed, for any reason (by kind: `errors` in summary.json)", When: "each failed operation (also `errors.<op>` and `errors.<op>.<cause>`)"},
	{Name: CounterSkipped, Kind: TermCounter, What: "planned operations whose user was not online, or not in the room", When: "each planned operation not attempted",
		Verdict: "`fail` (exit 3) when > 0"},
	{Name: CounterSignInFailed, Kind: TermCounter, What: "sign-ins that failed (refused, credentials that did not authenticate: `errors.register.authentication_failed`, timed out, or the target could not be reached)", When: "each failed sign-in",
		Verdict: "`fail` (exit 3) through the users that could not sign in; the run stops as `unreachable` (exit 7) when its first 10 sign-ins all fail"},
	{Name: CounterSessionsLost, Kind: TermCounter, What: "channel sessions the server ended or whose connection closed during the run", When: "each session lost before the run's end",
		Verdict: "`fail` (exit 3) when more sessions were lost than `reconnected`; the run stops when every session was lost"},
	{Name: CounterReconnected, Kind: TermCounter, What: "lost sessions whose user signed in again through another server and rejoined (scenario `reconnect:`)", When: "each user back after a lost session",
		Verdict: "a reconnected session is no failure: `sessions_lost` beyond `reconnected` fails the run"},
	{Name: CounterReconnectFailed, Kind: TermCounter, What: "lost sessions whose user could not come back within `reconnect.tries`", When: "each user that gave up coming back",
		Verdict: "`fail` (exit 3), through `sessions_lost`"},
	{Name: CounterSkippedOffline, Kind: TermCounter, What: "planned operations whose user was signing in again after a lost session", When: "each planned operation not attempted while its user was away"},
	{Name: CounterRecovered, Kind: TermCounter, What: "posts users found in history after rejoining that they had not received live", When: "each such post, after a rejoin's history fetch"},
	{Name: CounterRejectedPosts, Kind: TermCounter, What: "posts the server refused with an error reply", When: "each post refused"},
	{Name: CounterSpoofedSent, Kind: TermCounter, What: "posts sent with a forged author (`posts.spoofed`: the next member of the room), which a server must refuse or rewrite", When: "each such post sent",
		Verdict: "none by itself; a server that delivers them under the forged name shows `spoofed` > 0 and fails `post/no-spoofing`"},
	{Name: CounterDeliveries, Kind: TermCounter, What: "deliveries received in all", When: "each grpchat delivery a user receives"},
	{Name: CounterNotices, Kind: TermCounter, What: "join/part notices (`ntc`) received", When: "each notice a user receives as members join or leave its rooms"},
	{Name: CounterViolations, Kind: TermCounter, What: "protocol rule violations, all rules", When: "each message or delivery that breaks a rule (also `violations.<rule>`)",
		Verdict: "`nonconformant` (exit 4) when > 0"},
	{Name: CounterClamped, Kind: TermCounter, What: "latencies outside the histograms' range (negative, or over one hour), recorded at the bound", When: "each such sample"},
	{Name: CounterIncompleteFanouts, Kind: TermCounter, What: "posts some expected member never got", When: "computed by the accounting"},
	{Name: CounterWrongRoom, Kind: TermCounter, What: "deliveries of a post to a member of another room", When: "each such delivery"},
	{Name: CounterForeign, Kind: TermCounter, What: "deliveries of posts of another run", When: "each such delivery"},
	{Name: CounterComplianceChecked, Kind: TermCounter, What: "acknowledged posts, joins, parts and history views of the run looked for in a reference server's compliance archive (docs/compliance.md)", When: "computed once, after the drain, when a threshold names `compliance_missing` or `compliance_extra` (the cross-check reads the archive through the admin API)"},
	{Name: CounterComplianceMissing, Kind: TermCounter, What: "acknowledged posts, joins, parts and history views the compliance archive lacks", When: "computed by the compliance cross-check",
		Verdict: "`fail` (exit 3) when > 0, and when the archive could not be read"},
	{Name: CounterComplianceExtra, Kind: TermCounter, What: "compliance archive records beyond the run's events: a second record of one event, or a record of a post, join, part or history view the server refused (an unanswered one may be archived once)", When: "computed by the compliance cross-check",
		Verdict: "`fail` (exit 3) when > 0"},

	{Name: "sip.<code>", Kind: TermFamily, What: "SIP responses with that status code", When: "each response received"},
	{Name: "violations.<rule>", Kind: TermFamily, What: "violations of one rule, including `violations.fanout/exactly-once` (duplicates), `violations.fanout/order` and `violations.post/no-spoofing` from the accounting (docs/conformance.md)", When: "each violation of the rule",
		Verdict: "`nonconformant` (exit 4) when > 0"},
	{Name: "errors.<op>.<cause>", Kind: TermFamily, What: "failed operations by operation and cause (`errors.register.connection_refused`, `errors.register.authentication_failed`, `errors.post.sip_503`, `errors.history.timeout`)", When: "each failed operation"},
	{Name: "errors.<op>", Kind: TermFamily, What: "failed operations by operation (`errors.register`, `errors.post`, `errors.join.partial`)", When: "each failed operation"},
	{Name: "dropped.<kind>", Kind: TermFamily, What: "dropped operations by kind (`dropped.post`, `dropped.signin`, ...)", When: "each planned operation dropped",
		Verdict: "`invalid` (exit 5), through `dropped_sends`"},

	{Name: "users_online", Kind: TermGauge, What: "users signed in now", When: "each interval"},
	{Name: "generator_cpu_utilization", Kind: TermGauge, What: "gcload's CPU time over the interval × GOMAXPROCS (near 1: the generator is the bottleneck); only when the server runs apart", When: "each interval"},
	{Name: "server_cpu_utilization", Kind: TermGauge, What: "the server's CPU time over the interval × its cores (`--server-pid`, `--server-metrics`, or the embedded server)", When: "each interval"},
	{Name: "server_rss_bytes", Kind: TermGauge, What: "the server's resident memory", When: "each interval"},
	{Name: "server_disk_write_bytes_per_s", Kind: TermGauge, What: "bytes the server (or its host) wrote to disk per second over the interval", When: "each interval"},

	{Name: "outcome", Kind: TermSearch, What: "`found` (a rate held and a higher one did not), `not_saturated` (every rate held up to `--max-rate` or `--max-steps`), `lowest_failed` (even the first rate did not hold), `generator_limited` (the load generator could not drive a rate before the server failed one: the search stops there and the server is not blamed) or `stopped` (a run could not be judged: protocol violations, target unreachable, interrupted)", When: "at the end of the search",
		Verdict: "exit 0 `found`, 8 `not_saturated`, 3 `lowest_failed`, 5 `generator_limited`; `stopped`: the stopping run's own code (4, 6, 7)"},
	{Name: "max_held_rate", Kind: TermSearch, What: "the highest offered post rate that held (achieved ≥ 97% of offered, every threshold and health check passed) below the first that did not", When: "at the end of the search"},
	{Name: "max_held_achieved", Kind: TermSearch, What: "the achieved post rate of that run (achieved ÷ offered over its posting window, times the rate asked for)", When: "at the end of the search"},
	{Name: "first_failed_rate", Kind: TermSearch, What: "the lowest offered post rate that did not hold (0: none failed)", When: "at the end of the search"},
	{Name: "knee_rate", Kind: TermSearch, What: "the estimated rate of the knee (`capacity.DetectKnee`): where achieved stops following offered, or where the latency crosses its bound; the highest rate that held when a threshold failed", When: "at the end of the search, when a rate failed"},
	{Name: "saturation_throughput", Kind: TermSearch, What: "the highest achieved post rate, when the throughput stopped following the offered rate (0 otherwise)", When: "at the end of the search"},
	{Name: "causes", Kind: TermSearch, What: "why the first failing rate did not hold: `throughput`, `latency`, `threshold` (a threshold or health check of the scenario failed)", When: "at the end of the search"},
	{Name: "resource", Kind: TermSearch, What: "the server's resource that ran out at the first failing rate: the most used measured resource (`cpu`: CPU time ÷ wall ÷ the server's cores or `--server-cpus` allotment) when at least 85% of it was used, or `cpu` when a cgroup-limited server was throttled in 85% of its periods; empty when none measured was at its limit or the server was not measured apart from the generator", When: "at the end of the search, when a rate failed"},
	{Name: "resource_utilization", Kind: TermSearch, What: "the utilisation of that resource at the first failing rate (0 to 1), or of the most used one when none was at its limit", When: "at the end of the search"},
	{Name: "generator_limit_rate", Kind: TermSearch, What: "the rate the load generator could not drive (its run invalid: generator CPU, scheduling lag, dropped operations), 0 when it drove every rate", When: "a step's run was invalid"},
	{Name: "stopped", Kind: TermSearch, What: "why the search ended: bracketed within `--resolution`, the step or rate limit, the generator's limit, a run that could not be judged", When: "at the end of the search"},
	{Name: "steps", Kind: TermSearch, What: "every run, in order: `point` (`offered`, `achieved`, `latency_us` p99 post → last delivery, `generator_invalid`, `threshold_failed`), `verdict`, `reasons`, `utilization` by resource, `cpu_throttled_periods` (share of CFS periods the limited server was throttled in), `stop`, `dir` (its results folder)", When: "each run of the search"},
	{Name: "knee", Kind: TermSearch, What: "`capacity.DetectKnee` over the valid runs: `saturated`, `max_held`, `first_failed`, `rate`, `verdicts`, `sentence`", When: "at the end of the search"},
	{Name: "sentence", Kind: TermSearch, What: "the result in a sentence, as the console prints it", When: "at the end of the search"},
	{Name: "base_rate", Kind: TermSearch, What: "the scenario's own post rate (its highest phase's); each step scales every phase's post rate by rate ÷ base_rate", When: "at the start"},
	{Name: "server_cpus", Kind: TermSearch, What: "`--server-cpus`: the cores the reference server was limited to by the cgroup cpu controller (0: not limited by gcload)", When: "at the start"},
	{Name: "settings", Kind: TermSearch, What: "the search's settings: `start`, `factor` (×2), `resolution`, `max_rate`, `max_steps`", When: "at the start"},
	{Name: "criteria", Kind: TermSearch, What: "the knee criteria: `follow_ratio` (0: 97%), `latency_bound_us`, `latency_growth`", When: "at the start"},
	{Name: "scenario", Kind: TermSearch, What: "the scenario's name", When: "at the start"},
	{Name: "exit_code", Kind: TermSearch, What: "the search's exit code (see `outcome`)", When: "at the end of the search"},
}

// families holds the matcher of each family in Glossary, in order.
var families = func() []struct {
	re   *regexp.Regexp
	term int
} {
	var out []struct {
		re   *regexp.Regexp
		term int
	}
	placeholder := regexp.MustCompile(`<[a-z]+>`)
	for i, t := range Glossary {
		if t.Kind != TermFamily {
			continue
		}
		parts := placeholder.Split(t.Name, -1)
		var b strings.Builder
		b.WriteString("^")
		for j, p := range parts {
			b.WriteString(regexp.QuoteMeta(p))
			switch {
			case j == len(parts)-1:
			case j == len(parts)-2:
				b.WriteString(".+") // the last part may hold dots
			default:
				b.WriteString("[^.]+")
			}
		}
		b.WriteString("$")
		out = append(out, struct {
			re   *regexp.Regexp
			term int
		}{regexp.MustCompile(b.String()), i})
	}
	return out
}()

// Describe returns the glossary term of a name as a run writes it: the
// term itself, or the family it belongs to ("sip.503" → "sip.<code>").
func Describe(name string) (Term, bool) {
	for _, t := range Glossary {
		if t.Name == name && t.Kind != TermFamily {
			return t, true
		}
	}
	for _, f := range families {
		if f.re.MatchString(name) {
			return Glossary[f.term], true
		}
	}
	return Term{}, false
}

// glossarySections are the groups the glossary is shown in.
var glossarySections = []struct {
	kinds             []string
	title, what, when string
	intro             string
}{
	{[]string{TermLatency}, "Latencies", "from → to", "recorded",
		"Latencies (µs; a threshold names one with a statistic: `count`, `rate`, `min`, `mean`, `p50`, `p90`, `p99`, `p99.9`, `p99.99`, `max`):"},
	{[]string{TermDelivery, TermUsers}, "Delivery figures and user counts", "counts", "goes up",
		"Delivery figures and user counts (counts; `.count` or `.rate` allowed):"},
	{[]string{TermRatio}, "Ratios", "is", "computed",
		"Ratios (no statistic; `%` allowed):"},
	{[]string{TermCounter, TermFamily}, "Counters", "counts", "goes up",
		"Counters (`.count` or `.rate` allowed; a counter never incremented is 0; totals in summary.json, increments per interval in counters.json):"},
	{[]string{TermGauge}, "Gauges", "is", "sampled",
		"Gauges (the last value sampled in each interval, in counters.json and the streams; not threshold metrics):"},
	{[]string{TermSearch}, "Breakpoint search", "is", "set",
		"The breakpoint search's result (`gcload run --find-max`: `search.json` in its results folder, beside one results folder per step, `step-NN/`; rates are posts/s; not threshold metrics):"},
}

// GlossaryMarkdown renders Glossary as the Markdown tables of
// docs/results.md: one table per kind of term, each with what it counts,
// when it goes up and the verdict check that uses it.
func GlossaryMarkdown() string {
	var b strings.Builder
	for i, sec := range glossarySections {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n\n| metric | %s | %s | in the verdict |\n|---|---|---|---|\n", sec.intro, sec.what, sec.when)
		for _, t := range Glossary {
			if !slices.Contains(sec.kinds, t.Kind) {
				continue
			}
			v := t.Verdict
			if v == "" {
				v = "–"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", t.Name, mdCell(t.What), mdCell(t.When), mdCell(v))
		}
	}
	return b.String()
}

// GlossarySection is one group of terms as report.html shows them.
type GlossarySection struct {
	Title string
	// What and When are the headings of the columns of Term.What and
	// Term.When.
	What, When string
	Terms      []Term
}

// GlossarySections returns the terms of a run's results in the groups
// GlossaryMarkdown uses (not the breakpoint search's, which no run has).
func GlossarySections() []GlossarySection {
	var out []GlossarySection
	for _, sec := range glossarySections {
		if slices.Contains(sec.kinds, TermSearch) {
			continue
		}
		g := GlossarySection{Title: sec.title, What: sec.what, When: sec.when}
		for _, t := range Glossary {
			if slices.Contains(sec.kinds, t.Kind) {
				g.Terms = append(g.Terms, t)
			}
		}
		out = append(out, g)
	}
	return out
}

// mdCell escapes what would break a Markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
