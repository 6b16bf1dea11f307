package runtime_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRunEcho(t *testing.T) {
	e := newBundle(t, "/bin/echo", "hi")
	if out := e.mustRun(); out != "hi\n" {
		t.Fatalf("stdout %q, want %q", out, "hi\n")
	}
	// run deletes the container afterwards.
	if res := e.mustHull("list", "-q"); res.Stdout != "" {
		t.Fatalf("list after run: %q", res.Stdout)
	}
}

func TestRunExitCode(t *testing.T) {
	e := newBundle(t)
	e.shell("exit 3")
	if res := e.run(); res.ExitCode != 3 {
		t.Fatalf("exit %d, want 3\n%s", res.ExitCode, res.Stderr)
	}
	// (Without a pid namespace: init of one cannot be killed from inside.)
	e.spec.Linux.Namespaces = withoutNS(e.spec.Linux.Namespaces, specs.PIDNamespace)
	e.shell("kill -KILL $$")
	if res := e.run(); res.ExitCode != 128+9 {
		t.Fatalf("exit %d, want 137\n%s", res.ExitCode, res.Stderr)
	}
}

func TestLifecycle(t *testing.T) {
	e := newBundle(t, "/bin/sleep", "1000")
	e.spec.Annotations = map[string]string{"org.example.key": "value"}
	id := e.newID()
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.mustCreate(id, "--pid-file", pidFile)

	st := e.state(id)
	if st.Status != runtime.Created || st.Pid <= 0 || st.ID != id || st.Bundle != e.bundle ||
		st.Rootfs != filepath.Join(e.bundle, "rootfs") || st.Annotations["org.example.key"] != "value" {
		t.Fatalf("state after create: %+v", st)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil || string(b) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q (%v), want %d", b, err, st.Pid)
	}
	// The state JSON has runc's fields, in runc's order.
	raw := e.mustHull("state", id).Stdout
	for _, k := range []string{"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"} {
		if !strings.Contains(raw, `"`+k+`"`) {
			t.Errorf("state has no %q:\n%s", k, raw)
		}
	}

	// CVE-2019-5736: init does not run from the hull binary itself, and
	// what it runs from cannot be written. The attack: hold
	// /proc/<init>/exe with O_PATH while init runs, reopen it for writing
	// once init has exec'd the container process (when ETXTBSY no longer
	// protects it).
	exePath := "/proc/" + strconv.Itoa(st.Pid) + "/exe"
	held := holdExe(t, exePath)
	defer held.Close()
	checkExeUnwritable(t, exePath, held)

	if res := e.hull("create", "--bundle", e.bundle, id); res.ExitCode != 1 || !strings.Contains(res.Stderr, "container with id exists") {
		t.Fatalf("second create: exit %d: %s", res.ExitCode, res.Stderr)
	}

	e.mustHull("start", id)
	st = e.waitStatus(id, runtime.Running)
	// The container process (sleep) replaced init: the held executable is
	// no longer being run, yet still cannot be written.
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(st.Pid) + "/exe"); !strings.HasSuffix(exe, "/busybox") {
		t.Fatalf("container process runs %q, want busybox", exe)
	}
	checkExeUnwritable(t, "/proc/self/fd/"+strconv.Itoa(int(held.Fd())), held)
	if res := e.hull("start", id); res.ExitCode != 1 {
		t.Fatalf("start of a running container: exit %d", res.ExitCode)
	}
	res := e.hull("delete", id)
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "cannot delete container "+id+" that is not stopped: running") {
		t.Fatalf("delete running: exit %d: %s", res.ExitCode, res.Stderr)
	}

	// list in both formats
	if out := e.mustHull("list").Stdout; !strings.HasPrefix(out, "ID ") || !strings.Contains(out, id) || !strings.Contains(out, "running") {
		t.Fatalf("list:\n%s", out)
	}
	var list []runtime.State
	if err := json.Unmarshal([]byte(e.mustHull("list", "--format", "json").Stdout), &list); err != nil || len(list) != 1 || list[0].Owner != "root" {
		t.Fatalf("list json: %+v (%v)", list, err)
	}
	var pids []int
	if err := json.Unmarshal([]byte(e.mustHull("ps", "--format", "json", id).Stdout), &pids); err != nil || len(pids) != 1 || pids[0] != st.Pid {
		t.Fatalf("ps json: %v (%v), want [%d]", pids, err, st.Pid)
	}

	e.mustHull("pause", id)
	e.waitStatus(id, runtime.Paused)
	e.mustHull("resume", id)
	e.waitStatus(id, runtime.Running)

	e.mustHull("kill", id, "KILL")
	st = e.waitStatus(id, runtime.Stopped)
	if st.Pid != 0 {
		t.Fatalf("stopped container has pid %d", st.Pid)
	}
	if res := e.hull("kill", id); res.ExitCode != 1 || !strings.Contains(res.Stderr, "container not running") {
		t.Fatalf("kill stopped: exit %d: %s", res.ExitCode, res.Stderr)
	}

	cg, err := cgroup.Load("/hull/" + id)
	if err != nil {
		t.Fatalf("container cgroup: %v", err)
	}
	dir := cg.Path("pids")
	e.mustHull("delete", id)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there after delete (%v)", dir, err)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Fatalf("state directory still there after delete (%v)", err)
	}
	if res := e.hull("state", id); res.ExitCode != 1 || !strings.Contains(res.Stderr, "container does not exist") {
		t.Fatalf("state after delete: exit %d: %s", res.ExitCode, res.Stderr)
	}
	e.mustHull("delete", "--force", id) // a missing container is fine with --force
}

