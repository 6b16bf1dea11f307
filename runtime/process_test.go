package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestHostnameEnvCwd(t *testing.T) {
	e := newBundle(t)
	e.spec.Hostname = "box1"
	e.spec.Domainname = "example.org"
	e.spec.Process.Env = append(e.spec.Process.Env, "FOO=bar baz")
	e.spec.Process.Cwd = "/var/work" // created if missing
	e.shell(`echo "$(hostname) $(cat /proc/sys/kernel/domainname) $FOO $(pwd) $HOME"`)
	if out := e.mustRun(); out != "box1 example.org bar baz /var/work /\n" {
		t.Fatalf("got %q", out)
	}
}

func TestReadonlyRootfs(t *testing.T) {
	e := newBundle(t)
	e.spec.Root.Readonly = true
	e.shell(`touch /x 2>&1; touch /tmp/x 2>&1; echo done`)
	out := e.mustRun()
	if strings.Count(out, "Read-only file system") != 2 {
		t.Fatalf("writes to a read-only rootfs: %q", out)
	}
	// The mounts on top stay writable.
	e.shell(`touch /dev/shm/x && echo ok`)
	if out := e.mustRun(); out != "ok\n" {
		t.Fatalf("write to /dev/shm: %q", out)
	}
}

func TestMaskedAndReadonlyPaths(t *testing.T) {
	e := newBundle(t)
	masked := ""
	for _, p := range []string{"/proc/kcore", "/proc/timer_list", "/proc/keys"} {
		if _, err := os.Stat(p); err == nil {
			masked = p
			break
		}
	}
	if masked == "" {
		t.Skip("no maskable /proc file on this kernel")
	}
	e.shell(fmt.Sprintf(`echo "masked=$(cat %s | wc -c)"; ls /proc/acpi | wc -l; (echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1; true`, masked))
	out := e.mustRun()
	if !strings.Contains(out, "masked=0\n") {
		t.Errorf("%s is not empty inside: %q", masked, out)
	}
	if !strings.Contains(out, "ns_last_pid: Read-only file system") {
		t.Errorf("/proc/sys is writable: %q", out)
	}
}

func TestUserAndGroups(t *testing.T) {
	e := newBundle(t)
	e.spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}}
	e.shell(`echo "$(id -u) $(id -g) $(id -G)"; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status`)
	out := e.mustRun()
	if !strings.HasPrefix(out, "1000 1000 1000 10 20\n") && !strings.HasPrefix(out, "1000 1000 10 20\n") {
		t.Fatalf("ids: %q", out)
	}
	// A non-root user keeps no capabilities across execve (as in Docker),
	// but the bounding set is the spec's.
	bnd := fmt.Sprintf("%016x", spec.CapabilityMask(e.spec.Process.Capabilities.Bounding))
	if !strings.Contains(out, "CapEff:\t0000000000000000") || !strings.Contains(out, "CapBnd:\t"+bnd) {
		t.Fatalf("capabilities of uid 1000, want none effective and bounding %s:\n%s", bnd, out)
	}
}

func TestCapabilities(t *testing.T) {
	e := newBundle(t)
	e.spec.Linux.Seccomp = nil
	e.spec.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"},
		Effective:   []string{"CAP_CHOWN", "CAP_KILL"},
		Permitted:   []string{"CAP_CHOWN", "CAP_KILL"},
		Inheritable: []string{"CAP_KILL"},
		Ambient:     []string{"CAP_KILL"},
	}
	e.shell(`grep ^Cap /proc/self/status`)
	mask := func(c ...string) string { return fmt.Sprintf("%016x", spec.CapabilityMask(c)) }
	check := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("want %q in:\n%s", w, out)
			}
		}
	}
	// Root: execve grants the whole bounding set (as with runc).
	check(e.mustRun(),
		"CapBnd:\t"+mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"),
		"CapEff:\t"+mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"),
		"CapInh:\t"+mask("CAP_KILL"),
		"CapAmb:\t"+mask("CAP_KILL"))
	// Another user keeps exactly the ambient set.
	e.spec.Process.User = specs.User{UID: 1000, GID: 1000}
	check(e.mustRun(),
		"CapBnd:\t"+mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"),
		"CapEff:\t"+mask("CAP_KILL"),
		"CapPrm:\t"+mask("CAP_KILL"),
		"CapInh:\t"+mask("CAP_KILL"),
		"CapAmb:\t"+mask("CAP_KILL"))
}

