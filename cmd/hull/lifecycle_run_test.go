package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/testutil"
)

// parallel runs several hull commands at once and returns their results
// in order.
func (e *lcEnv) parallel(cmds ...[]string) []lcResult {
	res := make([]lcResult, len(cmds))
	var wg sync.WaitGroup
	for i, args := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.hull(args...)
		}()
	}
	wg.Wait()
	return res
}

// assertNoContainers checks that the store holds no container, no
// container directory and no mount.
func (e *lcEnv) assertNoContainers() {
	e.t.Helper()
	if ids := e.ids(); len(ids) != 0 {
		e.t.Errorf("containers left behind: %v", ids)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, ent := range ents {
		if ent.Name() != ".lock" {
			e.t.Errorf("left in the container store: %s", ent.Name())
		}
	}
	if mps := testutil.MountsUnder(e.dir); len(mps) != 0 {
		e.t.Errorf("mounts left behind: %v", mps)
	}
}

func TestLifecycleRunOutputAndExitCode(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	r := e.expect(3, "run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; echo more-out; exit 3")
	if r.stdout != "to-out\nmore-out\n" || r.stderr != "to-err\n" {
		t.Errorf("stdout and stderr mixed up:\n%v", r)
	}
	r = e.must("run", "--rm", "busybox", "sh", "-c", "printf 'no newline'")
	if r.stdout != "no newline" {
		t.Errorf("stdout %q, want %q", r.stdout, "no newline")
	}
	// stdin is not attached without -i; with -i it is, and EOF ends it.
	r = e.hullIn("line one\nline two\n", "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo cat-done")
	if r.code != 0 || r.stdout != "line one\nline two\ncat-done\n" {
		t.Errorf("run -i:\n%v", r)
	}
	// A big output is not lost or reordered.
	r = e.must("run", "--rm", "busybox", "sh", "-c", "seq 1 20000")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 20000 || lines[19999] != "20000" {
		t.Errorf("seq 1 20000: got %d lines", len(lines))
	}
	e.assertNoContainers()
}

// TestLifecycleRunSlowReader: a reader slower than the container loses
// nothing (the container waits for it, as with docker run).
func TestLifecycleRunSlowReader(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	cmd := e.cmd("run", "--rm", "busybox", "sh", "-c", "head -c 30000000 /dev/zero; echo; echo end >&2; exit 4")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the container fills every buffer meanwhile
	n, err := io.Copy(io.Discard, iotest.OneByteReader(io.LimitReader(out, 64<<10)))
	if err == nil {
		var m int64
		m, err = io.Copy(io.Discard, out)
		n += m
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if err != nil || n != 30000001 || !errors.As(werr, &ee) || ee.ExitCode() != 4 || stderr.String() != "end\n" {
		t.Errorf("slow reader got %d bytes (%v), exit %v, stderr %q; want 30000001 bytes, exit 4", n, err, werr, stderr.String())
	}
	e.assertNoContainers()
}

func TestLifecycleRunFailures(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	missing := filepath.Join(e.dir, "no-such-dir")
	cases := []struct {
		name string
		code int
		args []string
		msg  string
	}{
		{"bad flag", 125, []string{"run", "--rm", "--no-such-flag", "busybox", "true"}, "unknown flag"},
		{"bad flag value", 125, []string{"run", "--rm", "-m", "lots", "busybox", "true"}, ""},
		{"unknown image", 125, []string{"run", "--rm", "127.0.0.1:1/no/such:image", "true"}, ""},
		{"unknown local image", 125, []string{"run", "--rm", "--pull", "never", "nosuchimage", "true"}, "No such image"},
		{"missing bind source", 125, []string{"run", "--rm", "--mount", "type=bind,src=" + missing + ",dst=/x", "busybox", "true"}, "does not exist"},
		{"missing bind source, no --rm", 125, []string{"run", "--mount", "type=bind,source=" + missing + ",target=/x", "busybox", "true"}, "does not exist"},
		{"restart and rm", 125, []string{"run", "--rm", "--restart", "always", "busybox", "true"}, "Conflicting options"},
		{"not executable", 126, []string{"run", "--rm", "busybox", "/etc/passwd"}, "permission denied"},
		{"directory", 126, []string{"run", "--rm", "busybox", "/etc"}, ""},
		{"missing command", 127, []string{"run", "--rm", "busybox", "no-such-command"}, "executable file not found"},
		{"missing path", 127, []string{"run", "--rm", "busybox", "/no/such/file"}, "no such file"},
		{"missing command, detached", 127, []string{"run", "-d", "--rm", "busybox", "no-such-command"}, "executable file not found"},
	}
	var cmds [][]string
	for _, c := range cases {
		cmds = append(cmds, c.args)
	}
	for i, r := range e.parallel(cmds...) {
		c := cases[i]
		if r.code != c.code {
			t.Errorf("%s: want exit %d:\n%v", c.name, c.code, r)
		} else if c.msg != "" && !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: want %q in stderr:\n%v", c.name, c.msg, r)
		}
		if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%s: hull crashed:\n%v", c.name, r)
		}
	}
	e.assertNoContainers()

	// A name in use: one clean error, the first container untouched.
	id := strings.TrimSpace(e.must("run", "-d", "--name", "taken", "busybox", "sleep", "30").stdout)
	r := e.expect(125, "run", "--rm", "--name", "taken", "busybox", "true")
	if !strings.Contains(r.stderr, `"/taken" is already in use`) {
		t.Errorf("name in use:\n%v", r)
	}
	e.expect(125, "create", "--name", "/taken", "busybox", "true")
	e.expect(125, "run", "-d", "--name", "bad name!", "busybox", "true")
	if ids := e.ids(); len(ids) != 1 || ids[0] != id {
		t.Errorf("containers after name conflicts: %v, want only %s", ids, id)
	}
	if st := e.status("taken"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("status of taken: %q", st)
	}
	e.must("rm", "-f", "taken")

	// Without --rm a container that cannot start stays "created", with
	// the reason, and can be removed.
	e.expect(127, "run", "--name", "c127", "busybox", "no-such-command")
	e.expect(126, "run", "-d", "--name", "c126", "busybox", "/etc/passwd")
	for name, code := range map[string]int{"c127": 127, "c126": 126} {
		rec := e.record(name)
		if rec.State.Status != container.Created || rec.State.ExitCode != code || rec.State.Error == "" || rec.State.Pid != 0 {
			t.Errorf("%s: state %+v, want created, exit code %d and an error", name, rec.State, code)
		}
		if st := e.status(name); st != "Created" {
			t.Errorf("%s: ps status %q, want Created", name, st)
		}
	}
	if r := e.hull("start", "c127"); r.code == 0 || !strings.Contains(r.stderr, "executable file not found") {
		t.Errorf("start of a container that cannot start:\n%v", r)
	}
	if rec := e.record("c127"); rec.State.Status != container.Created {
		t.Errorf("c127 after a failed start: %s", rec.State.Status)
	}
	e.must("rm", "c127", "c126")
	e.assertNoContainers()
}

