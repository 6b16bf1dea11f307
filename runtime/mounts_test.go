package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMountThroughSymlinkStaysInRootfs(t *testing.T) {
	e := newBundle(t)
	host := t.TempDir()
	rootfs := filepath.Join(e.bundle, "rootfs")
	// Symlinks in the rootfs that point at a host directory, absolutely
	// and through "..".
	if err := os.Symlink(host, filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../.."+host, filepath.Join(rootfs, "escape2")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.spec.Mounts = append(e.spec.Mounts,
		specs.Mount{Destination: "/escape/sub", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/escape2/bind", Type: "bind", Source: src, Options: []string{"bind"}},
		specs.Mount{Destination: "/escape2/file", Type: "bind", Source: filepath.Join(src, "file"), Options: []string{"bind", "ro"}})
	e.shell(`touch /escape/sub/x && cat /escape2/bind/file /escape2/file && echo`)
	if out := e.mustRun(); out != "datadata\n" {
		t.Fatalf("got %q", out)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 0 {
		t.Fatalf("mount points were made on the host: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(rootfs, host, "sub")); err != nil {
		t.Fatalf("mount point not made inside the rootfs: %v", err)
	}
}

func TestBindMounts(t *testing.T) {
	e := newBundle(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.spec.Mounts = append(e.spec.Mounts,
		specs.Mount{Destination: "/ro", Type: "bind", Source: dir, Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/rw", Type: "none", Source: dir, Options: []string{"bind", "rprivate"}},
		specs.Mount{Destination: "/etc/f", Source: filepath.Join(dir, "f"), Options: []string{"bind", "ro"}})
	e.shell(`cat /ro/f; (touch /ro/new) 2>&1; (echo x > /etc/f) 2>&1; touch /rw/new && echo rw-ok; grep -E ' /(ro|rw) ' /proc/self/mountinfo | cut -d' ' -f5,6`)
	out := e.mustRun()
	for _, want := range []string{"hello", "touch: /ro/new: Read-only file system", "can't create /etc/f: Read-only file system", "rw-ok", "/ro ro,nosuid", "/rw rw"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err != nil {
		t.Errorf("write through the rw bind mount: %v", err)
	}
}

func TestTmpfsOptionsAndTmpcopyup(t *testing.T) {
	e := newBundle(t)
	etc := filepath.Join(e.bundle, "rootfs", "etc")
	e.spec.Mounts = append(e.spec.Mounts,
		specs.Mount{Destination: "/etc", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "mode=0755", "size=1m", "ro"}},
		specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "size=2m"}})
	e.shell(`head -1 /etc/passwd; (touch /etc/x) 2>&1; grep -E ' /(etc|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,6`)
	out := e.mustRun()
	for _, want := range []string{"root:x:0:0", "Read-only file system", "/etc ro", "/scratch rw,", "noexec"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(etc, "passwd")); err != nil {
		t.Errorf("the covered /etc changed: %v", err)
	}
}

func TestDevices(t *testing.T) {
	e := newBundle(t)
	mode := os.FileMode(0o640)
	uid, gid := uint32(1000), uint32(1001)
	e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/extra/null2", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid}}
	e.shell(`ls -ln /dev/extra/null2 /dev/null /dev/zero /dev/full /dev/tty /dev/random /dev/urandom | cut -c1-45; echo x > /dev/extra/null2 && echo written; readlink /dev/fd; readlink /dev/ptmx`)
	out := e.mustRun()
	for _, want := range []string{"crw-r-----    1 1000     1001        1,   3", "crw-rw-rw-    1 0        0           1,   5", "written", "/proc/self/fd\npts/ptmx"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// Outside the device cgroup's allow list: mknod works, open does not.
	e.spec.Linux.Devices = nil
	e.shell(`mknod /dev/sda1 b 8 1 && (head -c1 /dev/sda1) 2>&1; true`)
	if out := e.mustRun(); !strings.Contains(out, "Operation not permitted") {
		t.Errorf("block device readable: %q", out)
	}
}

func TestNoPivot(t *testing.T) {
	e := newBundle(t)
	e.shell(`ls /bin/busybox && cat /proc/self/mountinfo | wc -l`)
	if out := e.mustRun("--no-pivot"); !strings.HasPrefix(out, "/bin/busybox\n") {
		t.Fatalf("got %q", out)
	}
}

func TestMoreNamespacesAndSettings(t *testing.T) {
	e := newBundle(t)
	e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces,
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
		specs.LinuxNamespace{Type: specs.TimeNamespace})
	e.spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10 * 365 * 86400}}
	adj := 500
	e.spec.Process.OOMScoreAdj = &adj
	umask := uint32(0o027)
	e.spec.Process.User.Umask = &umask
	e.spec.Linux.Sysctl["kernel.shmmni"] = "1234"
	e.shell(`cut -d. -f1 /proc/uptime; cat /proc/self/oom_score_adj; umask; cat /proc/sys/kernel/shmmni; grep -c ':/$' /proc/self/cgroup; wc -l < /proc/self/cgroup`)
	out := strings.Fields(e.mustRun())
	if len(out) != 6 {
		t.Fatalf("got %q", out)
	}
	if up, _ := strconv.Atoi(out[0]); up < 10*365*86400 {
		t.Errorf("uptime %s: the boottime offset is missing", out[0])
	}
	if out[1] != "500" || out[2] != "0027" || out[3] != "1234" {
		t.Errorf("oom_score_adj, umask, shmmni: %q", out[1:4])
	}
	// In its cgroup namespace the container's cgroups are the roots.
	if out[4] != out[5] {
		t.Errorf("%s of %s cgroup lines are /", out[4], out[5])
	}
}

func TestNoMountNamespace(t *testing.T) {
	e := newBundle(t, "/bin/sleep", "1000")
	e.spec.Linux.Namespaces = withoutNS(e.spec.Linux.Namespaces, specs.MountNamespace)
	rootfs := filepath.Join(e.bundle, "rootfs")
	id := e.newID()
	e.mustCreate(id)
	e.mustHull("start", id)
	pid := e.state(id).Pid
	self, _ := os.Readlink("/proc/self/ns/mnt")
	if ns, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt"); ns != self {
		t.Errorf("container mount namespace %s, want hull's %s", ns, self)
	}
	if root, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/root"); root != rootfs {
		t.Errorf("container root %s, want %s", root, rootfs)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); !strings.Contains(string(b), rootfs+"/proc ") {
		t.Fatal("the container's mounts are not in hull's mount namespace")
	}
	e.mustHull("delete", "--force", id)
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), rootfs) {
		t.Fatalf("mounts under the rootfs left after delete:\n%s", b)
	}
}

func TestJoinMountNamespace(t *testing.T) {
	e := newBundle(t)
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "1000")
	if err := holder.Start(); err != nil {
		t.Skip("unshare:", err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	nsPath := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/mnt"
	want := ""
	waitFor(t, func() bool {
		want, _ = os.Readlink(nsPath)
		self, _ := os.Readlink("/proc/self/ns/mnt")
		return want != "" && want != self
	})
	e.spec.Linux.Namespaces = append(withoutNS(e.spec.Linux.Namespaces, specs.MountNamespace),
		specs.LinuxNamespace{Type: specs.MountNamespace, Path: nsPath})
	e.shell(`readlink /proc/self/ns/mnt; ls /bin/busybox`)
	if out := e.mustRun(); out != want+"\n/bin/busybox\n" {
		t.Fatalf("got %q, want the namespace %s", out, want)
	}
	rootfs := filepath.Join(e.bundle, "rootfs")
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), rootfs) {
		t.Fatal("the container's mounts showed up in hull's mount namespace")
	}
}
