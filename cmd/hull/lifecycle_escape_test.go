package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lcEscapeSource is a static helper run inside containers for the escapes
// busybox cannot try: the classic chroot break-out (chroot into a
// subdirectory while keeping a directory outside it open, walk up with
// "..", chroot there) and ptrace of a host process.
const lcEscapeSource = `package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func main() {
	switch os.Args[1] {
	case "chroot":
		// os.Args[2] is a file that exists only on the host.
		if err := os.MkdirAll("/tmp/jail/inner", 0o755); err != nil {
			fmt.Println("mkdir:", err)
			return
		}
		fd, err := syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			fmt.Println("open /:", err)
			return
		}
		if err := syscall.Chroot("/tmp/jail"); err != nil {
			fmt.Println("chroot jail:", err)
			return
		}
		if err := syscall.Fchdir(fd); err != nil {
			fmt.Println("fchdir:", err)
			return
		}
		for i := 0; i < 256; i++ {
			_ = syscall.Chdir("..")
		}
		if err := syscall.Chroot("."); err != nil {
			fmt.Println("chroot .:", err)
			return
		}
		if _, err := os.Stat(os.Args[2]); err == nil {
			fmt.Println("ESCAPED: the host file is visible")
			return
		}
		if _, err := os.Stat("/bin/busybox"); err != nil {
			fmt.Println("lost the container root:", err)
			return
		}
		fmt.Println("contained")
	case "ptrace":
		pid, _ := strconv.Atoi(os.Args[2])
		if err := syscall.PtraceAttach(pid); err != nil {
			fmt.Println("ptrace failed:", err)
			return
		}
		fmt.Println("ESCAPED: attached to a host process")
	}
}
`

var lcEscapeHelper struct {
	once sync.Once
	path string
	err  error
}