func TestLifecycleRunOptions(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	envFile := filepath.Join(e.dir, "env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROM_FILE=file value\nA=from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `echo "A=$A"; echo "FROM_FILE=$FROM_FILE"; echo "pwd=$(pwd)"; id; echo "hostname=$(hostname)"; cat /etc/hostname; echo "PATH=$PATH"`
	r := e.must("run", "--rm", "-e", "A=from-flag", "--env-file", envFile, "-w", "/tmp/work dir", "-u", "65534:65534",
		"--hostname", "myhost", "--entrypoint", "/bin/sh", "busybox", "-c", script)
	want := "A=from-flag\nFROM_FILE=file value\npwd=/tmp/work dir\nuid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\nhostname=myhost\nmyhost\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if r.stdout != want {
		t.Errorf("run with options:\n%v\nwant stdout:\n%s", r, want)
	}
	// Defaults: root in /, the short ID as hostname; user by name.
	id := strings.TrimSpace(e.must("create", "busybox", "sh", "-c", "id -u; pwd; hostname").stdout)
	r = e.must("start", "-a", id)
	if r.stdout != "0\n/\n"+id[:12]+"\n" {
		t.Errorf("defaults:\n%v", r)
	}
	if r := e.must("run", "--rm", "-u", "nobody", "busybox", "id", "-un"); r.stdout != "nobody\n" {
		t.Errorf("-u nobody:\n%v", r)
	}
	if r := e.hull("run", "--rm", "-u", "nosuchuser", "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "nosuchuser") {
		t.Errorf("-u nosuchuser:\n%v", r)
	}
	// An image's USER by name.
	e.must("import", testutil.BusyboxTar(t), "busybox:nobody", "-c", "USER nobody", "-c", `CMD ["id", "-un"]`)
	if r := e.must("run", "--rm", "busybox:nobody"); r.stdout != "nobody\n" {
		t.Errorf("USER nobody:\n%v", r)
	}
	if r := e.must("run", "--rm", "-u", "0", "busybox:nobody"); r.stdout != "root\n" {
		t.Errorf("-u 0 over USER nobody:\n%v", r)
	}
	// --entrypoint "" clears the entrypoint; the command runs as given.
	if r := e.must("run", "--rm", "--entrypoint", "", "busybox", "echo", "x"); r.stdout != "x\n" {
		t.Errorf("--entrypoint '':\n%v", r)
	}
}