func TestNoNewPrivileges(t *testing.T) {
	e := newBundle(t)
	e.spec.Process.NoNewPrivileges = true
	e.shell(`grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status`)
	out := e.mustRun()
	if !strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "Seccomp:\t2") {
		t.Fatalf("got:\n%s", out)
	}
	e.spec.Process.NoNewPrivileges = false
	if out := e.mustRun(); !strings.Contains(out, "NoNewPrivs:\t0") || !strings.Contains(out, "Seccomp:\t2") {
		t.Fatalf("without no_new_privs:\n%s", out)
	}
}

func TestSeccomp(t *testing.T) {
	e := newBundle(t)
	if e.spec.Linux.Seccomp == nil {
		t.Fatal("spec.Default has no seccomp profile")
	}
	// With CAP_SYS_ADMIN mount would work; Docker's profile (made for the
	// default capabilities) still refuses it.
	caps := e.spec.Process.Capabilities
	caps.Bounding = append(caps.Bounding, "CAP_SYS_ADMIN")
	caps.Effective = append(caps.Effective, "CAP_SYS_ADMIN")
	caps.Permitted = append(caps.Permitted, "CAP_SYS_ADMIN")
	e.shell(`grep -E "^(Cap|Seccomp)" /proc/self/status; mkdir -p /mnt && mount -t tmpfs none /mnt 2>&1 && echo mounted`)
	refused := func(out string) bool {
		// busybox's words for EPERM
		return strings.Contains(out, "permission denied") && !strings.Contains(out, "mounted")
	}
	if out := e.run().Stdout; !refused(out) || !strings.Contains(out, "Seccomp:\t2") {
		t.Fatalf("mount under Docker's profile: %q", out)
	}
	profile := e.spec.Linux.Seccomp
	e.spec.Linux.Seccomp = nil
	if out := e.mustRun(); !strings.Contains(out, "mounted") {
		t.Fatalf("mount without seccomp: %q", out)
	}
	// no_new_privs: the filter is loaded last, just before execve.
	e.spec.Linux.Seccomp = profile
	e.spec.Process.NoNewPrivileges = true
	if out := e.run().Stdout; !refused(out) {
		t.Fatalf("mount under Docker's profile with no_new_privs: %q", out)
	}
}

func TestRlimits(t *testing.T) {
	e := newBundle(t)
	e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}, {Type: "RLIMIT_NPROC", Soft: 500, Hard: 600}}
	e.shell(`echo "$(ulimit -n) $(ulimit -Hn) $(ulimit -u) $(ulimit -Hu)"`)
	if out := e.mustRun(); out != "1024 1024 500 600\n" {
		t.Fatalf("got %q", out)
	}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	// Above the hard limit: needs CAP_SYS_RESOURCE, which root lacks here.
	e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: cur.Max + 1, Hard: cur.Max + 1}}
	res := e.run()
	if res.ExitCode == 0 {
		t.Skip("this environment may raise rlimits (CAP_SYS_RESOURCE)")
	}
	if !strings.Contains(res.Stderr, "CAP_SYS_RESOURCE") {
		t.Fatalf("raising RLIMIT_NOFILE: exit %d: %s", res.ExitCode, res.Stderr)
	}
}