func TestKillSignals(t *testing.T) {
	e := newBundle(t)
	// The shell traps TERM and USR1, reporting them on stdout.
	e.shell(`trap 'echo got-usr1' USR1; trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	id := e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	waitFor(t, func() bool { return strings.Contains(e.output(id), "ready") })
	e.mustHull("kill", id, "usr1")
	waitFor(t, func() bool { return strings.Contains(e.output(id), "got-usr1") })
	e.mustHull("kill", id) // SIGTERM
	e.waitStatus(id, runtime.Stopped)
	if !strings.Contains(e.output(id), "got-term") {
		t.Fatalf("output %q", e.output(id))
	}
	if res := e.hull("kill", id, "NOSUCHSIG"); res.ExitCode != 1 {
		t.Fatalf("bad signal: exit %d", res.ExitCode)
	}
	e.mustHull("delete", id)

	// kill --all reaches processes other than init.
	e.shell(`sleep 1000 & sleep 1000 & wait`)
	e.spec.Linux.Namespaces = withoutNS(e.spec.Linux.Namespaces, specs.PIDNamespace)
	id = e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	var pids []int
	waitFor(t, func() bool {
		_ = json.Unmarshal([]byte(e.mustHull("ps", "-f", "json", id).Stdout), &pids)
		return len(pids) == 3
	})
	e.mustHull("kill", "--all", id, "9")
	e.waitStatus(id, runtime.Stopped)
	for _, p := range pids {
		waitFor(t, func() bool { return !alive(p) })
	}
	e.mustHull("delete", id)
}

func TestDeleteCreatedAndForce(t *testing.T) {
	e := newBundle(t, "/bin/sleep", "1000")
	id := e.newID()
	e.mustCreate(id)
	pid := e.state(id).Pid
	e.mustHull("delete", id) // a created container is deleted (init killed)
	waitFor(t, func() bool { return !alive(pid) })

	// SIGTERM stops a created container (init has no handler).
	id = e.newID()
	e.mustCreate(id)
	e.mustHull("kill", id)
	e.waitStatus(id, runtime.Stopped)
	e.mustHull("delete", id)

	id = e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	pid = e.state(id).Pid
	e.mustHull("delete", "-f", id)
	waitFor(t, func() bool { return !alive(pid) })
	if res := e.hull("state", id); res.ExitCode != 1 {
		t.Fatalf("state after delete -f: exit %d", res.ExitCode)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newBundle(t, "/bin/true")
	cases := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   string
	}{
		{"no root path", func(s *specs.Spec) { s.Root.Path = "" }, "root.path is required"},
		{"relative mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "rel/dir", Type: "tmpfs", Source: "tmpfs"})
		}, `mount destination "rel/dir" must be an absolute path`},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, `unknown namespace type "bogus"`},
		{"join user ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/self/ns/user"})
		}, "joining an existing user namespace"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "must be an absolute path"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args must not be empty"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "nonexistent" }, "rootfs"},
		{"not in PATH", func(s *specs.Spec) { s.Process.Args = []string{"no-such-binary"} }, `exec: "no-such-binary": executable file not found in $PATH`},
		{"terminal without socket", func(s *specs.Spec) { s.Process.Terminal = true }, "cannot allocate tty"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.UTSNamespace)
		}, "without a private UTS namespace"},
	}
	orig, _ := json.Marshal(e.spec)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.spec = new(specs.Spec)
			_ = json.Unmarshal(orig, e.spec)
			c.mutate(e.spec)
			id := e.newID()
			res := e.create(id)
			if res.ExitCode != 1 || !strings.Contains(res.Stdout, c.want) {
				t.Fatalf("create: exit %d, output %q, want exit 1 and %q", res.ExitCode, res.Stdout, c.want)
			}
			if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
				t.Fatalf("state directory left behind (%v)", err)
			}
			if _, err := cgroup.Load("/hull/" + id); err == nil {
				t.Fatal("cgroup left behind")
			}
		})
	}
}

func TestSpecAndFeatures(t *testing.T) {
	e := newBundle(t)
	dir := t.TempDir()
	e.mustHull("spec", "--bundle", dir)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil || s.Root == nil || s.Root.Path != "rootfs" {
		t.Fatalf("config.json: %v\n%s", err, b)
	}
	if res := e.hull("spec", "--bundle", dir); res.ExitCode != 1 || !strings.Contains(res.Stderr, "exists") {
		t.Fatalf("spec over an existing config.json: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var f struct {
		OCIVersionMax string   `json:"ociVersionMax"`
		Hooks         []string `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(e.mustHull("features").Stdout), &f); err != nil || f.OCIVersionMax != specs.Version || len(f.Hooks) != 6 {
		t.Fatalf("features: %+v (%v)", f, err)
	}
	if res := e.hull("--systemd-cgroup", "list"); res.ExitCode != 1 {
		t.Fatalf("--systemd-cgroup: exit %d", res.ExitCode)
	}
	// runc's global flags that containerd passes are accepted.
	logFile := filepath.Join(t.TempDir(), "log.json")
	e.mustHull("--log", logFile, "--log-format", "json", "--debug", "list")
	if res := e.hull("--log", logFile, "--log-format", "json", "state", "nope"); res.ExitCode != 1 {
		t.Fatalf("state nope: exit %d", res.ExitCode)
	}
	b, _ = os.ReadFile(logFile)
	var line struct{ Level, Msg string }
	if err := json.Unmarshal(b, &line); err != nil || line.Level != "error" || line.Msg != "container does not exist" {
		t.Fatalf("log file %q (%v)", b, err)
	}
}

