package integration

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
)

// ctdImage is the name ctr gives the image hull saves as busybox:latest.
const ctdImage = "docker.io/library/busybox:latest"

// ctdTask is the PID and STATUS columns of `ctr task ls` for id, or a zero
// pid and "" if it lists no such task.
func ctdTask(t *testing.T, ctd *testutil.Containerd, id string) (pid int, status string) {
	t.Helper()
	out := ctd.MustCtr("task", "ls").Stdout
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("ctr task ls: bad pid in %q", line)
			}
			return pid, f[2]
		}
	}
	return 0, ""
}

// waitTask waits until `ctr task ls` shows id with status want.
func waitTask(t *testing.T, ctd *testutil.Containerd, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st := ctdTask(t, ctd, id)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %q, not %s, after 10s", id, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestContainerdRunsHullRuntime is the interop proof for `hull runtime`:
// Debian's containerd, through its runc shim (io.containerd.runc.v2) with
// hull as the runc binary (a link named hull-runtime), runs a container,
// execs into one, pauses, resumes and kills it, and deletes it, with an
// image that hull built and saved.
func TestContainerdRunsHullRuntime(t *testing.T) {
	ctd := testutil.StartContainerd(t)

	// The image: built by hull, imported into containerd.
	root := t.TempDir()
	testutil.MustHull(t, root, "import", "-c", `CMD ["sh"]`, testutil.BusyboxTar(t), "busybox:latest")
	imgTar := filepath.Join(t.TempDir(), "busybox.tar")
	testutil.MustHull(t, root, "save", "-o", imgTar, "busybox:latest")
	if out := ctd.MustCtr("images", "import", "--snapshotter", "overlayfs", imgTar).Stdout; !strings.Contains(out, ctdImage) {
		t.Fatalf("ctr images import did not name the image %s:\n%s", ctdImage, out)
	}

	// hull as its runtime, the way it is deployed for containerd.
	runtimeBin := filepath.Join(ctd.Dir, "hull-runtime")
	if err := os.Symlink(testutil.HullBinary(t), runtimeBin); err != nil {
		t.Fatal(err)
	}
	run := func(id string, args ...string) testutil.Result {
		t.Helper()
		flags := []string{"run", "--runtime", "io.containerd.runc.v2",
			"--runc-binary", runtimeBin, "--runc-root", ctd.RuncRoot,
			"--fifo-dir", ctd.FifoDir, "--cgroup", ctd.CgroupParent + "/" + id, "--snapshotter", "overlayfs"}
		return ctd.Ctr(append(flags, args...)...)
	}
	// The shim adds the namespace to --runc-root.
	stateDir := func(id string) string { return filepath.Join(ctd.RuncRoot, ctd.Namespace, id) }

	// Run in the foreground: output and exit status come through the shim
	// (ctr exits with the task's status), and --rm deletes the container.
	res := run("t1", "--rm", ctdImage, "t1", "sh", "-c", "echo hello-from-hull; exit 3")
	if res.ExitCode != 3 || !strings.Contains(res.Stdout, "hello-from-hull") {
		t.Fatalf("ctr run t1: exit %d (want 3)\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if _, err := os.Stat(stateDir("t1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("runtime state of t1 outlives ctr run --rm: %v", err)
	}

	// Detached.
	if res := run("t2", "-d", ctdImage, "t2", "sleep", "1000"); res.ExitCode != 0 {
		t.Fatalf("ctr run -d t2: exit %d\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	pid, st := ctdTask(t, ctd, "t2")
	if st != "RUNNING" || pid <= 0 {
		t.Fatalf("ctr task ls shows t2 as pid %d, %q; want RUNNING", pid, st)
	}

	// It really is hull's container: the state under the --root the shim
	// passed is hull's state.json (runc's has init_process_pid instead),
	// whose init is the task, a child of the shim.
	b, err := os.ReadFile(filepath.Join(stateDir("t2"), "state.json"))
	if err != nil {
		t.Fatalf("no runtime state where the shim keeps it: %v", err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("state.json: %v", err)
	}
	var initPid int
	if err := json.Unmarshal(rec["initPid"], &initPid); err != nil || rec["initStartTime"] == nil || rec["init_process_pid"] != nil {
		t.Fatalf("state.json is not hull's (initPid: %v):\n%.400s", err, b)
	}
	if initPid != pid {
		t.Fatalf("hull's state.json has init pid %d, containerd's task is pid %d", initPid, pid)
	}
	if comm := parentComm(t, pid); comm != "containerd-shim" { // comm is cut to 15 bytes
		t.Fatalf("task pid %d's parent is %q, not the shim", pid, comm)
	}

	// Exec: output and status of the exec'd process.
	res = ctd.Ctr("task", "exec", "--fifo-dir", ctd.FifoDir, "--exec-id", "e1", "t2", "sh", "-c", "echo in-exec; exit 4")
	if res.ExitCode != 4 || !strings.Contains(res.Stdout, "in-exec") {
		t.Fatalf("ctr task exec: exit %d (want 4)\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	// A failed exec: the shim reports the runtime's error from its --log.
	res = ctd.Ctr("task", "exec", "--fifo-dir", ctd.FifoDir, "--exec-id", "e2", "t2", "/nonexistent")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, `"/nonexistent"`) {
		t.Fatalf("ctr task exec /nonexistent: exit %d, want a failure naming it\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}

	if out := ctd.MustCtr("task", "ps", "t2").Stdout; !strings.Contains(out, strconv.Itoa(pid)) {
		t.Fatalf("ctr task ps t2 does not list pid %d:\n%s", pid, out)
	}

	ctd.MustCtr("task", "pause", "t2")
	waitTask(t, ctd, "t2", "PAUSED")
	ctd.MustCtr("task", "resume", "t2")
	waitTask(t, ctd, "t2", "RUNNING")

	ctd.MustCtr("task", "kill", "-s", "SIGKILL", "t2")
	waitTask(t, ctd, "t2", "STOPPED")
	// ctr warns of the non-zero exit status it deletes the task with.
	if res := ctd.MustCtr("task", "rm", "t2"); !strings.Contains(res.Stderr, "137") {
		t.Errorf("ctr task rm t2 does not report exit status 137 (SIGKILL):\n%s", res.Stderr)
	}
	ctd.MustCtr("container", "rm", "t2")
	if _, err := os.Stat(stateDir("t2")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("runtime state of t2 outlives ctr task rm: %v", err)
	}
	if out := ctd.MustCtr("task", "ls", "-q").Stdout + ctd.MustCtr("container", "ls", "-q").Stdout; strings.TrimSpace(out) != "" {
		t.Errorf("containerd still has tasks or containers:\n%s", out)
	}
}

// parentComm returns the command name of pid's parent.
func parentComm(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	comm, err := os.ReadFile("/proc/" + f[1] + "/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(comm))
}
