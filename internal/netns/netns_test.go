package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary, re-executed in a namespace, fetch a URL
// and print the body (TestHelperProcess).
const helperEnv = "GCLOAD_NETNS_HELPER_GET"

func TestHelperProcess(t *testing.T) {
	url := os.Getenv(helperEnv)
	if url == "" {
		t.Skip("helper process for TestTrafficCrossesNamespaces")
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("body: %s\n", b)
	os.Exit(0)
}

func TestTrafficCrossesNamespaces(t *testing.T) {
	n := New(t, 3)
	a, b, c := n.Hosts[0], n.Hosts[1], n.Hosts[2]
	if a.Addr == b.Addr || !n.Subnet.Contains(a.Addr) || !n.Subnet.Contains(c.Addr) || a.Addr.As4()[0] != 10 {
		t.Fatalf("addresses %v %v %v in %v", a.Addr, b.Addr, c.Addr, n.Subnet)
	}
	// an HTTP server in A, on every address of A
	ln, err := a.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s to %s", a.Addr, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()
	url := fmt.Sprintf("http://%s:%d/", a.Addr, port)

	// reached from B by a child process running in B
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := b.Command(ctx, exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+url)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("body: hello from %s to %s:", a.Addr, b.Addr)) {
		t.Fatalf("child in %s fetching %s: %v\n%s", b.Name, url, err, out)
	}

	// reached from C by a connection made in C
	conn, err := c.Dial(ctx, "tcp", fmt.Sprintf("%s:%d", a.Addr, port))
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.LocalAddr().(*net.TCPAddr).IP.String(); got != c.Addr.String() {
		t.Errorf("connection from %s, want C's %s", got, c.Addr)
	}
	conn.Close()

	// not reachable from the machine's own namespace: not on its loopback,
	// and no route to the bridge's addresses
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("the server in %s answers on the machine's loopback", a.Name)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", a.Addr, port), time.Second); err == nil {
		c.Close()
		t.Errorf("the server in %s is reachable from the machine's namespace", a.Name)
	}
	// nor on B's loopback
	if c, err := b.Dial(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Errorf("the server in %s answers on %s's loopback", a.Name, b.Name)
	}
}

func exists(t *testing.T, args ...string) bool {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	return err == nil && len(strings.TrimSpace(string(out))) > 0
}

func TestCloseRemovesEverything(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n, err := Create(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !exists(t, "link", "show", n.Bridge) || !exists(t, "link", "show", n.Hosts[1].veth) {
		t.Fatalf("bridge or veth missing after Create")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(t, "link", "show", n.Bridge) || exists(t, "link", "show", n.Hosts[0].veth) {
		t.Errorf("bridge or veth left after Close")
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), n.ID) {
		t.Errorf("namespaces left after Close:\n%s", list)
	}
}

// What a killed test binary leaves behind is removed by the next one.
func TestSweepRemovesLeftovers(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	// a process id that does not exist: a child that has exited
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
		t.Skipf("pid %d reused already", pid)
	}
	id := fmt.Sprintf("%06xff", pid)
	ctx := context.Background()
	if err := ip(ctx, "netns", "add", "gn"+id+"-0"); err != nil {
		t.Fatal(err)
	}
	if err := ip(ctx, "link", "add", "gn"+id, "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	// and one of a live process (this one) that must stay
	live := fmt.Sprintf("gn%06xfe-0", os.Getpid())
	if err := ip(ctx, "netns", "add", live); err != nil {
		t.Fatal(err)
	}
	defer ip(ctx, "netns", "del", live)
	removed := Sweep(ctx)
	if len(removed) != 1 || removed[0] != "gn"+id+"-0" {
		t.Errorf("swept %v, want only gn%s-0", removed, id)
	}
	if exists(t, "link", "show", "gn"+id) {
		t.Errorf("leftover bridge gn%s not removed", id)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if !strings.Contains(string(list), live) {
		t.Errorf("the live process's namespace %s was removed", live)
	}
}