func TestLifecycleRunMounts(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	host := filepath.Join(e.dir, "host")
	if err := os.MkdirAll(host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := "vol" + lcRandom()
	res := e.parallel(
		[]string{"run", "--rm", "-v", host + ":/rw", "-v", host + ":/ro:ro", "busybox", "sh", "-c",
			"cat /rw/f; echo new > /rw/new && echo wrote-rw; if echo x > /ro/x; then echo wrote-ro; fi; cat /ro/new"},
		[]string{"run", "--rm", "-v", vol + ":/etc", "busybox", "ls", "/etc"},
		[]string{"run", "--rm", "--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp:size=1m", "busybox", "sh", "-c",
			"if touch /x; then echo rootfs-writable; fi; touch /run/ok && echo run-ok; grep -E ' /(run|tmp) ' /proc/mounts"},
		[]string{"run", "--rm", "--mount", "type=tmpfs,dst=/scratch", "--mount", "type=bind,src=" + host + ",dst=/b,readonly", "busybox", "sh", "-c",
			"echo s > /scratch/s && echo scratch-ok; if touch /b/y; then echo wrote-ro; fi"},
	)
	if r := res[0]; r.code != 0 || r.stdout != "host text\nwrote-rw\nnew\n" || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("bind mounts:\n%v", r)
	}
	if b, err := os.ReadFile(filepath.Join(host, "new")); err != nil || string(b) != "new\n" {
		t.Errorf("write through the bind mount: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(host, "x")); err == nil {
		t.Errorf("a write through the read-only bind mount reached the host")
	}
	if r := res[1]; r.code != 0 || !strings.Contains(r.stdout, "passwd\n") || !strings.Contains(r.stdout, "group\n") {
		t.Errorf("named volume on /etc not filled from the image:\n%v", r)
	}
	if r := res[2]; r.code != 0 || strings.Contains(r.stdout, "rootfs-writable") || !strings.Contains(r.stdout, "run-ok") ||
		!regexp.MustCompile(`(?m)^tmpfs /tmp tmpfs rw,.*size=1024k`).MatchString(r.stdout) || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("--read-only with --tmpfs:\n%v", r)
	}
	if r := res[3]; r.code != 0 || r.stdout != "scratch-ok\n" {
		t.Errorf("--mount tmpfs and readonly bind:\n%v", r)
	}
	// The named volume keeps what the image filled it with, for other
	// containers too, and is not filled again.
	r := e.must("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "cat /data/passwd; echo mine > /data/mine")
	if !strings.HasPrefix(r.stdout, "root:x:0:0:") {
		t.Errorf("named volume content:\n%v", r)
	}
	r = e.must("run", "--rm", "-v", vol+":/etc", "busybox", "cat", "/etc/mine")
	if r.stdout != "mine\n" {
		t.Errorf("named volume refilled or lost data:\n%v", r)
	}
	if out := e.must("volume", "ls", "-q").stdout; strings.TrimSpace(out) != vol {
		t.Errorf("volumes: %q, want only %s", out, vol)
	}
	// Anonymous volumes: removed by rm -v and by --rm, kept by plain rm.
	e.must("run", "--name", "anon", "-v", "/data", "busybox", "sh", "-c", "echo x > /data/x")
	anon := strings.Fields(e.must("volume", "ls", "-q", "--filter", "dangling=false").stdout)
	rec := e.record("anon")
	if len(rec.AnonymousVolumes) != 1 || !strings.Contains(strings.Join(anon, " "), rec.AnonymousVolumes[0]) {
		t.Fatalf("anonymous volume of anon: record %v, volume ls %v", rec.AnonymousVolumes, anon)
	}
	e.must("rm", "-v", "anon")
	e.must("run", "--rm", "-v", "/data", "busybox", "true")
	e.must("run", "--name", "keep", "-v", "/data", "busybox", "true")
	kept := e.record("keep").AnonymousVolumes
	e.must("rm", "keep")
	vols := strings.Fields(e.must("volume", "ls", "-q").stdout)
	if len(vols) != 2 || !strings.Contains(strings.Join(vols, " "), vol) || len(kept) != 1 || !strings.Contains(strings.Join(vols, " "), kept[0]) {
		t.Errorf("volumes after rm -v, --rm and rm: %v, want %s and %v", vols, vol, kept)
	}
	e.assertNoContainers()
}

func TestLifecycleRunCapabilities(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	status := []string{"grep", "^Cap", "/proc/self/status"}
	res := e.parallel(
		append([]string{"run", "--rm", "busybox"}, status...),
		append([]string{"run", "--rm", "--cap-drop", "NET_RAW", "--cap-add", "SYS_ADMIN", "busybox"}, status...),
		append([]string{"run", "--rm", "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN", "busybox"}, status...),
		[]string{"run", "--rm", "--privileged", "busybox", "sh", "-c", "grep ^Cap /proc/self/status; mount -t tmpfs none /tmp && echo mounted; ls /dev | grep -c . "},
		[]string{"run", "--rm", "--cap-add", "NO_SUCH_CAP", "busybox", "true"},
	)
	// Docker's 14 default capabilities.
	for i, want := range []string{"00000000a80425fb", "00000000a82405fb", "0000000000000001"} {
		if got := lcCapEff(res[i].stdout); res[i].code != 0 || got != want {
			t.Errorf("CapEff %s, want %s:\n%v", got, want, res[i])
		}
	}
	if r := res[3]; r.code != 0 || lcCapEff(r.stdout) != lcHostCapBnd(t) || !strings.Contains(r.stdout, "mounted\n") {
		t.Errorf("--privileged: want CapEff %s and a working mount:\n%v", lcHostCapBnd(t), r)
	}
	if r := res[4]; r.code != 125 {
		t.Errorf("--cap-add NO_SUCH_CAP: want exit 125:\n%v", r)
	}
	e.assertNoContainers()
}

func TestLifecycleRunResources(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	res := e.parallel(
		[]string{"run", "--name", "oom", "-m", "32m", "busybox", "sh", "-c", `x=$(head -c 300m /dev/zero | tr '\0' a); echo survived`},
		[]string{"run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c", "for i in $(seq 40); do sleep 30 & done; echo all-forked"},
		[]string{"run", "--rm", "-m", "32m", "busybox", "sh", "-c", "head -c 8m /dev/zero | tr '\\0' a | wc -c"},
	)
	if r := res[0]; r.code != 137 || strings.Contains(r.stdout, "survived") {
		t.Errorf("memory hog under -m 32m: want exit 137:\n%v", r)
	}
	if st := e.status("oom"); !strings.HasPrefix(st, "Exited (137)") {
		t.Errorf("ps status of the OOM-killed container: %q", st)
	}
	if rec := e.record("oom"); !rec.State.OOMKilled || rec.State.ExitCode != 137 || rec.HostConfig.Memory != 32<<20 {
		t.Errorf("record of the OOM-killed container: %+v (memory %d)", rec.State, rec.HostConfig.Memory)
	}
	if r := e.hull("inspect", "--type", "container", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"); r.code == 0 && r.stdout != "true 137\n" {
		t.Errorf("inspect of the OOM-killed container:\n%v", r)
	}
	if r := res[1]; r.code == 0 || strings.Contains(r.stdout, "all-forked") || !strings.Contains(r.stderr, "can't fork") {
		t.Errorf("fork bomb under --pids-limit 8 was not limited:\n%v", r)
	}
	if r := res[2]; r.code != 0 || strings.TrimSpace(r.stdout) != "8388608" {
		t.Errorf("8 MiB under -m 32m:\n%v", r)
	}
}

func TestLifecycleRunInit(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	hullBin := e.cmd().Path
	before, err := os.ReadFile(hullBin)
	if err != nil {
		t.Fatal(err)
	}
	r := e.hull("run", "--rm", "--init", "busybox", "sh", "-c",
		`tr '\0' ' ' < /proc/1/cmdline; echo; echo "me=$$"; (sleep 0.1 &); sleep 0.5; ps -o stat= | grep -c Z;`+
			`if echo x >> /proc/1/exe; then echo WR""OTE-exe; fi; if echo x >> /dev/init; then echo WR""OTE-init; fi; grep ' /dev/init ' /proc/mounts`)
	if r.code != 0 && r.code != 1 { // grep -c exits 1 when it counts 0
		t.Fatalf("run --init:\n%v", r)
	}
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "/dev/init -- sh -c") || lines[1] == "me=1" || lines[2] != "0" {
		t.Errorf("--init: want /dev/init as PID 1 reaping zombies:\n%v", r)
	}
	if strings.Contains(r.stdout, "WROTE-") || !regexp.MustCompile(`(?m)^\S+ /dev/init \S+ ro[ ,]`).MatchString(r.stdout) {
		t.Errorf("the container could write to the hull binary (/dev/init must be a read-only mount):\n%v", r)
	}
	after, err := os.ReadFile(hullBin)
	if err != nil || string(after) != string(before) {
		t.Fatalf("the hull binary changed while a --init container ran (CVE-2019-5736)")
	}
	// The init forwards the stop signal, so stop does not wait for the
	// timeout.
	e.must("run", "-d", "--name", "initstop", "--init", "busybox", "sleep", "100")
	// Signals that reach the init before it has set up its handlers
	// are lost (see the report); wait for it to have started sleep.
	pid := e.record("initstop").State.Pid
	e.waitFor(5*time.Second, "the init to start its child", func() bool { return lcHasChild(pid) })
	start := time.Now()
	e.must("stop", "initstop")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop of a --init container took %v: SIGTERM not forwarded", d)
	}
	if rec := e.record("initstop"); rec.State.ExitCode != 143 {
		t.Errorf("exit code after stop: %d, want 143", rec.State.ExitCode)
	}
}

