package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/gcload/gcload/reports"
)

// fds counts the open file descriptors of a process (0 once it is gone).
func fds(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

// rss is a process's resident memory in bytes (VmRSS).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sockMem is the kernel's memory for the TCP sockets of the run: the
// buffers each socket holds as ss -tm reports them (skmem: the receive
// queue r, the write queue w, the forward allocation f, options o and the
// backlog bl), by side: the servers' sockets (local port a server's) and
// the clients' (remote port a server's); and /proc/net/sockstat's TCP
// "mem" (pages of socket buffers, every TCP socket of the machine).
type sockMem struct {
	Measured                bool
	ServerSocks, ClientSock int
	ServerBytes, ClientByte int64
	SockstatPages           int64
}

// readSockMem reads the kernel's socket memory of the connections to
// servers (HOST:PORT, loopback).
func readSockMem(servers []string) sockMem {
	var m sockMem
	m.SockstatPages = sockstatPages()
	ports := map[string]bool{}
	for _, s := range servers {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			ports[s[i+1:]] = true
		}
	}
	out, err := exec.Command("ss", "-tmnH", "state", "established").Output()
	if err != nil {
		return m
	}
	m.Measured = true
	parseSS(bytes.NewReader(out), ports, &m)
	return m
}

// parseSS adds up ss -tmn's lines: a socket line (state, queues, local and
// peer address) followed by its skmem:(...) line.
func parseSS(r io.Reader, ports map[string]bool, m *sockMem) {
	side := 0 // of the last socket line: 1 server, 2 client, 0 neither
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "skmem:("); ok {
			if side == 0 {
				continue
			}
			var n int64
			for _, kv := range strings.Split(strings.TrimSuffix(rest, ")"), ",") {
				for _, k := range []string{"r", "w", "f", "o", "bl"} {
					if v, ok := strings.CutPrefix(kv, k); ok {
						if x, err := strconv.ParseInt(v, 10, 64); err == nil {
							n += x
						}
						break
					}
				}
			}
			if side == 1 {
				m.ServerBytes += n
			} else {
				m.ClientByte += n
			}
			side = 0
			continue
		}
		f := strings.Fields(line)
		side = 0
		if len(f) < 4 {
			continue
		}
		// with "state established" the state column is left out:
		// Recv-Q Send-Q Local Peer
		local, peer := f[len(f)-2], f[len(f)-1]
		switch {
		case ports[port(local)]:
			side = 1
			m.ServerSocks++
		case ports[port(peer)]:
			side = 2
			m.ClientSock++
		}
	}
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// sockstatPages is /proc/net/sockstat's TCP mem: pages of socket buffers.
func sockstatPages() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "TCP:"); ok {
			f := strings.Fields(rest)
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == "mem" {
					n, _ := strconv.ParseInt(f[i+1], 10, 64)
					return n
				}
			}
		}
	}
	return 0
}

// nofile is this process's open-file limit (soft, hard), which the
// processes it starts inherit.
func nofile() ([2]uint64, error) {
	var rl syscall.Rlimit
	err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return [2]uint64{rl.Cur, rl.Max}, err
}

// PerUser is memory per connected idle user on one side.
type PerUser struct {
	RSS    float64 // the processes' resident memory growth / users online
	Kernel float64 // their sockets' buffers / users online
}

// Total is RSS and kernel together.
func (p PerUser) Total() float64 { return p.RSS + p.Kernel }

// PerUser returns the memory per idle user online on a side ("server" or
// "client").
func (r *Result) PerUser(side string) PerUser {
	if r.Online == 0 {
		return PerUser{}
	}
	var d int64
	for _, p := range r.Procs {
		if p.side == side {
			d += p.rssIdle - p.rssBase
		}
	}
	k := r.SockIdle.ServerBytes - r.SockBase.ServerBytes
	if side == "client" {
		k = r.SockIdle.ClientByte - r.SockBase.ClientByte
	}
	return PerUser{RSS: float64(d) / float64(r.Online), Kernel: float64(max(k, 0)) / float64(r.Online)}
}

