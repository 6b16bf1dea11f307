package integration

// Helpers of the container crash-safety tests (containers_*_test.go):
// each test has its own store (--root and --runroot under a short /tmp
// directory, for the monitor's unix socket) with busybox imported, runs
// the real hull binary and gets monitors that exit 2s after their last
// container.

import (
	"bytes"
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

type ctEnv struct {
	t             *testing.T
	dir           string
	root, runroot string
}

type ctResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r ctResult) String() string {
	return "$ hull " + strings.Join(r.args, " ") + "\nexit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func newCT(t *testing.T) *ctEnv {
	t.Helper()
	testutil.RequireRoot(t)
	tar := testutil.BusyboxTar(t)
	testutil.HullBinary(t)
	dir, err := os.MkdirTemp("/tmp", "hc")
	if err != nil {
		t.Fatal(err)
	}
	e := &ctEnv{t: t, dir: dir, root: filepath.Join(dir, "r"), runroot: filepath.Join(dir, "rr")}
	if n := len(e.runroot) + len("/r-123456789abc/monitor.sock"); n >= 108 {
		t.Fatalf("monitor socket path would be %d bytes long (max 107)", n)
	}
	t.Cleanup(e.cleanup)
	e.must("import", tar, "busybox:latest", "-c", `CMD ["sh"]`)
	return e
}

func (e *ctEnv) cmd(args ...string) *exec.Cmd {
	cmd := testutil.HullCmd(e.t, e.root, append([]string{"--runroot", e.runroot}, args...)...)
	cmd.Env = append(cmd.Env, "HULL_MONITOR_IDLE=2s")
	return cmd
}

func (e *ctEnv) hull(args ...string) ctResult {
	cmd := e.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := ctResult{args: args, stdout: out.String(), stderr: errb.String()}
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

func (e *ctEnv) must(args ...string) ctResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code != 0 {
		e.t.Fatalf("unexpected failure:\n%v", r)
	}
	return r
}

// killDuring starts hull args, kills it with SIGKILL after delay and
// reports whether it had finished before.
func (e *ctEnv) killDuring(delay time.Duration, args ...string) bool {
	e.t.Helper()
	cmd := e.cmd(args...)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return true
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return false
}

func (e *ctEnv) store() *container.Store {
	e.t.Helper()
	cs, err := container.Open(e.root, e.runroot)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// record reads a record as stored (no reconciling).
func (e *ctEnv) record(ref string) *container.Record {
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

func (e *ctEnv) ids() []string {
	e.t.Helper()
	return strings.Fields(e.must("ps", "-aq", "--no-trunc").stdout)
}

// status is the ps -a STATUS column of a container.
func (e *ctEnv) status(ref string) string {
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

func (e *ctEnv) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Logf("waited %.2fs for %s", time.Since(start).Seconds(), what)
}

// monitorPids lists the hull monitor processes of the store.
func (e *ctEnv) monitorPids() []int {
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
		if i := slices.Index(args, "--root"); i >= 0 && i+1 < len(args) && args[i+1] == e.root {
			pids = append(pids, pid)
		}
	}
	// A monitor's child between fork and exec has its command line too.
	var monitors []int
	for _, pid := range pids {
		if !slices.Contains(pids, ppid(pid)) {
			monitors = append(monitors, pid)
		}
	}
	return monitors
}

// ppid is the parent of pid (0 if unknown).
func ppid(pid int) int {
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

// killMonitors sends sig to the store's monitors and waits until they
// are gone.
func (e *ctEnv) killMonitors(sig syscall.Signal) {
	e.t.Helper()
	pids := e.monitorPids()
	if len(pids) == 0 {
		e.t.Fatal("no monitor runs")
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	e.waitFor(10*time.Second, "the monitor to exit", func() bool { return len(e.monitorPids()) == 0 })
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
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

// killPid kills pid with SIGKILL and waits until it is gone.
func (e *ctEnv) killPid(pid int) {
	e.t.Helper()
	if pid <= 1 {
		e.t.Fatalf("refusing to kill pid %d", pid)
	}
	_ = unix.Kill(pid, unix.SIGKILL)
	e.waitFor(5*time.Second, "pid "+strconv.Itoa(pid)+" to die", func() bool { return !pidAlive(pid) })
}

func (e *ctEnv) cleanup() {
	if r := e.hull("ps", "-aq", "--no-trunc"); r.code == 0 {
		if f := strings.Fields(r.stdout); len(f) > 0 {
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
	for _, mp := range testutil.MountsUnder(e.dir) {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.t.Errorf("cleanup: %v", err)
	}
}

// checkContainerStore checks what a crash must never break: every
// container directory has a readable record in a known state, no
// rootfs is mounted for a container that does not run, and ps works.
func (e *ctEnv) checkContainerStore() {
	e.t.Helper()
	cs := e.store()
	recs, err := cs.List()
	if err != nil {
		e.t.Fatalf("list containers: %v", err)
	}
	for _, r := range recs {
		// Under its lock: a monitor may be starting it right now.
		l, err := cs.Lock(r.ID)
		if err != nil {
			e.t.Errorf("lock container %s: %v", r.ShortID(), err)
			continue
		}
		r, err := cs.Read(r.ID)
		if err != nil {
			l.Unlock()
			e.t.Errorf("read container %s: %v", r.ShortID(), err)
			continue
		}
		switch r.State.Status {
		case container.Created, container.Running, container.Exited:
		default:
			e.t.Errorf("container %s in state %s", r.ShortID(), r.State.Status)
		}
		if r.State.Status != container.Running {
			if m, _ := container.IsMounted(cs.Rootfs(r.ID)); m {
				e.t.Errorf("container %s is %s with its rootfs mounted", r.ShortID(), r.State.Status)
			}
		}
		l.Unlock()
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	n := 0
	for _, ent := range ents {
		if ent.IsDir() && !strings.HasPrefix(ent.Name(), ".") {
			n++
			if _, err := os.Stat(filepath.Join(e.root, "containers", ent.Name(), "container.json")); err != nil {
				e.t.Errorf("container directory %s without a record", ent.Name())
			}
		}
	}
	if n != len(recs) {
		e.t.Errorf("%d container directories, %d records", n, len(recs))
	}
	e.must("ps", "-a")
}