// escapeHelper builds lcEscapeSource as a static binary.
func escapeHelper(t *testing.T) string {
	t.Helper()
	lcEscapeHelper.once.Do(func() {
		dir, err := os.MkdirTemp("", "hull-escape-")
		if err != nil {
			lcEscapeHelper.err = err
			return
		}
		src := filepath.Join(dir, "main.go")
		if err := os.WriteFile(src, []byte(lcEscapeSource), 0o644); err != nil {
			lcEscapeHelper.err = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		bin := filepath.Join(dir, "escape")
		cmd := exec.Command(goBin, "build", "-o", bin, src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			lcEscapeHelper.err = fmt.Errorf("build the escape helper: %v\n%s", err, out)
			return
		}
		lcEscapeHelper.path = bin
	})
	if lcEscapeHelper.err != nil {
		t.Fatal(lcEscapeHelper.err)
	}
	return lcEscapeHelper.path
}

// lcBlockDevice returns "major minor" of a block device of the host.
func lcBlockDevice(t *testing.T) (string, string) {
	ents, _ := os.ReadDir("/sys/dev/block")
	for _, ent := range ents {
		if maj, min, ok := strings.Cut(ent.Name(), ":"); ok {
			return maj, min
		}
	}
	t.Skip("no block device on this host")
	return "", ""
}

func TestLifecycleEscapes(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	helper := escapeHelper(t)
	marker := filepath.Join(e.dir, "host-marker-"+lcRandom())
	if err := os.WriteFile(marker, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostPid := strconv.Itoa(os.Getpid())
	maj, min := lcBlockDevice(t)
	// Each attempt prints ESCAPE-<what> if it succeeds (the marker is
	// split so the command line itself never contains it).
	attempts := []struct{ what, cmd string }{
		{"mount", "mount -t tmpfs none /tmp"},
		{"remount", "mount -o remount,rw /proc/sys"},
		{"sysrq", "echo h > /proc/sysrq-trigger"},
		{"sys", "cat /sys/kernel/uevent_helper > /tmp/v && cat /tmp/v > /sys/kernel/uevent_helper"},
		{"sys-mkdir", "mkdir /sys/fs/cgroup/hull-escape"},
		{"procsys", "cat /proc/sys/kernel/panic > /tmp/p && cat /tmp/p > /proc/sys/kernel/panic"},
		{"kcore", "test $(head -c 16 /proc/kcore | wc -c) -gt 0"},
		{"blockdev", "mknod /tmp/blk b " + maj + " " + min + " && head -c 1 /tmp/blk > /dev/null"},
		{"memdev", "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem > /dev/null"},
		{"kill-host", "kill -0 " + hostPid},
		{"proc-host", "test -e /proc/" + hostPid},
		{"marker", "test -e " + marker},
		{"dotdot", "test -e /../../../../../../" + marker},
		{"proc1-root", "test -e /proc/1/root" + marker},
		{"hostname", "hostname escaped-host"},
		{"unshare", "unshare -m true"},
		{"exe-write", "echo x >> /proc/1/exe"},
		{"ptrace-self-ns", "test $(ls -d /proc/[0-9]* | wc -l) -gt 20"},
	}
	var script strings.Builder
	for _, a := range attempts {
		fmt.Fprintf(&script, "if %s 2>/dev/null; then echo ESC''APE-%s; fi\n", a.cmd, a.what)
	}
	script.WriteString("/helper chroot " + marker + "\n/helper ptrace " + hostPid + "\n")
	script.WriteString("ls /proc/self/fd\n")
	hostname, _ := os.Hostname()
	r := e.must("run", "--rm", "-v", helper+":/helper:ro", "busybox", "sh", "-c", script.String())
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "ESCAPE-") || strings.HasPrefix(line, "ESCAPED") {
			t.Errorf("escape from a default container: %s", line)
		}
	}
	if !strings.Contains(r.stdout, "contained\n") || !strings.Contains(r.stdout, "ptrace failed: ") {
		t.Errorf("the helper did not run:\n%v", r)
	}
	// Only 0, 1, 2 and ls's own directory fd (CVE-2024-21626).
	if !strings.HasSuffix(r.stdout, "\n0\n1\n2\n3\n") {
		t.Errorf("file descriptors leaked into the container:\n%v", r)
	}
	if now, _ := os.Hostname(); now != hostname {
		t.Fatalf("the container changed the host's hostname to %q", now)
	}

	// The same with -i (a stdin pipe) and -t (a terminal) and --init.
	for _, args := range [][]string{{"-i"}, {"-t"}, {"--init"}} {
		cmd := append(append([]string{"run", "--rm"}, args...), "busybox", "ls", "-1", "/proc/self/fd")
		r := e.hullIn("", cmd...)
		if out := strings.ReplaceAll(r.stdout, "\r", ""); r.code != 0 || out != "0\n1\n2\n3\n" {
			t.Errorf("file descriptors with %v:\n%v", args, r)
		}
	}

	// exec: the same for processes joining a running container.
	e.must("run", "-d", "--name", "target", "busybox", "sleep", "100")
	for _, args := range [][]string{{}, {"-i"}, {"-t"}} {
		cmd := append(append([]string{"exec"}, args...), "target", "ls", "-1", "/proc/self/fd")
		r := e.hullIn("", cmd...)
		if out := strings.ReplaceAll(r.stdout, "\r", ""); r.code != 0 || out != "0\n1\n2\n3\n" {
			t.Errorf("file descriptors of exec %v:\n%v", args, r)
		}
	}
	for fd := 3; fd <= 7; fd++ {
		r := e.hull("exec", "-w", "/proc/self/fd/"+strconv.Itoa(fd), "target", "sh", "-c",
			"pwd; cd ../../../../../../../..; if test -e "+marker+"; then echo ESC''APED; fi")
		if strings.Contains(r.stdout, "ESCAPED") || (r.code == 0 && !strings.HasPrefix(r.stdout, "/proc/")) {
			t.Errorf("exec escaped through the working directory:\n%v", r)
		}
	}
	e.must("rm", "-f", "target")

	// A working directory through a leaked fd must not start anywhere
	// outside the container (CVE-2024-21626).
	var cmds [][]string
	for fd := 3; fd <= 9; fd++ {
		cmds = append(cmds, []string{"run", "--rm", "-w", "/proc/self/fd/" + strconv.Itoa(fd), "busybox", "sh", "-c",
			"pwd; cd ../../../../../../../..; if test -e " + marker + " || test -e ." + marker + "; then echo ESC''APED; fi"})
	}
	for _, r := range e.parallel(cmds...) {
		if strings.Contains(r.stdout, "ESCAPED") {
			t.Errorf("escaped through the working directory:\n%v", r)
		}
		if r.code == 0 && !strings.HasPrefix(r.stdout, "/proc/") {
			t.Errorf("working directory outside the container:\n%v", r)
		}
	}
	e.assertNoContainers()
}