// Print writes the figures and the verdict.
func (r *Result) Print(w io.Writer) {
	c := r.Cfg
	fmt.Fprintf(w, "\nconns: %s users, one TLS connection each (auth %s), %d servers on one PostgreSQL, %d shards under one coordinator; sign-in %s, idle %s, steady %s at %s\n",
		reports.FormatCount(int64(c.Users)), c.Auth, c.Servers, c.Shards, c.SignInRate, c.Idle, c.Steady, c.Posts)
	fmt.Fprintf(w, "load average at the idle reading %s, at the end %s (2 cores)\n", r.Load, r.LoadEnd)
	fmt.Fprintf(w, "users connected in the idle phase (channel sessions on the servers, %s after the start): %s of %s\n",
		r.IdleAt.Round(1e9), reports.FormatCount(int64(r.Online)), reports.FormatCount(int64(c.Users)))
	fmt.Fprintf(w, "\n%-12s %8s %8s %8s %12s %12s %12s\n", "process", "fd base", "fd idle", "fd peak", "RSS base", "RSS idle", "after GC")
	var rl [2]uint64
	if lim, err := nofile(); err == nil {
		rl = lim
	}
	for _, p := range r.Procs {
		fmt.Fprintf(w, "%-12s %8d %8d %8d %8.1f MiB %8.1f MiB %8.1f MiB\n", p.name, p.fdBase, p.fdIdle, p.fdPeak, float64(p.rssBase)/(1<<20), float64(p.rssIdleRaw)/(1<<20), float64(p.rssIdle)/(1<<20))
	}
	fmt.Fprintf(w, "(open-file limit per process: soft %d, hard %d)\n", rl[0], rl[1])
	if r.SockIdle.Measured {
		fmt.Fprintf(w, "\nkernel sockets in the idle phase (ss -tm): %s on the servers' side, %s on the clients'; their buffers %s / %s bytes (baseline %s / %s); /proc/net/sockstat TCP mem %d pages (baseline %d)\n",
			reports.FormatCount(int64(r.SockIdle.ServerSocks)), reports.FormatCount(int64(r.SockIdle.ClientSock)),
			reports.FormatCount(r.SockIdle.ServerBytes), reports.FormatCount(r.SockIdle.ClientByte),
			reports.FormatCount(r.SockBase.ServerBytes), reports.FormatCount(r.SockBase.ClientByte), r.SockIdle.SockstatPages, r.SockBase.SockstatPages)
	} else {
		fmt.Fprintf(w, "\nkernel socket buffers: not measured (ss missing: apt-get install iproute2)\n")
	}
	s, cl := r.PerUser("server"), r.PerUser("client")
	fmt.Fprintf(w, "\nmemory per connected idle user (RSS growth from the baseline, both after a collection, + kernel socket buffers, / users online):\n")
	fmt.Fprintf(w, "  servers   %7.0f B RSS + %5.0f B kernel = %7.0f B\n", s.RSS, s.Kernel, s.Total())
	fmt.Fprintf(w, "  clients   %7.0f B RSS + %5.0f B kernel = %7.0f B\n", cl.RSS, cl.Kernel, cl.Total())
	fmt.Fprintf(w, "  together  %7.0f B (target: at most 16,384 B)\n", s.Total()+cl.Total())
	if sm := r.Summary; sm != nil {
		fmt.Fprintf(w, "\nmerged run: %s of %s users signed in, %s failed; posts %s; deliveries expected %s, received %s, lost %s, duplicated %s; post_to_last_delivery p99 %s\n",
			reports.FormatCount(int64(sm.Users.SignedIn)), reports.FormatCount(int64(sm.Users.Planned)), reports.FormatCount(int64(sm.Users.Failed)),
			reports.FormatCount(sm.Delivery.Posts), reports.FormatCount(sm.Delivery.Expected), reports.FormatCount(sm.Delivery.Received),
			reports.FormatCount(sm.Delivery.Lost), reports.FormatCount(sm.Delivery.Duplicated), p99(sm, reports.OpPostToLastDelivery))
	}
	fmt.Fprintf(w, "results: %s\n\n%s", r.Results, verdictLines(r.Coord))
}

func p99(s *reports.Summary, op reports.Op) string {
	o, ok := s.Ops[op]
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.1f ms", float64(o.P99)/1000)
}

// verdictLines is the coordinator's verdict and the lines after it.
func verdictLines(out string) string {
	if i := strings.LastIndex(out, "\nverdict: "); i >= 0 {
		return out[i+1:]
	}
	return "(the coordinator printed no verdict)\n" + out
}
