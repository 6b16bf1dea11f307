package runtime

import (
	"github.com/hull-project/hull/internal/procstat"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"9": 9, "KILL": 9, "SIGKILL": 9, "kill": 9, "term": 15, "SIGUSR1": 10,
		"hup": 1, "SIGRTMIN": 34, "RTMIN+3": 37, "SIGRTMAX-1": 63, "64": 64,
	} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "NOPE", "SIGRTMIN-1", "RTMAX+1", "SIGRTMIN+x"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q): no error", bad)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	o, err := parseMountOptions([]string{"rbind", "ro", "nosuid", "rw", "noexec", "rprivate", "mode=755", "size=1k", "rro", "rnoatime", "tmpcopyup"})
	if err != nil {
		t.Fatal(err)
	}
	if o.flags != unix.MS_BIND|unix.MS_REC|unix.MS_NOSUID|unix.MS_NOEXEC {
		t.Errorf("flags %#x", o.flags)
	}
	if len(o.propagation) != 1 || o.propagation[0] != unix.MS_PRIVATE|unix.MS_REC {
		t.Errorf("propagation %v", o.propagation)
	}
	if o.dataString() != "mode=755,size=1k" {
		t.Errorf("data %q", o.dataString())
	}
	if o.attrSet != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOATIME || o.attrClr&unix.MOUNT_ATTR__ATIME == 0 {
		t.Errorf("attrs set %#x clr %#x", o.attrSet, o.attrClr)
	}
	if !o.isBind() || !o.tmpcopyup {
		t.Error("bind/tmpcopyup not seen")
	}
	if _, err := parseMountOptions([]string{"idmap"}); err == nil {
		t.Error("idmap accepted")
	}
}

func minimalSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.UTSNamespace},
		}},
	}
}

func TestValidate(t *testing.T) {
	if _, err := Validate(minimalSpec()); err != nil {
		t.Fatalf("minimal spec: %v", err)
	}
	cases := map[string]func(s *specs.Spec){
		"root.path is required":        func(s *specs.Spec) { s.Root = nil },
		"process is required":          func(s *specs.Spec) { s.Process = nil },
		"must be an absolute path":     func(s *specs.Spec) { s.Process.Cwd = "." },
		`unknown namespace type "foo"`: func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "foo" },
		"given more than once": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		},
		"needs linux.uidMappings": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		},
		"uid/gid mappings need a user": func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} },
		"joining an existing user": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user", Path: "/proc/1/ns/user"})
		},
		"without a private UTS namespace":  func(s *specs.Spec) { s.Hostname = "x"; s.Linux.Namespaces = s.Linux.Namespaces[:2] },
		`mount destination "tmp"`:          func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "tmp", Type: "tmpfs"}} },
		`unknown rlimit type "RLIMIT_FOO"`: func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}} },
		"soft limit 2 is above": func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}}
		},
		`sysctl "net.ipv4.ip_forward"`:       func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} },
		`sysctl "vm.swappiness"`:             func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} },
		`device path "dev/x"`:                func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c"}} },
		`hook path "hook"`:                   func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "hook"}}} },
		"systemd's slice:prefix:name":        func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:hull:abc" },
		"linux.intelRdt is not supported":    func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} },
		"process.args must not be empty":     func(s *specs.Spec) { s.Process.Args = nil },
		"unknown rootfsPropagation":          func(s *specs.Spec) { s.Linux.RootfsPropagation = "weird" },
		"timeOffsets need a new time":        func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}} },
		"seccomp notify":                     func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{ListenerPath: "/x"} },
		"id-mapped mounts are not supported": func(s *specs.Spec) { s.Mounts = []specs.Mount{{Destination: "/x", Options: []string{"idmap"}}} },
	}
	for want, mutate := range cases {
		s := minimalSpec()
		mutate(s)
		if _, err := Validate(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error with %q, got %v", want, err)
		}
	}
	s := minimalSpec()
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_NOT_A_CAP"}}
	if w, err := Validate(s); err != nil || len(w) != 1 || !strings.Contains(w[0], `unknown capability "CAP_NOT_A_CAP"`) {
		t.Errorf("unknown capability: warnings %v, err %v", w, err)
	}
}

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "abc-DEF_1.2+3", strings.Repeat("x", 64)} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("ValidateID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "../x", "é"} {
		if err := ValidateID(bad); err == nil {
			t.Errorf("ValidateID(%q) accepted", bad)
		}
	}
}

func TestStateRecord(t *testing.T) {
	r := &Runtime{Root: t.TempDir()}
	if _, err := r.Load("nope"); err != ErrNotExist {
		t.Fatalf("Load of a missing container: %v", err)
	}
	dir := filepath.Join(r.Root, "c1")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	st, _ := procstat.Read(os.Getpid())
	c := &Container{rt: r, id: "c1", dir: dir, rec: record{
		ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", InitPid: os.Getpid(), InitStartTime: st.StartTime,
		Created: time.Now().UTC(), CgroupPath: "/hull/unit-test-none", Config: minimalSpec(),
	}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	l, err := r.Load("c1")
	if err != nil {
		t.Fatal(err)
	}
	// Our own process stands in for init: alive, and no FIFO means running.
	if s, err := l.Status(); err != nil || s != Running {
		t.Fatalf("status %s, %v", s, err)
	}
	if err := os.WriteFile(filepath.Join(dir, fifoFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.Status(); s != Created {
		t.Fatalf("status with exec.fifo: %s", s)
	}
	// A reused pid (other start time) is a stopped container.
	l.rec.InitStartTime++
	if s, _ := l.Status(); s != Stopped {
		t.Fatalf("status with another start time: %s", s)
	}
	if cs, err := r.List(); err != nil || len(cs) != 1 || cs[0].ID() != "c1" {
		t.Fatalf("List: %v, %v", cs, err)
	}
}

// BenchmarkSealedExe measures the CVE-2019-5736 protection: copying the
// executable (HULL_BENCH_EXE, default the test binary) into a sealed memfd.
func BenchmarkSealedExe(b *testing.B) {
	exe := os.Getenv("HULL_BENCH_EXE")
	if exe == "" {
		exe = "/proc/self/exe"
	}
	if fi, err := os.Stat(exe); err == nil {
		b.SetBytes(fi.Size())
	}
	for b.Loop() {
		f, err := sealedCopy(exe)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func TestSealedExe(t *testing.T) {
	f, err := sealedExe()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if int(f.Fd()) < minExeFd {
		t.Errorf("memfd at fd %d, want >= %d", f.Fd(), minExeFd)
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Fatalf("seals %#x (%v), want %#x", seals, err, want)
	}
	if _, err := unix.Pwrite(int(f.Fd()), []byte("x"), 0); err == nil {
		t.Fatal("wrote to the sealed memfd")
	}
	w, err := os.OpenFile(fdPath(int(f.Fd())), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if err == nil {
		t.Fatal("wrote to the sealed memfd through /proc")
	}
	self, _ := os.Stat("/proc/self/exe")
	fi, _ := f.Stat()
	if fi.Size() != self.Size() {
		t.Fatalf("memfd size %d, executable %d", fi.Size(), self.Size())
	}
}
