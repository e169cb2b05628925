package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/sipnet/locate/locatetest"
	"golang.org/x/net/dns/dnsmessage"
)

// TestCertAndServeTLSNTLM: gcload cert writes a CA and certificates;
// gcload serve takes them for SIP over TLS with NTLM sign-in and accounts;
// an unauthenticated REGISTER over TLS is answered 401 with MS-SIPAE's
// NTLM challenge.
func TestCertAndServeTLSNTLM(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: []string{"cert", "--out", dir, "--host", "127.0.0.1", "--client-name", "fe1.example.com"}}
	if code := Main(env); code != 0 {
		t.Fatalf("gcload cert: exit %d: %s", code, out.String())
	}
	for _, f := range []string{"ca.pem", "server.pem", "client.pem"} {
		if !strings.Contains(out.String(), filepath.Join(dir, f)) {
			t.Errorf("cert does not name %s: %s", f, out.String())
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "server-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server key: %v %v", st, err)
	}
	line, _, stop := serveFor(t, nil, "--db", filepath.Join(dir, "gc.db"), "--tls-listen", "127.0.0.1:0",
		"--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server-key.pem"), "--client-ca", filepath.Join(dir, "ca.pem"),
		"--auth", "ntlm", "--accounts", filepath.Join("..", "..", "..", "..", "examples", "accounts.csv"))
	defer stop()
	m := regexp.MustCompile(`, SIP over TLS on (127\.0\.0\.1:\d+) \(trunks by client certificate\), sign-in ntlm \(100 accounts, targetname gc\.example\.com\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve: %q", line)
	}
	cfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{CAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	ep := sipnet.NewEndpoint(sipnet.Options{})
	defer ep.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ep.DialTLS(ctx, m[1], cfg)
	if err != nil {
		t.Fatal(err)
	}
	var u sip.Uri
	_ = sip.ParseUri("sip:user1@example.com", &u)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.com"})
	from := &sip.FromHeader{Address: u, Params: sip.NewParams()}
	from.Params.Add("tag", "t1")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: u, Params: sip.NewParams()})
	cid := sip.CallIDHeader("reg-1")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.REGISTER})
	res, err := ep.Do(ctx, c, req)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
	if res.StatusCode != 401 || err != nil {
		t.Fatalf("unauthenticated REGISTER over TLS: %d %v", res.StatusCode, err)
	}
	if v, _ := offer.Get("targetname"); v != "gc.example.com" {
		t.Fatalf("offer %s", offer)
	}
}

// TestServeAuthBadInput: sign-in and TLS flags that cannot work are bad
// input, named.
func TestServeAuthBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth", "kerberos"}, `--auth: auth "kerberos": want none, digest or ntlm`},
		{[]string{"--auth", "ntlm"}, "--auth ntlm: nobody could sign in"},
		{[]string{"--auth", "digest", "--accounts", "/nonexistent/accounts.csv"}, "--accounts:"},
		{[]string{"--tls-listen", "127.0.0.1:0"}, "--tls-listen needs --cert and --key"},
		{[]string{"--cert", "x.pem"}, "--cert, --key and --client-ca are for --tls-listen"},
	} {
		var out bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: append([]string{"serve", "--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "gc.db")}, c.args...)}
		if code := Main(env); code != reports.ExitBadInput || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, out.String(), reports.ExitBadInput, c.want)
		}
	}
}

// TestRunTLSNTLMAccounts: gcload run against gcload serve over TLS with
// NTLM sign-in and an accounts file: the run passes (every message
// signed both ways, no violation); with a wrong password every sign-in
// fails with "authentication failed" in the error summary and the run
// exits non-zero.
func TestRunTLSNTLMAccounts(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := Main(&Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: []string{"cert", "--out", dir, "--host", "127.0.0.1"}}); code != 0 {
		t.Fatalf("gcload cert: %s", out.String())
	}
	accountsFile := filepath.Join("..", "..", "..", "..", "examples", "accounts.csv")
	line, _, stop := serveFor(t, nil, "--db", filepath.Join(dir, "gc.db"), "--admin", "127.0.0.1:0", "--admin-token", "test-token-0123456789",
		"--tls-listen", "127.0.0.1:0", "--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server-key.pem"),
		"--auth", "ntlm", "--accounts", accountsFile)
	defer stop()
	m := regexp.MustCompile(`lookup (\S+), .*admin API ([^\s,]+).*, SIP over TLS on (127\.0\.0\.1:\d+), sign-in ntlm`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve: %q", line)
	}
	base := []string{"run", "smoke", "--target", m[1], "--server", "tls://" + m[3], "--ca", filepath.Join(dir, "ca.pem")}
	res := filepath.Join(t.TempDir(), "ok")
	run := gcload(t, nil, append(append(base, "--admin", m[2], "--admin-token", "test-token-0123456789", "--accounts", accountsFile, "--out", res), quick...)...)
	// a busy machine may make the run invalid (the generator late) or
	// miss a latency threshold; the sign-in and the signing must hold
	if !acceptable(run.code) {
		t.Fatalf("run over TLS with NTLM: exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	s := readSummary(t, res)
	if s.Counters["sip.401"] != 2*int64(s.Users.SignedIn) || s.Users.SignedIn != 12 || s.Counters[reports.CounterViolations] != 0 ||
		s.Counters[reports.CounterSignInFailed] != 0 || s.Delivery.Lost != 0 || s.Delivery.Received == 0 {
		t.Fatalf("exit %d: users %+v, 401s %d (want two per sign-in), violations %d, signin_failed %d, delivery %+v\n%s", run.code, s.Users,
			s.Counters["sip.401"], s.Counters[reports.CounterViolations], s.Counters[reports.CounterSignInFailed], s.Delivery, run.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	run = gcload(t, nil, append(append(base, "--password", "wrong{i}", "--out", bad), quick...)...)
	if run.code != reports.ExitUnreachable || strings.Contains(run.stdout, "target unreachable") ||
		!strings.Contains(run.stdout, "no work done: the first") || !strings.Contains(run.stdout, "the server refuses the credentials") {
		t.Fatalf("wrong password: exit %d, want %d for a run that did no work because the server refused the credentials, not an unreachable target\n%s", run.code, reports.ExitUnreachable, run.stdout)
	}
	s = readSummary(t, bad)
	if s.Users.SignedIn != 0 || s.Counters[reports.CounterSignInFailed] == 0 || len(s.Errors) == 0 ||
		s.Errors[0].Cause != "authentication failed" || !strings.Contains(s.Errors[0].First, "authentication failed (401 Unauthorized") {
		t.Fatalf("users %+v, signin_failed %d, errors %+v", s.Users, s.Counters[reports.CounterSignInFailed], s.Errors)
	}
	if !strings.Contains(run.stdout, "authentication failed (401") {
		t.Fatalf("the summary does not show the reason:\n%s", run.stdout)
	}
}

// TestRunSpoofedPosts: posts.spoofed sends a share of posts with a
// forged author; the reference server refuses them (rejected, nothing
// spoofed delivered), and with accept-spoofed-author the run shows
// spoofed deliveries and fails post/no-spoofing.
func TestRunSpoofedPosts(t *testing.T) {
	spoof := []string{"--set", "phases.steady.posts.spoofed=0.5", "--set", "phases.steady.posts.rate=10/s"}
	run, out := runAgainstServe(t, nil, spoof...)
	s := readSummary(t, out)
	sent := s.Counters[reports.CounterSpoofedSent]
	if sent == 0 || s.Counters[reports.CounterRejectedPosts] != sent || s.Delivery.Spoofed != 0 {
		t.Fatalf("correct server: exit %d, spoofed sent %d, rejected %d, spoofed deliveries %d\n%s", run.code, sent, s.Counters[reports.CounterRejectedPosts], s.Delivery.Spoofed, run.stdout)
	}
	run, out = runAgainstMisbehaving(t, "accept-spoofed-author", spoof...)
	s = readSummary(t, out)
	if run.code != reports.ExitConformance || s.Delivery.Spoofed == 0 || s.Counters["violations.post/no-spoofing"] == 0 {
		t.Fatalf("accept-spoofed-author: exit %d, spoofed %d\n%s", run.code, s.Delivery.Spoofed, run.stdout)
	}
}

// TestRunFindsServerInDNS: with a lookup URI and no --server, gcload run
// finds the Front End as a Lync client does, through DNS SRV
// (_sipinternaltls._tcp.DOMAIN, then the host's A record) asked of --dns
// (an in-process DNS server on loopback), connects over TLS verifying
// the certificate for the host name the SRV record names, signs in with
// NTLM and passes.
func TestRunFindsServerInDNS(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := Main(&Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: []string{"cert", "--out", dir, "--host", "fe1.example.com"}}); code != 0 {
		t.Fatalf("gcload cert: %s", out.String())
	}
	line, _, stop := serveFor(t, nil, "--db", filepath.Join(dir, "gc.db"), "--admin", "127.0.0.1:0", "--admin-token", "test-token-0123456789",
		"--tls-listen", "127.0.0.1:0", "--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server-key.pem"), "--auth", "ntlm")
	defer stop()
	m := regexp.MustCompile(`admin API ([^\s,]+).*, SIP over TLS on 127\.0\.0\.1:(\d+), sign-in ntlm`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve: %q", line)
	}
	port, _ := strconv.Atoi(m[2])
	dns := locatetest.Start(t, locatetest.Zone{
		SRV: map[string][]dnsmessage.SRVResource{"_sipinternaltls._tcp.example.com.": {locatetest.SRVRecord(0, 0, uint16(port), "fe1.example.com.")}},
		A:   map[string][4]byte{"fe1.example.com.": {127, 0, 0, 1}},
	})
	res := filepath.Join(t.TempDir(), "res")
	run := gcload(t, nil, append([]string{"run", "smoke", "--target", "sip:ocschat@example.com", "--dns", dns.Addr(), "--ca", filepath.Join(dir, "ca.pem"),
		"--admin", m[1], "--admin-token", "test-token-0123456789", "--password", "pass{i}", "--out", res}, quick...)...)
	if run.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	s := readSummary(t, res)
	if !strings.Contains(s.Target, "tls://127.0.0.1:"+m[2]) || !strings.Contains(s.Target, "found in DNS") || s.Users.SignedIn != 12 {
		t.Fatalf("target %q, users %+v", s.Target, s.Users)
	}
	if q := strings.Join(dns.Queries(), ","); !strings.Contains(q, "SRV _sipinternaltls._tcp.example.com.") || !strings.Contains(q, "A fe1.example.com.") {
		t.Fatalf("queries %s", q)
	}
}

// TestRunTrunk: shared connections presenting a client certificate are a
// Front End's trunk over mutual TLS: gcload serve (--client-ca) trusts
// the users they carry without a challenge, and the run passes.
func TestRunTrunk(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := Main(&Env{Stdout: &out, Stderr: &out, Now: time.Now, Args: []string{"cert", "--out", dir, "--host", "127.0.0.1", "--client-name", "fe1.example.com"}}); code != 0 {
		t.Fatalf("gcload cert: %s", out.String())
	}
	line, _, stop := serveFor(t, nil, "--db", filepath.Join(dir, "gc.db"), "--admin", "127.0.0.1:0", "--admin-token", "test-token-0123456789",
		"--tls-listen", "127.0.0.1:0", "--cert", filepath.Join(dir, "server.pem"), "--key", filepath.Join(dir, "server-key.pem"),
		"--client-ca", filepath.Join(dir, "ca.pem"), "--auth", "ntlm")
	defer stop()
	m := regexp.MustCompile(`lookup (\S+), .*admin API ([^\s,]+).*, SIP over TLS on (127\.0\.0\.1:\d+) \(trunks by client certificate\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve: %q", line)
	}
	res := filepath.Join(t.TempDir(), "res")
	run := gcload(t, nil, append([]string{"run", "smoke", "--target", m[1], "--server", "tls://" + m[3], "--ca", filepath.Join(dir, "ca.pem"),
		"--client-cert", filepath.Join(dir, "client.pem"), "--client-key", filepath.Join(dir, "client-key.pem"),
		"--admin", m[2], "--admin-token", "test-token-0123456789", "--out", res,
		"--set", "connections.model=shared", "--set", "connections.shared=2"}, quick...)...)
	if run.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	s := readSummary(t, res)
	if s.Users.SignedIn != 12 || s.Counters["sip.401"] != 0 {
		t.Fatalf("users %+v, 401s %d (a trunk's users are not challenged)", s.Users, s.Counters["sip.401"])
	}
}
