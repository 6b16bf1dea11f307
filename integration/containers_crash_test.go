package integration

import (
	"github.com/hull-project/hull/internal/testutil"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/container"
)

// TestContainersMonitorKilled: a kill -9 of the monitor leaves its
// containers running and the store telling the truth about them.
func TestContainersMonitorKilled(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	e.must("run", "-d", "--name", "orphan", "busybox", "sh", "-c", "echo before; sleep 100")
	e.must("run", "-d", "--name", "orphan2", "busybox", "sleep", "100")
	e.waitFor(5*time.Second, "orphan's output", func() bool { return e.must("logs", "orphan").stdout == "before\n" })
	e.killMonitors(syscall.SIGKILL)

	// Still running: ps says so.
	for _, name := range []string{"orphan", "orphan2"} {
		if st := e.status(name); !strings.HasPrefix(st, "Up ") {
			t.Errorf("%s after the monitor died: %q", name, st)
		}
	}
	if out := e.must("ps", "-q").stdout; len(strings.Fields(out)) != 2 {
		t.Errorf("ps after the monitor died: %q", out)
	}
	// The container's process dies unseen: exited with the lost exit code.
	rec := e.record("orphan")
	e.killPid(rec.State.Pid)
	if st := e.status("orphan"); !strings.HasPrefix(st, "Exited (255)") {
		t.Errorf("orphan after its process died: %q", st)
	}
	rec = e.record("orphan")
	if rec.State.Status != container.Exited || rec.State.ExitCode != container.LostExitCode || rec.State.Pid != 0 || rec.State.Error == "" {
		t.Errorf("orphan's state: %+v", rec.State)
	}
	if m, _ := container.IsMounted(e.store().Rootfs(rec.ID)); m {
		t.Errorf("orphan's rootfs is still mounted")
	}
	if out := e.must("logs", "orphan").stdout; out != "before\n" {
		t.Errorf("logs of orphan: %q", out)
	}
	// The orphan still running can be stopped and waited for.
	e.must("stop", "-t", "1", "orphan2")
	if st := e.status("orphan2"); !strings.HasPrefix(st, "Exited") {
		t.Errorf("orphan2 after stop: %q", st)
	}
	// A new monitor takes over: new containers run, old ones start again.
	if r := e.must("run", "--rm", "busybox", "echo", "new"); r.stdout != "new\n" {
		t.Errorf("run after the monitor died:\n%v", r)
	}
	e.must("start", "orphan")
	if st := e.status("orphan"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("orphan after start: %q", st)
	}
	e.must("rm", "-f", "orphan", "orphan2")
	e.checkContainerStore()
}

// TestContainersMonitorKilledWhileOrphanRuns: an orphan that is still
// running cannot be started twice, and rm -f and kill reach it.
func TestContainersOrphanOperations(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	e.must("run", "-d", "--name", "o1", "busybox", "sleep", "100")
	e.must("run", "-d", "--name", "o2", "busybox", "sleep", "100")
	e.killMonitors(syscall.SIGKILL)
	pid1 := e.record("o1").State.Pid
	e.must("start", "o1") // running: a no-op, as in Docker
	if rec := e.record("o1"); rec.State.Pid != pid1 || rec.State.Status != container.Running {
		t.Errorf("start of a running orphan: %+v (pid was %d)", rec.State, pid1)
	}
	e.must("kill", "o1")
	e.waitFor(5*time.Second, "o1 to die", func() bool { return !pidAlive(pid1) })
	if st := e.status("o1"); !strings.HasPrefix(st, "Exited") {
		t.Errorf("o1 after kill: %q", st)
	}
	pid2 := e.record("o2").State.Pid
	e.must("rm", "-f", "o2")
	if pidAlive(pid2) {
		t.Errorf("rm -f left the orphan's process running")
	}
	e.must("rm", "o1")
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	if mps := testutil.MountsUnder(e.dir); len(mps) != 0 {
		t.Errorf("mounts left: %v", mps)
	}
}

