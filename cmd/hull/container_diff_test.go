package main

// Tests of diff, export, commit and cp (container_*_test.go) share these
// helpers: every test gets its own store (--root and --runroot under a
// short /tmp directory, for the monitor's socket path), a busybox image,
// and runs the real hull binary, whose monitors exit 2s after their last
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
	"testing"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/testutil"
	"golang.org/x/sys/unix"
)

type cxEnv struct {
	t             *testing.T
	dir           string
	root, runroot string
}

type cxResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cxResult) String() string {
	return "$ hull " + strings.Join(r.args, " ") + "\nexit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// newCX makes a store with busybox:latest (CMD ["sh"]) imported.
func newCX(t *testing.T) *cxEnv {
	t.Helper()
	testutil.RequireRoot(t)
	tarPath := testutil.BusyboxTar(t)
	testutil.HullBinary(t)
	dir, err := os.MkdirTemp("/tmp", "hx")
	if err != nil {
		t.Fatal(err)
	}
	e := &cxEnv{t: t, dir: dir, root: filepath.Join(dir, "r"), runroot: filepath.Join(dir, "rr")}
	t.Cleanup(e.cleanup)
	e.must("import", "-c", `CMD ["sh"]`, tarPath, "busybox:latest")
	return e
}

func (e *cxEnv) cmd(args ...string) *exec.Cmd {
	cmd := testutil.HullCmd(e.t, e.root, append([]string{"--runroot", e.runroot}, args...)...)
	cmd.Env = append(cmd.Env, "HULL_MONITOR_IDLE=2s")
	return cmd
}

// hullIn runs hull with stdin (nil for none).
func (e *cxEnv) hullIn(stdin []byte, args ...string) cxResult {
	cmd := e.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := cxResult{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code = -1
		r.stderr += "\n(could not run: " + err.Error() + ")"
	}
	e.t.Logf("$ hull %s  (exit %d)", strings.Join(args, " "), r.code)
	return r
}

func (e *cxEnv) hull(args ...string) cxResult { return e.hullIn(nil, args...) }

func (e *cxEnv) must(args ...string) cxResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code != 0 {
		e.t.Fatalf("unexpected failure:\n%v", r)
	}
	return r
}

// fails runs hull and checks that it fails with a message containing msg.
func (e *cxEnv) fails(msg string, args ...string) cxResult {
	e.t.Helper()
	r := e.hull(args...)
	if r.code == 0 || !strings.Contains(r.stderr, msg) {
		e.t.Errorf("want a failure with %q:\n%v", msg, r)
	}
	return r
}

// waitFor polls cond until it holds, failing the test after timeout.
func (e *cxEnv) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rootfsMounted reports whether the container's root file system is
// mounted (in this, the host's, mount namespace).
func (e *cxEnv) rootfsMounted(ref string) bool {
	e.t.Helper()
	cs, err := container.Open(e.root, e.runroot)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := cs.Resolve(ref)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	return id != "" && strings.Contains(string(b), filepath.Join(e.root, "containers", id, "rootfs"))
}

func (e *cxEnv) cleanup() {
	if ids := e.hull("ps", "-aq", "--no-trunc"); ids.code == 0 {
		if f := strings.Fields(ids.stdout); len(f) > 0 {
			e.hull(append([]string{"rm", "-f", "-v"}, f...)...)
		}
	}
	pids := cxMonitorPids(e.root)
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(cxMonitorPids(e.root)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mps []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], e.dir+"/") {
				mps = append(mps, f[4])
			}
		}
		slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.t.Errorf("cleanup: %v", err)
	}
}

// cxMonitorPids lists the hull monitors of the store root.
func cxMonitorPids(root string) []int {
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
	return pids
}

// cxChanges is the command the diff, export and commit tests run.
const cxChanges = "touch /new; rm /bin/ls; echo x>>/etc/passwd"

func TestContainerDiff(t *testing.T) {
	e := newCX(t)
	e.must("run", "--name", "c1", "busybox", "sh", "-c", cxChanges)
	want := "C /bin\nD /bin/ls\nC /etc\nC /etc/passwd\nA /new\n"
	if r := e.must("diff", "c1"); r.stdout != want {
		t.Errorf("diff:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r := e.must("container", "diff", "c1"); r.stdout != want {
		t.Errorf("container diff:\n%s", r.stdout)
	}
	// Nothing changed: nothing to show (hull's /etc mount points are
	// left out, as Docker's init layer is).
	e.must("run", "--name", "idle", "busybox", "true")
	if r := e.must("diff", "idle"); r.stdout != "" {
		t.Errorf("diff of a container that changed nothing:\n%s", r.stdout)
	}

	// An opaque directory: everything of the image's that is gone shows.
	e.must("run", "--name", "b1", "busybox", "sh", "-c", "mkdir -p /opt/d && touch /opt/a /opt/b /opt/d/e")
	e.must("commit", "b1", "base:opt")
	e.must("run", "--name", "o1", "base:opt", "sh", "-c", "rm -rf /opt && mkdir /opt && touch /opt/new /opt/a")
	want = "C /opt\nC /opt/a\nD /opt/b\nD /opt/d\nA /opt/new\n"
	if r := e.must("diff", "o1"); r.stdout != want {
		t.Errorf("diff with an opaque directory:\n%s\nwant:\n%s", r.stdout, want)
	}

	// A running container.
	e.must("run", "-d", "--name", "r1", "busybox", "sh", "-c", "mkdir /tmp/d && touch /tmp/d/f && sleep 1000")
	want = "C /tmp\nA /tmp/d\nA /tmp/d/f\n"
	e.waitFor(10*time.Second, "the running container's changes", func() bool {
		return e.must("diff", "r1").stdout == want
	})

	e.fails("No such container: nosuch", "diff", "nosuch")
	e.fails("requires 1 argument", "diff")
}