func TestLifecycleStopSignalAndTimeout(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	e.must("run", "-d", "--name", "sig", "--stop-signal", "USR1", "busybox", "sh", "-c",
		`trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.1; done`)
	e.must("run", "-d", "--name", "tmo", "--stop-timeout", "1", "busybox", "sleep", "100")
	e.waitFor(5*time.Second, "sig to be ready", func() bool { return e.must("logs", "sig").stdout == "ready\n" })
	res := e.parallel([]string{"stop", "sig"}, []string{"stop", "tmo"})
	if res[0].code != 0 || res[1].code != 0 {
		t.Fatalf("stop: %v\n%v", res[0], res[1])
	}
	if rec := e.record("sig"); rec.State.ExitCode != 7 || rec.State.Status != container.Exited {
		t.Errorf("sig: %+v, want exited 7", rec.State)
	}
	if out := e.must("logs", "sig").stdout; out != "ready\ngot-usr1\n" {
		t.Errorf("logs of sig: %q", out)
	}
	// tmo ignores SIGTERM (PID 1 without a handler): killed after 1s.
	if st := e.status("tmo"); !strings.HasPrefix(st, "Exited (137)") {
		t.Errorf("tmo: %q", st)
	}
	rec := e.record("tmo")
	if d := rec.State.FinishedAt.Sub(rec.State.StartedAt); d < time.Second || d > 6*time.Second {
		t.Errorf("tmo ran %v; the stop timeout is 1s", d)
	}
	// stop -t overrides; -s overrides the stop signal.
	e.must("start", "tmo")
	start := time.Now()
	e.must("stop", "-t", "0", "tmo")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop -t 0 took %v", d)
	}
	e.must("start", "sig")
	e.must("stop", "-s", "KILL", "sig")
	if rec := e.record("sig"); rec.State.ExitCode != 137 {
		t.Errorf("stop -s KILL: exit code %d", rec.State.ExitCode)
	}
}

