package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/container"
)

func TestLifecycleDetachedLogs(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	id := strings.TrimSpace(e.must("run", "-d", "--name", "talker", "busybox", "sh", "-c",
		`for i in 1 2 3; do echo err$i >&2; done; sleep 0.2; for i in 1 2 3; do echo out$i; done; sleep 1.5; echo late`).stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a container ID", id)
	}
	// logs -f follows until the container stops, then ends.
	follow := e.start("logs", "-f", "talker")
	e.waitFor(5*time.Second, "the first lines", func() bool { return strings.Contains(e.must("logs", "talker").stdout, "out3") })
	r := e.must("logs", "talker")
	if r.stdout != "out1\nout2\nout3\n" || r.stderr != "err1\nerr2\nerr3\n" {
		t.Errorf("logs while running:\n%v", r)
	}
	if r := e.must("logs", "--tail", "2", "talker"); r.stdout != "out2\nout3\n" || r.stderr != "" {
		t.Errorf("logs --tail 2:\n%v", r)
	}
	if r := e.must("logs", "-n", "0", "talker"); r.stdout+r.stderr != "" {
		t.Errorf("logs -n 0:\n%v", r)
	}
	r = e.must("logs", "-t", "--tail", "1", "talker")
	line := strings.TrimSpace(r.stdout + r.stderr)
	ts, rest, _ := strings.Cut(line, " ")
	if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(tm) > time.Minute || rest == "" {
		t.Errorf("logs -t: %q (%v)", line, err)
	}
	fr := follow(10 * time.Second)
	if fr.code != 0 || fr.stdout != "out1\nout2\nout3\nlate\n" || fr.stderr != "err1\nerr2\nerr3\n" {
		t.Errorf("logs -f:\n%v", fr)
	}
	if r := e.must("wait", "talker"); r.stdout != "0\n" {
		t.Errorf("wait of a stopped container:\n%v", r)
	}
	// --since: only what came after the pause.
	if r := e.must("logs", "--since", "1s", "talker"); r.stdout != "late\n" && r.stdout != "" {
		t.Errorf("logs --since 1s:\n%v", r)
	}
	all := e.must("logs", "--since", "1h", "talker")
	if all.stdout != "out1\nout2\nout3\nlate\n" {
		t.Errorf("logs --since 1h:\n%v", all)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if r := e.must("logs", "--since", future, "talker"); r.stdout+r.stderr != "" {
		t.Errorf("logs --since the future:\n%v", r)
	}
	// logs -f of a stopped container returns at once.
	start := time.Now()
	e.must("logs", "-f", "talker")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("logs -f of a stopped container took %v", d)
	}
	e.fails("logs", "no-such-container")
}