// TestContainersKill9CLI kills `run -d`, `rm -f` and `stop` at several
// moments: the store stays usable and holds no half container.
func TestContainersKill9CLI(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	delays := []time.Duration{0, 5 * time.Millisecond, 15 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	for i, d := range delays {
		e.killDuring(d, "run", "-d", "--name", "k"+strconv.Itoa(i), "-v", "/anon", "busybox", "sleep", "100")
	}
	e.checkContainerStore()
	// Every container left can be run and removed; names of killed
	// creates are free or taken by a whole container.
	for i := range delays {
		name := "k" + strconv.Itoa(i)
		names := strings.Fields(e.must("ps", "-a", "--format", "{{.Names}}").stdout)
		if !slices.Contains(names, name) {
			e.must("run", "-d", "--name", name, "busybox", "sleep", "100")
		} else {
			e.must("start", name)
		}
	}
	if out := e.must("ps", "-q").stdout; len(strings.Fields(out)) != len(delays) {
		t.Errorf("running: %q, want %d containers", out, len(delays))
	}
	for i, d := range delays {
		e.killDuring(d, "rm", "-f", "k"+strconv.Itoa(i))
	}
	e.checkContainerStore()
	for i, d := range delays {
		e.killDuring(d, "stop", "-t", "0", "k"+strconv.Itoa(i))
	}
	e.checkContainerStore()
	if ids := e.ids(); len(ids) > 0 {
		e.must(append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	e.checkContainerStore()
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	// The next create cleans what killed creates and removals left.
	e.must("create", "--name", "last", "busybox", "true")
	e.must("rm", "last")
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, ent := range ents {
		if ent.Name() != ".lock" {
			t.Errorf("left in the container store: %s", ent.Name())
		}
	}
	if mps := testutil.MountsUnder(e.dir); len(mps) != 0 {
		t.Errorf("mounts left: %v", mps)
	}
}

// TestContainersReboot simulates a reboot: every process and the whole
// runroot (a tmpfs) gone, nothing mounted.
func TestContainersReboot(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	e.must("run", "-d", "--name", "rb", "-v", "rbvol:/data", "busybox", "sh", "-c", "echo persisted > /data/f; sleep 100")
	e.waitFor(5*time.Second, "rb to write", func() bool {
		return e.hull("run", "--rm", "-v", "rbvol:/d", "busybox", "cat", "/d/f").stdout == "persisted\n"
	})
	e.must("create", "--name", "never", "busybox", "true")
	if r := e.hull("run", "--name", "done", "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("run:\n%v", r)
	}
	rec := e.record("rb")
	e.killMonitors(syscall.SIGTERM)
	e.killPid(rec.State.Pid)
	for _, mp := range testutil.MountsUnder(e.dir) {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(e.runroot); err != nil {
		t.Fatal(err)
	}
	if st := e.status("rb"); !strings.HasPrefix(st, "Exited (255)") {
		t.Errorf("rb after the reboot: %q", st)
	}
	if st := e.status("never"); st != "Created" {
		t.Errorf("never after the reboot: %q", st)
	}
	if st := e.status("done"); !strings.HasPrefix(st, "Exited (3)") {
		t.Errorf("done after the reboot: %q", st)
	}
	e.must("start", "rb")
	if st := e.status("rb"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("rb after start: %q", st)
	}
	if r := e.must("run", "--rm", "-v", "rbvol:/d", "busybox", "cat", "/d/f"); r.stdout != "persisted\n" {
		t.Errorf("volume after the reboot:\n%v", r)
	}
	if r := e.hull("start", "-a", "done"); r.code != 3 {
		t.Errorf("start -a done after the reboot:\n%v", r)
	}
	e.must("rm", "-f", "rb", "never", "done")
	e.checkContainerStore()
}

// TestContainersConcurrentNames: concurrent runs with one name give one
// container and clean errors; with different names they all work.
func TestContainersConcurrentNames(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	const n = 6
	res := make([]ctResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.hull("run", "-d", "--name", "same", "-v", "/anon", "busybox", "sleep", "100")
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range res {
		switch {
		case r.code == 0:
			ok++
		case r.code == 125 && strings.Contains(r.stderr, `The container name "/same" is already in use`) && strings.Count(r.stderr, "\n") == 1:
		default:
			t.Errorf("concurrent run with one name:\n%v", r)
		}
	}
	if ok != 1 {
		t.Errorf("%d runs with the name same succeeded, want 1", ok)
	}
	if ids := e.ids(); len(ids) != 1 {
		t.Errorf("containers: %v, want 1", ids)
	}
	// The losers' anonymous volumes are gone.
	if vols := strings.Fields(e.must("volume", "ls", "-q").stdout); len(vols) != 1 {
		t.Errorf("volumes: %v, want the winner's only", vols)
	}
	// Different names, with ps and rm in between.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.hull("run", "-d", "--name", "c"+strconv.Itoa(i), "busybox", "sleep", "100")
			e.hull("ps", "-a")
		}()
	}
	wg.Wait()
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("concurrent run:\n%v", r)
		}
	}
	if out := e.must("ps", "-q").stdout; len(strings.Fields(out)) != n+1 {
		t.Errorf("running: %q", out)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.hull("rm", "-f", "c"+strconv.Itoa(i))
		}()
	}
	wg.Wait()
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("concurrent rm -f:\n%v", r)
		}
	}
	e.must("rm", "-f", "-v", "same")
	e.checkContainerStore()
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
}

// TestContainersMonitorIdle: the monitor stays while it supervises a
// container (restart backoffs included) and exits when idle.
func TestContainersMonitorIdle(t *testing.T) {
	t.Parallel()
	e := newCT(t)
	e.must("run", "--rm", "busybox", "true")
	e.waitFor(6*time.Second, "the idle monitor to exit", func() bool { return len(e.monitorPids()) == 0 })
	if _, err := os.Stat(filepath.Join(e.store().RunDir(), "monitor.sock")); err == nil {
		t.Errorf("the idle monitor left its socket")
	}
	e.must("run", "-d", "--name", "long", "busybox", "sleep", "100")
	e.must("run", "-d", "--name", "flappy", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3; exit 1")
	time.Sleep(3500 * time.Millisecond)
	if len(e.monitorPids()) != 1 {
		t.Fatalf("monitors while containers run: %v", e.monitorPids())
	}
	e.must("stop", "-t", "1", "long", "flappy")
	e.waitFor(6*time.Second, "the monitor to exit after the last container", func() bool { return len(e.monitorPids()) == 0 })
	e.must("rm", "long", "flappy")
}