func TestLifecycleRestartPolicies(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	e.must("run", "-d", "--name", "onfail", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
	e.must("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "echo run; sleep 0.2")
	e.must("run", "-d", "--name", "onfailok", "--restart", "on-failure", "busybox", "true")
	e.waitFor(15*time.Second, "onfail to give up", func() bool {
		r := e.record("onfail")
		return r.State.Status == container.Exited && r.RestartCount == 2
	})
	if rec := e.record("onfail"); rec.State.ExitCode != 1 {
		t.Errorf("onfail: %+v", rec.State)
	}
	if out := e.must("logs", "onfail").stdout; out != "run\nrun\nrun\n" {
		t.Errorf("onfail ran %q, want 3 runs", out)
	}
	if st := e.status("onfail"); !strings.HasPrefix(st, "Exited (1)") {
		t.Errorf("onfail: %q", st)
	}
	e.waitFor(15*time.Second, "always to restart twice", func() bool { return e.record("always").RestartCount >= 2 })
	if st := e.record("always").State.Status; st != container.Running && st != container.Restarting {
		t.Errorf("always: %s", st)
	}
	e.must("stop", "always")
	rec := e.record("always")
	if rec.State.Status != container.Exited {
		t.Errorf("always after stop: %+v", rec.State)
	}
	time.Sleep(1500 * time.Millisecond)
	if again := e.record("always"); again.State.Status != container.Exited || again.RestartCount != rec.RestartCount {
		t.Errorf("always restarted after stop: %+v, restarts %d -> %d", again.State, rec.RestartCount, again.RestartCount)
	}
	if ps := e.must("ps", "-q").stdout; ps != "" {
		t.Errorf("running after stop: %q", ps)
	}
	if rec := e.record("onfailok"); rec.RestartCount != 0 || rec.State.Status != container.Exited {
		t.Errorf("on-failure restarted a successful run: %+v", rec)
	}
	// A manual start resets the count.
	e.must("start", "onfail")
	e.waitFor(15*time.Second, "onfail to give up again", func() bool {
		r := e.record("onfail")
		return r.State.Status == container.Exited && r.RestartCount == 2
	})
}

func TestLifecycleHealthCheck(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	e.must("run", "-d", "--name", "good", "--health-cmd", "test -e /tmp/ready", "--health-interval", "200ms", "--health-retries", "2",
		"busybox", "sh", "-c", "touch /tmp/ready; sleep 100")
	e.must("run", "-d", "--name", "bad", "--health-cmd", "echo failing; exit 1", "--health-interval", "200ms", "--health-retries", "2",
		"busybox", "sleep", "100")
	health := func(name string) string {
		if h := e.record(name).State.Health; h != nil {
			return string(h.Status)
		}
		return ""
	}
	e.waitFor(10*time.Second, "good to be healthy", func() bool { return health("good") == "healthy" })
	e.waitFor(10*time.Second, "bad to be unhealthy", func() bool { return health("bad") == "unhealthy" })
	h := e.record("bad").State.Health
	if h.FailingStreak < 2 || len(h.Log) == 0 || h.Log[len(h.Log)-1].ExitCode != 1 || h.Log[len(h.Log)-1].Output != "failing\n" {
		t.Errorf("health of bad: %+v", h)
	}
	if st := e.status("good"); !strings.HasSuffix(st, "(healthy)") {
		t.Errorf("ps status of good: %q", st)
	}
	if st := e.status("bad"); !strings.HasSuffix(st, "(unhealthy)") {
		t.Errorf("ps status of bad: %q", st)
	}
	if out := strings.TrimSpace(e.must("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout); out != "bad" {
		t.Errorf("ps --filter health=unhealthy: %q", out)
	}
	e.must("rm", "-f", "good", "bad")
}
