package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/volume"
)

// The test binary doubles as a monitor: with HULL_TEST_MONITOR set to
// "root runroot idle" it serves that store (what `hull monitor` does).
func TestMain(m *testing.M) {
	if v := os.Getenv("HULL_TEST_MONITOR"); v != "" {
		os.Exit(testMonitorMain(v))
	}
	os.Exit(m.Run())
}

func testMonitorMain(v string) int {
	f := strings.Fields(v)
	idle, err := time.ParseDuration(f[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cs, err := container.Open(f[0], f[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	is, err := image.Open(f[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	vs, err := volume.Open(f[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var ready *os.File
	if r := os.NewFile(3, "ready"); r != nil {
		if _, err := r.Stat(); err == nil {
			ready = r
		}
	}
	if err := Serve(context.Background(), Config{Containers: cs, Images: is, Volumes: vs, Idle: idle}, ready); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// seenMonitors are the pids of the monitors that answered a ping.
var seenMonitors struct {
	sync.Mutex
	pids map[*Client][]int
}

// testClient is a client of a store under a short temp directory whose
// monitors are this test binary, exiting after idle. When the test ends,
// every monitor that answered a ping must exit within 10s.
func testClient(t *testing.T, idle time.Duration) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "hm")
	if err != nil {
		t.Fatal(err)
	}
	root, runroot := filepath.Join(dir, "r"), filepath.Join(dir, "rr")
	cs, err := container.Open(root, runroot)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Store: cs, Command: func() *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "HULL_TEST_MONITOR="+root+" "+runroot+" "+idle.String())
		return cmd
	}}
	t.Cleanup(func() {
		seenMonitors.Lock()
		pids := seenMonitors.pids[c]
		delete(seenMonitors.pids, c)
		seenMonitors.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for _, pid := range pids {
			for processAlive(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if processAlive(pid) {
				t.Errorf("monitor %d did not exit when idle", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(dir)
	})
	return c
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func (c *Client) ping() (int, error) {
	res, err := c.simple(Request{Op: "ping"})
	if err != nil {
		return 0, err
	}
	seenMonitors.Lock()
	if seenMonitors.pids == nil {
		seenMonitors.pids = map[*Client][]int{}
	}
	if !slices.Contains(seenMonitors.pids[c], res.Pid) {
		seenMonitors.pids[c] = append(seenMonitors.pids[c], res.Pid)
	}
	seenMonitors.Unlock()
	return res.Pid, nil
}

// TestMonitorIdleExitRace: clients keep arriving while monitors exit
// when idle; every request is served, by the old monitor or a new one,
// and no monitor outlives its idle time.
func TestMonitorIdleExitRace(t *testing.T) {
	t.Parallel()
	c := testClient(t, 60*time.Millisecond)
	pid, err := c.ping()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	pids := map[int]bool{pid: true}
	var errs []error
	// Rounds of simultaneous requests, with pauses around the idle
	// time between them, so monitors decide to exit just as requests
	// arrive.
	for round := range 30 {
		pause := time.Duration(30+(round*37)%80) * time.Millisecond
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(pause + time.Duration(g*2)*time.Millisecond)
				pid, err := c.ping()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else {
					pids[pid] = true
				}
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		t.Errorf("request failed: %v", err)
	}
	if len(pids) < 2 {
		t.Errorf("only %d monitor served the whole test: idle exits did not happen", len(pids))
	}
	t.Logf("%d monitors served the test", len(pids))
	// The last one exits too, removing its socket.
	time.Sleep(300 * time.Millisecond)
	if c.Running() {
		t.Errorf("a monitor still listens after the idle time")
	}
	if _, err := os.Stat(filepath.Join(c.Store.RunDir(), socketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestMonitorSecondServe: a second monitor for the same store answers
// "running" on its readiness pipe and returns at once.
func TestMonitorSecondServe(t *testing.T) {
	t.Parallel()
	c := testClient(t, 2*time.Second)
	if _, err := c.ping(); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := c.Command()
	cmd.ExtraFiles = []*os.File{w}
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil || string(line) != "running\n" {
		t.Errorf("second monitor: %q, %v\n%s", line, err, out.String())
	}
	if _, err := c.ping(); err != nil {
		t.Errorf("first monitor after the second: %v", err)
	}
}

// TestMonitorUnknownContainer: operations on a container the monitor
// does not supervise answer cleanly.
func TestMonitorUnknownContainer(t *testing.T) {
	t.Parallel()
	c := testClient(t, 200*time.Millisecond)
	if _, err := c.ping(); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	if code, err := c.Stop(id, syscall.SIGTERM, nil); err != nil || code != 0 {
		t.Errorf("stop of an unsupervised container: %d, %v", code, err)
	}
	var re *ResponseError
	if err := c.Kill(id, syscall.SIGKILL); !errors.As(err, &re) || re.ExitCode != 125 {
		t.Errorf("kill of an unsupervised container: %v", err)
	}
	if err := c.Start(id); err == nil {
		t.Errorf("start of a missing container succeeded")
	}
	if _, err := c.Attach(id, AttachOptions{Stdout: true}); err == nil || !strings.Contains(err.Error(), "start it first") {
		t.Errorf("attach to a stopped container: %v", err)
	}
	if _, running, err := c.Wait(id); running || err != nil {
		t.Errorf("wait of an unsupervised container: %v, %v", running, err)
	}
	if _, err := c.simple(Request{Op: "bogus"}); err == nil {
		t.Errorf("unknown operation accepted")
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	fw := &frameWriter{w: &buf}
	payloads := [][]byte{[]byte("hello"), nil, bytes.Repeat([]byte("x"), 70000)}
	for i, p := range payloads {
		if err := fw.write(byte(i), p); err != nil {
			t.Fatal(err)
		}
	}
	var scratch []byte
	for i, p := range payloads {
		typ, got, err := readFrame(&buf, scratch)
		if err != nil || typ != byte(i) || !bytes.Equal(got, p) {
			t.Fatalf("frame %d: type %d, %d bytes, %v", i, typ, len(got), err)
		}
	}
	if _, _, err := readFrame(&buf, nil); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v", err)
	}
	// A frame larger than maxFrame is refused, not allocated.
	huge := []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	if _, _, err := readFrame(bytes.NewReader(huge), nil); err == nil {
		t.Errorf("huge frame accepted")
	}
	// A truncated frame is an error.
	if _, _, err := readFrame(bytes.NewReader([]byte{1, 0, 0, 0, 0, 0, 0, 9, 'a'}), nil); err == nil {
		t.Errorf("truncated frame accepted")
	}
}

// TestMonitorExitsWhenRunDirRemoved: a monitor whose run directory was
// deleted (a store removed under it) can no longer be reached and must
// still exit when idle, not wait forever for its spawn lock.
func TestMonitorExitsWhenRunDirRemoved(t *testing.T) {
	c := testClient(t, 300*time.Millisecond)
	pid, err := c.ping()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(c.Store.RunDir()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("monitor %d still runs 5 s after its run directory went", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
