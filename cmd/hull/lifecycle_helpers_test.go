package main

// Helpers of the container lifecycle tests (lifecycle_*_test.go): every
// test gets its own store (--root and --runroot under a short /tmp
// directory, so the monitor's unix socket path stays short), a busybox
// image, and runs the real hull binary, whose monitors exit 2s after
// their last container (HULL_MONITOR_IDLE).

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/testutil"
	"golang.org/x/sys/unix"
)

// lcMonitorIdle is HULL_MONITOR_IDLE for the tests' monitors.
const lcMonitorIdle = "2s"

// lcEnv is one test's hull store.
type lcEnv struct {
	t             *testing.T
	dir           string
	root, runroot string
}

// lcResult is the outcome of one hull command.
type lcResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r lcResult) String() string {
	return "$ hull " + strings.Join(r.args, " ") + "\nexit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// newLC makes a store with busybox:latest (CMD ["sh"]) imported.
func newLC(t *testing.T) *lcEnv {
	t.Helper()
	testutil.RequireRoot(t)
	tar := testutil.BusyboxTar(t)
	testutil.HullBinary(t) // built here, on the test's goroutine
	dir, err := os.MkdirTemp("/tmp", "hl")
	if err != nil {
		t.Fatal(err)
	}
	e := &lcEnv{t: t, dir: dir, root: filepath.Join(dir, "r"), runroot: filepath.Join(dir, "rr")}
	// The monitor's socket is runroot/r-<12 hex>/monitor.sock.
	if n := len(e.runroot) + len("/r-123456789abc/monitor.sock"); n >= 108 {
		t.Fatalf("monitor socket path would be %d bytes long (max 107)", n)
	}
	t.Cleanup(e.cleanup)
	e.must("import", tar, "busybox:latest", "-c", `CMD ["sh"]`)
	return e
}

// cmd is an unstarted `hull --root R --runroot RR args...`.
func (e *lcEnv) cmd(args ...string) *exec.Cmd {
	cmd := testutil.HullCmd(e.t, e.root, append([]string{"--runroot", e.runroot}, args...)...)
	cmd.Env = append(cmd.Env, "HULL_MONITOR_IDLE="+lcMonitorIdle)
	return cmd
}

// hull runs hull and returns what happened; safe in any goroutine.
func (e *lcEnv) hull(args ...string) lcResult {
	return e.hullIn("", args...)
}

// hullIn is hull with stdin.
func (e *lcEnv) hullIn(stdin string, args ...string) lcResult {
	cmd := e.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := lcResult{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code = -1
		r.stderr += "\n(could not run: " + err.Error() + ")"
	}
	e.t.Logf("$ hull %s  (exit %d, %.2fs)", strings.Join(args, " "), r.code, time.Since(start).Seconds())
	return r
}

// must runs hull and fails the test unless it exits 0.
func (e *lcEnv) must(args ...string) lcResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code != 0 {
		e.t.Fatalf("unexpected failure:\n%v", r)
	}
	return r
}

// expect runs hull and fails the test unless it exits with code.
func (e *lcEnv) expect(code int, args ...string) lcResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code != code {
		e.t.Fatalf("want exit %d:\n%v", code, r)
	}
	return r
}

// fails runs hull and fails the test unless it fails with a message.
func (e *lcEnv) fails(args ...string) lcResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code == 0 || r.stderr == "" {
		e.t.Fatalf("want a failure with a message:\n%v", r)
	}
	return r
}

// store opens the test's container store in-process.
func (e *lcEnv) store() *container.Store {
	e.t.Helper()
	cs, err := container.Open(e.root, e.runroot)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// record reads a container's record as stored (no reconciling).
func (e *lcEnv) record(ref string) *container.Record {
	e.t.Helper()
	cs := e.store()
	id, err := cs.Resolve(ref)
	if err != nil {
		e.t.Fatalf("record %s: %v", ref, err)
	}
	r, err := cs.Read(id)
	if err != nil {
		e.t.Fatalf("record %s: %v", ref, err)
	}
	return r
}

// ids lists the stored containers (`ps -aq --no-trunc`).
func (e *lcEnv) ids() []string {
	e.t.Helper()
	return strings.Fields(e.must("ps", "-aq", "--no-trunc").stdout)
}

// status is the container's ps -a STATUS column.
func (e *lcEnv) status(ref string) string {
	e.t.Helper()
	out := e.must("ps", "-a", "--no-trunc", "--format", "{{.Names}}\t{{.ID}}\t{{.Status}}").stdout
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 && (f[0] == ref || strings.HasPrefix(f[1], ref)) {
			return f[2]
		}
	}
	e.t.Fatalf("no container %s in ps -a:\n%s", ref, out)
	return ""
}

// waitFor polls cond every 50ms until it is true, failing the test after
// timeout.
func (e *lcEnv) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// monitorPids lists the hull monitor processes of this store.
func (e *lcEnv) monitorPids() []int {
	return lcMonitorPids(e.root)
}

func lcMonitorPids(root string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[len(args)-1] != "monitor" {
			continue
		}
		if i := slices.Index(args, "--root"); i >= 0 && i+1 < len(args) && args[i+1] == root {
			pids = append(pids, pid)
		}
	}
	// A monitor's child between fork and exec has its command line too.
	var monitors []int
	for _, pid := range pids {
		if !slices.Contains(pids, lcPpid(pid)) {
			monitors = append(monitors, pid)
		}
	}
	return monitors
}

// lcHasChild reports whether pid has a child process.
func lcHasChild(pid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if n, err := strconv.Atoi(ent.Name()); err == nil && lcPpid(n) == pid {
			return true
		}
	}
	return false
}

// lcPpid is the parent of pid (0 if unknown).
func lcPpid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// cleanup removes every container, kills the monitor, unmounts what is
// left under the test's directory and removes it.
func (e *lcEnv) cleanup() {
	if ids := e.hull("ps", "-aq", "--no-trunc"); ids.code == 0 {
		if f := strings.Fields(ids.stdout); len(f) > 0 {
			e.hull(append([]string{"rm", "-f", "-v"}, f...)...)
		}
	}
	for _, pid := range e.monitorPids() {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.monitorPids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	testutil.UnmountUnder(e.dir)
	if err := os.RemoveAll(e.dir); err != nil {
		e.t.Errorf("cleanup: %v", err)
	}
}

// lcRandom is a random hex string.
func lcRandom() string {
	var b [6]byte
	f, _ := os.Open("/dev/urandom")
	defer f.Close()
	_, _ = f.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lcHostCapBnd is this process's capability bounding set.
func lcHostCapBnd(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

// lcCapEff extracts the CapEff value from /proc/self/status output.
func lcCapEff(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// lcStart starts a long-running command and returns a function that
// waits for it (with a timeout) and returns its result.
func (e *lcEnv) start(args ...string) func(timeout time.Duration) lcResult {
	cmd := e.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func(timeout time.Duration) lcResult {
		e.t.Helper()
		var err error
		select {
		case err = <-done:
		case <-time.After(timeout):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			e.t.Fatalf("hull %s did not end within %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), timeout, out.String(), errb.String())
		}
		r := lcResult{args: args, stdout: out.String(), stderr: errb.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
		e.t.Logf("$ hull %s  (exit %d)", strings.Join(args, " "), r.code)
		return r
	}
}
