package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Test cgroups live below these parents (v1/hybrid tests through New, and
// v2 tests in the cgroup2 hierarchy).
const (
	testParent   = "/hull-test"
	testParentV2 = "/hull-test-v2"
)

const helperEnv = "HULL_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	code := m.Run()
	// Remove the (now empty) parents; a concurrent run may still use them,
	// in which case rmdir fails and they stay.
	if os.Geteuid() == 0 {
		dirs, _ := filepath.Glob(filepath.Join(mountRoot, "*", testParent))
		dirs = append(dirs, filepath.Join(mountRoot, testParent), filepath.Join(mountRoot, testParentV2))
		dirs = append(dirs, filepath.Join(hybridUnified, testParentV2))
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
	os.Exit(code)
}

// runHelper is the body of the test binary re-executed as a helper process.
func runHelper(mode string) int {
	switch mode {
	case "alloc":
		// Wait until the test has moved us into the cgroup, then touch
		// the given number of MiB.
		mib, _ := strconv.Atoi(os.Getenv("HULL_CGROUP_TEST_MIB"))
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		var keep [][]byte
		for range mib {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep), "MiB")
		return 0
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", mode)
		return 2
	}
}

// requireCgroups skips the test unless it runs as root on a host with a
// writable cgroup hierarchy.
func requireCgroups(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := syscall.Access(mountRoot, 2 /* W_OK */); err != nil && Mode() == ModeV2 {
		t.Skipf("%s is not writable: %v", mountRoot, err)
	}
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newTestManager returns a manager for a fresh cgroup below testParent,
// killed and destroyed when the test ends.
func newTestManager(t *testing.T, r *specs.LinuxResources) Manager {
	t.Helper()
	requireCgroups(t)
	m, err := New(testParent+"/"+randomName(t), r)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cleanupManager(t, m)
	return m
}

func cleanupManager(t *testing.T, m Manager) {
	t.Cleanup(func() {
		_ = m.Thaw()
		_ = m.Kill(syscall.SIGKILL)
		waitNoPids(t, m)
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: Destroy: %v", err)
		}
	})
}

// waitNoPids waits until the cgroup holds no process.
func waitNoPids(t *testing.T, m Manager) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes %v still in the cgroup", pids)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is a child process started for a test, reaped at the end of it.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *syncBuffer
	done   chan struct{}
	waitEr error
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs name with args; its stdin stays open until release, so shell
// scripts starting with "read x" wait until the test has placed them.
func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	// Background children keep the output pipe open; do not wait for them.
	cmd.WaitDelay = 500 * time.Millisecond
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitEr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// release unblocks a process waiting on its stdin.
func (p *proc) release(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waitEr
	case <-time.After(d):
		t.Fatalf("process %d still running after %v; output: %s", p.pid(), d, p.out.String())
		return nil
	}
}

func readTrim(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := cgroups.ReadFile(dir, file)
	if err != nil {
		t.Fatalf("read %s/%s: %v", dir, file, err)
	}
	return strings.TrimSpace(s)
}

func expectFile(t *testing.T, dir, file, want string) {
	t.Helper()
	if got := readTrim(t, dir, file); got != want {
		t.Errorf("%s/%s = %q, want %q", dir, file, got, want)
	}
}

func procsOf(t *testing.T, dir string) []int {
	t.Helper()
	pids, err := cgroups.GetPids(dir)
	if err != nil {
		t.Fatalf("read procs of %s: %v", dir, err)
	}
	return pids
}

func expectPid(t *testing.T, dir string, pid int) {
	t.Helper()
	if !slices.Contains(procsOf(t, dir), pid) {
		t.Errorf("pid %d not in %s/cgroup.procs", pid, dir)
	}
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// fileSize is the size of path, or -1.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

// procState is the State: line of /proc/pid/status ("S (sleeping)").
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(l, "State:"); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