func withoutNS(nss []specs.LinuxNamespace, typ specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != typ {
			out = append(out, ns)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

// holdExe opens the executable of /proc/<pid>/exe with O_PATH, as an
// attacker in the container would, and checks it is not the hull binary.
func holdExe(t *testing.T, exePath string) *os.File {
	t.Helper()
	fd, err := unix.Open(exePath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", exePath, err)
	}
	f := os.NewFile(uintptr(fd), exePath)
	var held, bin unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(testutil.HullBinary(t), &bin); err != nil {
		t.Fatal(err)
	}
	if held.Dev == bin.Dev && held.Ino == bin.Ino {
		t.Fatalf("init runs the hull binary %s itself", testutil.HullBinary(t))
	}
	return f
}

// checkExeUnwritable checks that path (init's executable, held open as
// held) cannot be opened for writing, or, if it can (a sealed memfd), not
// written; and that a refusal is not merely ETXTBSY, which lasts only as
// long as something executes it.
func checkExeUnwritable(t *testing.T, path string, held *os.File) {
	t.Helper()
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
		f, err := os.OpenFile(path, flag, 0)
		if err == nil {
			_, werr := f.Write([]byte("x"))
			f.Close()
			if werr == nil {
				t.Fatalf("wrote to init's executable through %s", path)
			}
			continue
		}
		switch {
		case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		case errors.Is(err, syscall.ETXTBSY):
			// Still being executed: it must be on a read-only mount or
			// a memfd sealed against writes all the same.
			var sfs unix.Statfs_t
			if unix.Fstatfs(int(held.Fd()), &sfs) == nil && sfs.Flags&unix.ST_RDONLY != 0 {
				break
			}
			r, rerr := os.Open("/proc/self/fd/" + strconv.Itoa(int(held.Fd())))
			if rerr != nil {
				t.Fatal(rerr)
			}
			seals, serr := unix.FcntlInt(r.Fd(), unix.F_GET_SEALS, 0)
			r.Close()
			if serr != nil || seals&unix.F_SEAL_WRITE == 0 {
				t.Fatalf("open %s for writing: ETXTBSY, and it is neither read-only nor sealed (seals %#x, %v)", path, seals, serr)
			}
		default:
			t.Fatalf("open %s with flags %#x: %v", path, flag, err)
		}
	}
}
