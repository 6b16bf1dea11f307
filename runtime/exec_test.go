package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExec(t *testing.T) {
	e := newBundle(t)
	e.shell(`echo started > /tmp/marker; exec sleep 1000`)
	id := e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(e.bundle, "rootfs/tmp/marker"))
		return string(b) == "started\n"
	})

	// Same mount, pid and UTS namespaces and cgroup as init; the
	// container's seccomp profile.
	res := e.hull("exec", id, "sh", "-c", `cat /tmp/marker; hostname; echo pid=$$; grep -c hull-test /proc/self/cgroup; grep Seccomp: /proc/self/status; exit 5`)
	if res.ExitCode != 5 {
		t.Fatalf("exec: exit %d\n%s", res.ExitCode, res.Stderr)
	}
	out := res.Stdout
	for _, want := range []string{"started\n", "hull\n", "Seccomp:\t2"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pid=1\n") || !strings.Contains(out, "pid=") || strings.Contains(out, "\n0\n") {
		t.Errorf("exec'd process not in the container's pid namespace or cgroup:\n%s", out)
	}

	// User, env, cwd, additional gids from flags.
	out = e.mustHull("exec", "--user", "1000:1001", "-g", "7", "-e", "FOO=bar", "--cwd", "/tmp", id, "sh", "-c", `echo "$(id -u) $(id -g) $(id -G) $FOO $(pwd)"`).Stdout
	if !strings.HasPrefix(out, "1000 1001 ") || !strings.Contains(out, " 7 ") || !strings.HasSuffix(out, "bar /tmp\n") {
		t.Errorf("exec with flags: %q", out)
	}

	// --process, detached, with a pid file.
	proc := specs.Process{Args: []string{"/bin/sh", "-c", "echo from-process-json > /tmp/pj"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	b, _ := json.Marshal(proc)
	pj := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(pj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	e.mustHull("exec", "--process", pj, "--detach", "--pid-file", pidFile, id)
	if b, err := os.ReadFile(pidFile); err != nil || len(b) == 0 {
		t.Errorf("exec pid file: %q, %v", b, err)
	} else if _, err := strconv.Atoi(string(b)); err != nil {
		t.Errorf("exec pid file: %q", b)
	}
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(e.bundle, "rootfs/tmp/pj"))
		return string(b) == "from-process-json\n"
	})

	// A terminal relayed by hull itself.
	cmd := testutil.HullCmd(t, e.root, "runtime", "exec", "-t", id, "sh", "-c", "tty; echo tty-ok")
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.Output()
	if err != nil || !strings.Contains(string(b), "/dev/pts/") || !strings.Contains(string(b), "tty-ok") {
		t.Errorf("exec -t: %q, %v", b, err)
	}

	if res := e.hull("exec", id, "no-such-command"); res.ExitCode != 1 || !strings.Contains(res.Stderr, "executable file not found") {
		t.Errorf("exec of a missing command: exit %d: %s", res.ExitCode, res.Stderr)
	}
	e.mustHull("pause", id)
	if res := e.hull("exec", id, "true"); res.ExitCode != 1 || !strings.Contains(res.Stderr, "paused") {
		t.Errorf("exec in a paused container: exit %d: %s", res.ExitCode, res.Stderr)
	}
	// The process joins the frozen cgroup (once it has execve'd) and runs
	// on resume. (Its stdio is /dev/null: it holds no pipe of ours.)
	if err := testutil.HullCmd(t, e.root, "runtime", "exec", "--ignore-paused", "--detach", id, "sh", "-c", "echo thawed > /tmp/thawed").Run(); err != nil {
		t.Errorf("exec --ignore-paused: %v", err)
	}
	e.mustHull("resume", id)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(e.bundle, "rootfs/tmp/thawed"))
		return string(b) == "thawed\n"
	})

	e.mustHull("kill", id, "KILL")
	e.waitStatus(id, runtime.Stopped)
	if res := e.hull("exec", id, "true"); res.ExitCode != 1 || !strings.Contains(res.Stderr, "stopped") {
		t.Errorf("exec in a stopped container: exit %d: %s", res.ExitCode, res.Stderr)
	}
	e.mustHull("delete", id)
}

func TestUpdate(t *testing.T) {
	e := newBundle(t, "/bin/sleep", "1000")
	limit := int64(64 << 20)
	e.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	id := e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	e.mustHull("update", "--memory", "128m", "--pids-limit", "42", id)
	cat := `cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max`
	if out := e.mustHull("exec", id, "sh", "-c", cat).Stdout; out != "134217728\n42\n" {
		t.Fatalf("after update: %q", out)
	}
	cmd := testutil.HullCmd(t, e.root, "runtime", "update", "-r", "-", id)
	cmd.Stdin = strings.NewReader(`{"pids":{"limit":77}}`)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update -r -: %v\n%s", err, b)
	}
	if out := e.mustHull("exec", id, "sh", "-c", cat).Stdout; out != "134217728\n77\n" {
		t.Fatalf("after update -r: %q", out)
	}
	e.mustHull("delete", "-f", id)
}
