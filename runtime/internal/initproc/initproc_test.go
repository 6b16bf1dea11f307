package initproc

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent:" + dir}
	if p, err := lookPath("prog", env); err != nil || p != exe {
		t.Errorf("lookPath(prog) = %q, %v", p, err)
	}
	if _, err := lookPath("prog", nil); err == nil || !strings.Contains(err.Error(), "executable file not found in $PATH") {
		t.Errorf("no PATH: %v", err)
	}
	if _, err := lookPath(filepath.Join(dir, "nope"), env); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing absolute path: %v", err)
	}
	if _, err := lookPath(dir, env); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	if os.Geteuid() != 0 {
		if _, err := lookPath("data", env); err == nil {
			t.Error("non-executable file found")
		}
	}
}

func TestOpenInRootStaysInside(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	// Symlinks that point out of the root, absolutely and relatively.
	if err := os.Symlink(outside, filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../..", filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFd)
	for _, p := range []string{"/abs/made", "rel/x/made", "/../../made"} {
		fd, err := mkdirAllInRoot(rootFd, p, 0o755)
		if err != nil {
			t.Fatalf("mkdirAllInRoot(%s): %v", p, err)
		}
		got, _ := os.Readlink(fdPath(fd))
		unix.Close(fd)
		if !strings.HasPrefix(got, root+"/") {
			t.Errorf("mkdirAllInRoot(%s) made %s, outside %s", p, got, root)
		}
	}
	fd, err := createInRoot(rootFd, "/abs/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.Readlink(fdPath(fd))
	unix.Close(fd)
	if got != filepath.Join(root, outside, "file") {
		t.Errorf("createInRoot(/abs/file) made %s", got)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was made outside the root: %v", ents)
	}
}

func TestLookPathEmptyEntries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	// An empty PATH entry (leading, doubled or trailing ':') is ".".
	for _, p := range []string{":/nonexistent", "/nonexistent::/x", "/nonexistent:"} {
		if got, err := lookPath("prog", []string{"PATH=" + p}); err != nil || got != "prog" {
			t.Errorf("PATH=%s: lookPath(prog) = %q, %v", p, got, err)
		}
	}
}

func TestConfigRoundTrip(t *testing.T) {
	in := &Config{
		Process: Process{
			Args: []string{"sh", "-c", "échec"}, Env: []string{"A=1"}, Cwd: "/w", Terminal: true,
			ConsoleHeight: 24, ConsoleWidth: 80, UID: 1000, GID: 1000, AdditionalGids: []uint32{1, 1 << 31},
			Umask: 0o077, NoNewPrivileges: true, IOPriority: -1,
			Rlimits: []Rlimit{{Name: "RLIMIT_NOFILE", Resource: 7, Soft: 1024, Hard: ^uint64(0)}},
			Caps:    Caps{Bounding: 1<<40 | 1, Effective: 2, Permitted: 3, Inheritable: 4, Ambient: 5},
		},
		Seccomp:     &Seccomp{Program: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Flags: 1},
		PreserveFDs: 2, LastCap: 40, Bundle: "/b", Rootfs: "/b/rootfs", NoPivot: true,
		NewCgroupNS: true, NewTimeNS: true, TimeOffsets: "boottime 1 0\n", UserNS: true,
		RootPropagation: 1 << 19,
		Mounts: []Mount{{Source: "proc", Destination: "/proc", Type: "proc", Flags: 14,
			Propagation: []uint64{1 << 18}, AttrSet: 1, AttrClr: 0x70, Data: "a=b", Tmpcopyup: true}, {}},
		DevReadonly: true,
		Devices:     []Device{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, Mode: 0o666, UID: 1, GID: 2}},
		Cgroup:      CgroupInfo{V1: []CgroupBind{{Name: "cpu,cpuacct", Source: "/sys/fs/cgroup/cpu/x", Links: []string{"cpu"}}}},
		Hostname:    "h", Domainname: "d", Sysctls: []Sysctl{{Key: "k.x", Path: "/proc/sys/k/x", Value: "1"}},
		ReadonlyPaths: []string{"/proc/sys"}, MaskedPaths: []string{"/proc/kcore"}, RootReadonly: true,
		Personality: 8, RuntimeHooks: true,
		CreateContainer: []Hook{{Path: "/bin/h", Args: []string{"h", "x"}, Env: []string{"E=1"}, Timeout: 3}},
		StartContainer:  []Hook{{Path: "/bin/s"}},
		CreatingState:   []byte(`{"status":"creating"}`), CreatedState: []byte(`{}`),
	}
	var out Config
	if err := out.Unmarshal(in.Marshal()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, *in)
	}
	b := in.Marshal()
	for n := range len(b) {
		if err := new(Config).Unmarshal(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	if err := new(Config).Unmarshal(append(b, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
}

func TestConn(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer b.Close()
	ca, cb := NewConn(a), NewConn(b)
	cfg := &Config{Process: Process{Args: []string{"true"}}, Personality: -1}
	go func() {
		ca.SendConfig(cfg)
		ca.Send(MsgError, []byte("boom"))
		a.Close()
	}()
	p, err := cb.Expect(MsgConfig)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := got.Unmarshal(p); err != nil || got.Process.Args[0] != "true" {
		t.Fatalf("config %+v, %v", got, err)
	}
	if _, err := cb.Expect(MsgReady); err == nil || err.Error() != "boom" {
		t.Fatalf("error message: %v", err)
	}
	if _, _, err := cb.Recv(); err != io.ErrUnexpectedEOF {
		t.Fatalf("end of stream: %v", err)
	}
}

func TestPasswdHome(t *testing.T) {
	f := filepath.Join(t.TempDir(), "passwd")
	data := "root:x:0:0:root:/root:/bin/sh\n\n  daemon:x:1:1::/usr/sbin:/bin/false  \nodd:x:1000\nu:x:1001:1001:U:/home/u\n"
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[uint32]string{0: "/root", 1: "/usr/sbin", 1000: "", 1001: "/home/u", 5: ""} {
		if got := passwdHome(f, uid); got != want {
			t.Errorf("passwdHome(%d) = %q, want %q", uid, got, want)
		}
	}
}

func TestParseMountinfoLine(t *testing.T) {
	m, ok := parseMountinfoLine(`36 35 98:0 /mnt1 /mnt/with\040space rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue`)
	if !ok || m.mountpoint != "/mnt/with space" || !m.shared {
		t.Fatalf("got %+v, %v", m, ok)
	}
	m, ok = parseMountinfoLine(`36 35 98:0 / / rw - ext4 /dev/root rw shared:1`)
	if !ok || m.mountpoint != "/" || m.shared {
		t.Fatalf("fields after the separator: got %+v, %v", m, ok)
	}
	for _, c := range []struct {
		p, dir string
		want   bool
	}{{"/a/b", "/", true}, {"/a/b", "/a", true}, {"/a", "/a", true}, {"/ab", "/a", false}, {"/a", "/a/b", false}} {
		if got := pathHasPrefix(c.p, c.dir); got != c.want {
			t.Errorf("pathHasPrefix(%q, %q) = %v", c.p, c.dir, got)
		}
	}
	if best, err := parentMount("/proc/self"); err != nil || best == nil || best.mountpoint != "/proc" {
		t.Errorf("parentMount(/proc/self) = %+v, %v", best, err)
	}
}

// TestImports guards the package's dependencies: init starts when the
// package is initialised, so each one that Go initialises late (strings,
// whose dependants such as crypto/... sort before github.com/..., fmt,
// golang.org/x/sys/unix, os/exec, ...) would delay every container start.
func TestImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := []string{
		"cmp", "errors", "io", "io/fs", "iter", "math/bits", "os", "path", "runtime", "slices",
		"strconv", "sync", "sync/atomic", "syscall", "time", "unicode/utf8", "unsafe",
		"github.com/hull-project/hull/runtime/internal/initproc",
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "internal/") || strings.Contains(p, "/internal/") && !strings.Contains(p, ".") || strings.HasPrefix(p, "vendor/") {
			continue // the runtime's own
		}
		if !slices.Contains(allowed, p) {
			t.Errorf("initproc depends on %s (see the package documentation)", p)
		}
	}
}