func TestCgroupLimits(t *testing.T) {
	e := newBundle(t)
	limit := int64(64 << 20)
	pids := int64(50)
	e.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	e.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	if cgroup.Mode() == cgroup.ModeV2 {
		e.shell(`cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max`)
	} else {
		e.shell(`cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max`)
	}
	if out := e.mustRun(); out != "67108864\n50\n" {
		t.Fatalf("limits inside: %q", out)
	}
	// The cgroup mount is read-only.
	e.shell(`(echo 1 > /sys/fs/cgroup/pids/pids.max) 2>&1 || (echo 1 > /sys/fs/cgroup/pids.max) 2>&1; true`)
	if out := e.mustRun(); !strings.Contains(out, "Read-only file system") {
		t.Fatalf("cgroup writable: %q", out)
	}
}

func TestLeakedFdsAndPreserveFds(t *testing.T) {
	e := newBundle(t, "/bin/ls", "/proc/self/fd")
	// A host file open without O_CLOEXEC, as a careless caller leaves it.
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(secret, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	dirFd, err := syscall.Open(t.TempDir(), syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(dirFd)
	out := e.mustRun()
	// 3 is ls's own directory fd.
	if out != "0\n1\n2\n3\n" {
		t.Fatalf("fds inside the container:\n%s", out)
	}

	// CVE-2024-21626: a cwd through a leaked host directory fd must not
	// put the process outside the container.
	e.spec.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(dirFd)
	e.shell(`pwd; touch escaped`)
	res := e.run()
	if res.ExitCode == 0 {
		t.Fatalf("cwd %s was accepted: %q", e.spec.Process.Cwd, res.Stdout)
	}
	e.spec.Process.Cwd = "/../../../.."
	e.shell(`pwd`)
	if out := e.mustRun(); out != "/\n" {
		t.Fatalf("cwd /../../..: %q", out)
	}

	// --preserve-fds passes fds 3.. through.
	e.spec.Process.Cwd = "/"
	e.shell(`cat <&3; ls /proc/self/fd | tr '\n' ' '`)
	e.writeSpec()
	extra, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd := testutil.HullCmd(t, e.root, "runtime", "run", "--bundle", e.bundle, "--preserve-fds", "1", e.newID())
	cmd.ExtraFiles = []*os.File{extra}
	b, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(b), "secret0 1 2 3 ") {
		t.Fatalf("preserve-fds: %q (%v)", b, err)
	}
}

func TestUserNamespace(t *testing.T) {
	e := newBundle(t)
	e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	e.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	e.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	// Docker's ping_group_range names gids this namespace does not map.
	delete(e.spec.Linux.Sysctl, "net.ipv4.ping_group_range")
	e.shell(`cat /proc/self/uid_map; id -u; echo hi > /dev/null && echo devnull-ok; sleep 0.5 & echo $!; wait`)
	id := e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	e.waitStatus(id, "stopped")
	out := e.output(id)
	if !strings.Contains(out, "0     100000      65536") || !strings.Contains(out, "\n0\n") || !strings.Contains(out, "devnull-ok") {
		t.Fatalf("in a user namespace:\n%s", out)
	}
	e.mustHull("delete", id)
}

func TestJoinNamespaces(t *testing.T) {
	e := newBundle(t)
	// A process in its own network and UTS namespaces to join.
	holder := exec.Command("unshare", "--net", "--uts", "sh", "-c", "hostname joined-host; exec sleep 1000")
	if err := holder.Start(); err != nil {
		t.Skip("unshare:", err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	pid := strconv.Itoa(holder.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	e.spec.Hostname = ""
	e.spec.Linux.Sysctl = nil
	nss := withoutNS(withoutNS(e.spec.Linux.Namespaces, specs.NetworkNamespace), specs.UTSNamespace)
	e.spec.Linux.Namespaces = append(nss,
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/" + pid + "/ns/net"},
		specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/" + pid + "/ns/uts"})
	e.shell(`hostname; readlink /proc/self/ns/net`)
	want, _ := os.Readlink("/proc/" + pid + "/ns/net")
	if out := e.mustRun(); out != "joined-host\n"+want+"\n" {
		t.Fatalf("got %q, want hostname joined-host and %s", out, want)
	}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
