// Package netns builds small networks of Linux network namespaces for
// tests: N namespaces ("hosts"), each with its own 10.x.y.z address on a
// veth pair whose other end is enslaved to a bridge of its own, so that
// hosts reach each other by address and nothing else reaches them (the
// bridge has no address: the machine's own namespace has no route to
// them). A process runs in a host as a child (Host.Command, through
// `ip netns exec`), or a piece of the test runs there (Host.Do: sockets
// made inside stay in the namespace).
//
// It needs root and iproute2's `ip`; New skips the test, saying which is
// missing, without them. Names carry the creating process's id, so
// parallel test binaries never clash, and New removes what a killed test
// binary left behind (namespaces whose creator is gone):
//
//	n := netns.New(t, 3)         // torn down at the end of the test, failed or not
//	ln, err := n.Hosts[0].Listen("tcp", ":8080")
//	cmd := n.Hosts[1].Command(ctx, os.Args[0], "-test.run=^TestHelper$")
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Net is a bridge and the hosts on it.
type Net struct {
	// ID is unique to this Net among live processes: 6 hex digits of the
	// creating process id, 2 of a per-process counter.
	ID string
	// Bridge is the bridge's interface name.
	Bridge string
	// Subnet is the hosts' /24.
	Subnet netip.Prefix
	Hosts  []*Host
}

// Host is one network namespace on the bridge.
type Host struct {
	// Name is the namespace's name (ip netns list).
	Name string
	// Addr is its address on the bridge (interface eth0).
	Addr netip.Addr
	// veth is the host end of its veth pair, in the machine's namespace.
	veth string
}

var counter atomic.Uint32

func init() {
	var b [1]byte
	_, _ = rand.Read(b[:])
	counter.Store(uint32(b[0]))
}

// Available reports why namespaces cannot be made here (nil when they
// can): not root, or no `ip`.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: network namespaces need root (CI runs the tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netns: the ip command (Debian package iproute2) is not installed: apt-get install iproute2")
	}
	return nil
}

// ip runs the ip command and returns its error with its output.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Create makes a bridge and n hosts on it (1 <= n <= 200). On an error
// it removes what it made.
func Create(ctx context.Context, n int) (*Net, error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("netns: %d hosts: want 1 to 200", n)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	Sweep(ctx)
	id := fmt.Sprintf("%06x%02x", os.Getpid()&0xffffff, counter.Add(1)&0xff)
	var r [2]byte
	_, _ = rand.Read(r[:])
	subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100 + r[0]%150, r[1], 0}), 24)
	nt := &Net{ID: id, Bridge: "gn" + id, Subnet: subnet}
	if err := ip(ctx, "link", "add", nt.Bridge, "type", "bridge"); err != nil {
		return nil, err
	}
	if err := ip(ctx, "link", "set", nt.Bridge, "up"); err != nil {
		nt.Close()
		return nil, err
	}
	for i := range n {
		a := subnet.Addr().As4()
		a[3] = byte(i + 1)
		h := &Host{Name: fmt.Sprintf("gn%s-%d", id, i), Addr: netip.AddrFrom4(a), veth: fmt.Sprintf("gn%sh%d", id, i)}
		nt.Hosts = append(nt.Hosts, h)
		steps := [][]string{
			{"netns", "add", h.Name},
			{"link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.Name},
			{"link", "set", h.veth, "master", nt.Bridge},
			{"link", "set", h.veth, "up"},
			{"-n", h.Name, "addr", "add", netip.PrefixFrom(h.Addr, 24).String(), "dev", "eth0"},
			{"-n", h.Name, "link", "set", "eth0", "up"},
			{"-n", h.Name, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				nt.Close()
				return nil, err
			}
		}
	}
	return nt, nil
}

// New creates a Net of n hosts for a test, skipping the test when
// namespaces cannot be made here, and tears it down when the test ends
// (whether it passed or not).
func New(t testing.TB, n int) *Net {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	nt, err := Create(context.Background(), n)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || strings.Contains(err.Error(), "Operation not permitted") {
			t.Skipf("netns: cannot create network namespaces here (a container without CAP_SYS_ADMIN?): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nt.Close(); err != nil {
			t.Errorf("netns: tearing down: %v", err)
		}
	})
	return nt
}

// Close removes the hosts (their namespaces, veth pairs and addresses)
// and the bridge. Processes still running in a namespace keep it alive
// until they exit, without its name.
func (nt *Net) Close() error {
	ctx := context.Background()
	var errs []error
	for _, h := range nt.Hosts {
		if err := ip(ctx, "netns", "del", h.Name); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
		// deleting the namespace deletes its end of the pair, and so the
		// pair; delete the host end too in case the namespace lives on
		if err := ip(ctx, "link", "del", h.veth); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if err := ip(ctx, "link", "del", nt.Bridge); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

var leftover = regexp.MustCompile(`^gn([0-9a-f]{6})([0-9a-f]{2})-\d+$`)

// Sweep removes namespaces and bridges that this package made in a
// process that no longer exists (a test binary killed before its
// cleanup). It returns the namespaces it removed.
func Sweep(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var removed []string
	bridges := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := leftover.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.ParseInt(m[1], 16, 64)
		if _, err := os.Stat("/proc/" + strconv.FormatInt(pid, 10)); err == nil {
			continue // its creator lives (or its id was reused: left alone)
		}
		if ip(ctx, "netns", "del", f[0]) == nil {
			removed = append(removed, f[0])
		}
		bridges["gn"+m[1]+m[2]] = true
	}
	for br := range bridges {
		_ = ip(ctx, "link", "del", br)
	}
	return removed
}

// Command returns a command that runs name with args inside the host's
// namespace (through `ip netns exec`, which execs it: the process is
// name's, and killing it kills name).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Do runs f on an operating system thread moved into the host's
// namespace: sockets f creates (listeners, dialed connections) belong to
// the namespace and stay there, whoever uses them later. Goroutines f
// starts do not run in the namespace. The thread is discarded afterwards.
func (h *Host) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine instead of
		// going back to the scheduler in the wrong namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+h.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns: %s: %w", h.Name, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: entering %s: %w", h.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Listen listens on addr inside the host's namespace (":0" for a random
// port on every address of the host).
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dial connects from inside the host's namespace.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
