package refserver_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipclient"
)

const crashEnv = "GCLOAD_CRASH_CHILD_DB"

func TestMain(m *testing.M) {
	if db := os.Getenv(crashEnv); db != "" {
		crashChild(db)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the server process the crash test kills.
func crashChild(db string) {
	srv, err := refserver.New(context.Background(), refserver.WithDB(db), refserver.WithTCP("127.0.0.1:0"),
		refserver.WithRooms(refservertest.Room("room1", "sip:w0@example.com", "sip:w1@example.com", "sip:w2@example.com", "sip:w3@example.com")))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(srv.TCPAddr())
	select {}
}

// TestCrashKeepsAcknowledgedPosts kills the server (SIGKILL) while posts
// are in flight; every post it acknowledged is in the database after.
func TestCrashKeepsAcknowledgedPosts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a server process")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+db)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("child: %q %v", line, err)
	}
	addr := strings.TrimSpace(line)
	ctx := ctxT(t)
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		c, err := sipclient.New(sipclient.Config{User: fmt.Sprintf("sip:w%d@example.com", w), Server: addr})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("w%d post %d", w, i)
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := c.Post(pctx, room1, text)
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[text] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 10 {
		t.Fatalf("only %d posts acknowledged before the crash", n)
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.History(ctx, "room1", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range h {
		stored[m.Text] = true
	}
	for text := range acked {
		if !stored[text] {
			t.Errorf("acknowledged post %q lost in the crash", text)
		}
	}
	t.Logf("%d posts acknowledged before SIGKILL, %d stored", n, len(h))
}