func TestLifecycleDetachedOperations(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	e.must("run", "-d", "--name", "svc", "busybox", "sh", "-c", `trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done`)
	// ready waits for the n-th run to have set its trap (a SIGTERM
	// before that is ignored by the shell as PID 1).
	ready := func(name string, n int) {
		t.Helper()
		e.waitFor(5*time.Second, "run "+strconv.Itoa(n)+" of "+name, func() bool {
			return strings.Count(e.must("logs", name).stdout, "ready\n") >= n
		})
	}
	ready("svc", 1)
	if st := e.status("svc"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("status after run -d: %q", st)
	}
	// pause / unpause
	e.must("pause", "svc")
	if st := e.status("svc"); !strings.HasSuffix(st, "(Paused)") {
		t.Errorf("status after pause: %q", st)
	}
	e.expect(1, "pause", "svc")
	e.must("unpause", "svc")
	if st := e.status("svc"); !strings.HasPrefix(st, "Up ") || strings.Contains(st, "Paused") {
		t.Errorf("status after unpause: %q", st)
	}
	e.expect(1, "unpause", "svc")
	// rename
	e.must("rename", "svc", "svc2")
	e.fails("logs", "svc")
	if st := e.status("svc2"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("status after rename: %q", st)
	}
	// wait prints the exit code once the container stops.
	wait := e.start("wait", "svc2")
	time.Sleep(200 * time.Millisecond)
	e.must("kill", "-s", "TERM", "svc2")
	if r := wait(10 * time.Second); r.code != 0 || r.stdout != "42\n" {
		t.Errorf("wait:\n%v", r)
	}
	if st := e.status("svc2"); !strings.HasPrefix(st, "Exited (42)") {
		t.Errorf("status after kill -s TERM: %q", st)
	}
	e.expect(1, "kill", "svc2") // not running
	// start again, restart, stop
	e.must("start", "svc2")
	ready("svc2", 2)
	pid1 := e.record("svc2").State.Pid
	e.must("restart", "svc2")
	ready("svc2", 3)
	rec := e.record("svc2")
	if rec.State.Status != container.Running || rec.State.Pid == pid1 || rec.State.Pid == 0 {
		t.Errorf("restart: %+v (pid before %d)", rec.State, pid1)
	}
	e.must("stop", "svc2")
	if rec := e.record("svc2"); rec.State.ExitCode != 42 || !rec.State.ManuallyStopped {
		t.Errorf("after stop: %+v", rec.State)
	}
	e.must("stop", "svc2") // stopping a stopped container is fine
	e.must("restart", "svc2")
	if st := e.status("svc2"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("restart of a stopped container: %q", st)
	}
	e.expect(1, "rm", "svc2") // running
	e.must("kill", "svc2")
	if st := e.status("svc2"); !strings.HasPrefix(st, "Exited (137)") {
		t.Errorf("status after kill: %q", st)
	}

	// start -a of a stopped container attaches its output and exit code.
	e.expect(5, "run", "--name", "again", "busybox", "sh", "-c", `echo "run $(cat /tmp/n 2>/dev/null || echo 0)"; echo x >> /tmp/n; echo e >&2; exit 5`)
	r := e.expect(5, "start", "-a", "again")
	if r.stdout != "run x\n" || r.stderr != "e\n" {
		t.Errorf("start -a:\n%v", r)
	}
	if out := e.must("logs", "again").stdout; out != "run 0\nrun x\n" {
		t.Errorf("logs after two runs: %q", out)
	}
	// create then start.
	id := strings.TrimSpace(e.must("create", "--name", "made", "busybox", "sh", "-c", "echo made; sleep 100").stdout)
	if st := e.status("made"); st != "Created" {
		t.Errorf("status after create: %q", st)
	}
	if out := e.must("start", "made").stdout; out != "made\n" {
		t.Errorf("start printed %q", out)
	}
	e.waitFor(5*time.Second, "made's output", func() bool { return e.must("logs", id[:12]).stdout == "made\n" })
	e.must("start", "made") // a no-op on a running container
	if rec := e.record("made"); rec.RestartCount != 0 || rec.State.Status != container.Running {
		t.Errorf("made: %+v", rec)
	}
	r = e.must("rm", "-f", "made", "svc2", "again")
	if r.stdout != "made\nsvc2\nagain\n" {
		t.Errorf("rm -f printed %q", r.stdout)
	}
	e.assertNoContainers()
	r = e.expect(1, "rm", "made")
	if !strings.Contains(r.stderr, "No such container: made") {
		t.Errorf("rm of a removed container:\n%v", r)
	}
}

func TestLifecycleWaitAndRm(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	// wait on an --rm container returns its exit code as it goes away.
	e.must("run", "-d", "--rm", "--name", "brief", "busybox", "sh", "-c", "sleep 0.5; exit 9")
	if r := e.must("wait", "brief"); r.stdout != "9\n" {
		t.Errorf("wait of an --rm container:\n%v", r)
	}
	e.waitFor(5*time.Second, "brief to be removed", func() bool { return len(e.ids()) == 0 })
	// Several waits on one container.
	e.must("run", "-d", "--name", "many", "busybox", "sh", "-c", "sleep 0.5; exit 4")
	var waits []func(time.Duration) lcResult
	for range 3 {
		waits = append(waits, e.start("wait", "many"))
	}
	for _, w := range waits {
		if r := w(10 * time.Second); r.stdout != "4\n" {
			t.Errorf("wait:\n%v", r)
		}
	}
	// rm -f of running containers, several at once.
	var ids []string
	for i := range 3 {
		ids = append(ids, strings.TrimSpace(e.must("run", "-d", "--name", "busy"+strconv.Itoa(i), "busybox", "sleep", "100").stdout))
	}
	e.must(append([]string{"rm", "-f"}, ids...)...)
	e.must("rm", "many")
	e.assertNoContainers()
}

// TestLifecyclePsRestartPolicyFilter checks ps --filter restart-policy=,
// what the README gives for restarting `always` containers after a reboot.
func TestLifecyclePsRestartPolicyFilter(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	e.must("create", "--name", "ra", "--restart", "always", "busybox", "true")
	e.must("create", "--name", "rn", "busybox", "true")
	for policy, want := range map[string]string{"always": "ra", "no": "rn", "on-failure": ""} {
		got := strings.TrimSpace(e.must("ps", "-a", "--filter", "restart-policy="+policy, "--filter", "status=created", "--format", "{{.Names}}").stdout)
		if got != want {
			t.Errorf("restart-policy=%s: got %q, want %q", policy, got, want)
		}
	}
}
