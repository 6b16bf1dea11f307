package spec

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestDockerDefaults checks the spec of a plain `docker run img sh` against
// what Docker produces.
func TestDockerDefaults(t *testing.T) {
	s := mustGen(t, nil, Options{Cmd: []string{"sh"}, Rootfs: t.TempDir(), Hostname: "abc"})

	if s.Version != specs.Version {
		t.Errorf("ociVersion = %q", s.Version)
	}
	want14 := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	c := s.Process.Capabilities
	for name, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !reflect.DeepEqual(got, want14) {
			t.Errorf("%s capabilities = %v, want Docker's 14", name, got)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v / ambient %v, want empty (CVE-2022-24769)", c.Inheritable, c.Ambient)
	}
	if s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges set without the security option")
	}
	if len(s.Process.Rlimits) != 0 {
		t.Errorf("rlimits = %v, Docker sets none by default", s.Process.Rlimits)
	}
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != 0 {
		t.Errorf("oomScoreAdj = %v, want 0", s.Process.OOMScoreAdj)
	}
	if s.Process.Terminal {
		t.Error("terminal without -t")
	}
	if s.Root.Readonly {
		t.Error("read-only rootfs without --read-only")
	}

	wantMounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
	}
	if !reflect.DeepEqual(s.Mounts, wantMounts) {
		t.Errorf("mounts:\n got %+v\nwant %+v", s.Mounts, wantMounts)
	}

	masked := []string{"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap"}
	if got := s.Linux.MaskedPaths; len(got) < len(masked) || !reflect.DeepEqual(got[:len(masked)], masked) {
		t.Errorf("maskedPaths = %v, want %v (+ thermal_throttle dirs)", got, masked)
	}
	readonly := []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	if !reflect.DeepEqual(s.Linux.ReadonlyPaths, readonly) {
		t.Errorf("readonlyPaths = %v", s.Linux.ReadonlyPaths)
	}

	ns := namespaceTypes(s)
	for _, typ := range []specs.LinuxNamespaceType{specs.MountNamespace, specs.NetworkNamespace, specs.UTSNamespace, specs.PIDNamespace, specs.IPCNamespace} {
		if p, ok := ns[typ]; !ok || p != "" {
			t.Errorf("namespace %s missing or joined (%q)", typ, p)
		}
	}
	if _, ok := ns[specs.CgroupNamespace]; ok {
		t.Error("cgroup namespace on a cgroup v1 host (Docker: host)")
	}
	if _, ok := ns[specs.UserNamespace]; ok {
		t.Error("user namespace without mappings")
	}

	rules := s.Linux.Resources.Devices
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("first device rule %+v, want deny all", rules)
	}
	allowed := map[[2]int64]bool{}
	for _, r := range rules[1:] {
		if r.Allow && r.Type == "c" && r.Major != nil && r.Minor != nil {
			allowed[[2]int64{*r.Major, *r.Minor}] = true
		}
	}
	for name, mm := range map[string][2]int64{"null": {1, 3}, "zero": {1, 5}, "full": {1, 7}, "random": {1, 8},
		"urandom": {1, 9}, "tty": {5, 0}, "console": {5, 1}, "ptmx": {5, 2}} {
		if !allowed[mm] {
			t.Errorf("device rules do not allow /dev/%s (c %d:%d)", name, mm[0], mm[1])
		}
	}
	if len(s.Linux.Devices) != 0 {
		t.Errorf("devices = %v, want none", s.Linux.Devices)
	}

	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Errorf("seccomp = %+v, want Docker's default profile", s.Linux.Seccomp)
	}
	wantSysctl := map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	if !reflect.DeepEqual(s.Linux.Sysctl, wantSysctl) {
		t.Errorf("sysctl = %v, want Docker's private-netns defaults %v", s.Linux.Sysctl, wantSysctl)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestCommand(t *testing.T) {
	img := &v1.ConfigFile{Config: v1.Config{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"img-cmd", "arg"}}}
	cmdOnly := &v1.ConfigFile{Config: v1.Config{Cmd: []string{"img-cmd"}}}
	tests := []struct {
		name string
		img  *v1.ConfigFile
		opts Options
		want []string
		err  string
	}{
		{name: "image entrypoint + image cmd", img: img, want: []string{"/entry", "-x", "img-cmd", "arg"}},
		{name: "run args replace the image cmd, entrypoint kept", img: img, opts: Options{Cmd: []string{"a", "b"}},
			want: []string{"/entry", "-x", "a", "b"}},
		{name: "--entrypoint drops the image cmd", img: img, opts: Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true},
			want: []string{"/bin/sh"}},
		{name: "--entrypoint with run args", img: img, opts: Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Cmd: []string{"-c", "id"}},
			want: []string{"/bin/sh", "-c", "id"}},
		{name: "--entrypoint without EntrypointSet still overrides", img: img, opts: Options{Entrypoint: []string{"/bin/sh"}},
			want: []string{"/bin/sh"}},
		{name: `--entrypoint "" with run args runs the args`, img: img, opts: Options{Entrypoint: []string{""}, EntrypointSet: true, Cmd: []string{"ls"}},
			want: []string{"ls"}},
		{name: `--entrypoint "" as empty list`, img: img, opts: Options{EntrypointSet: true, Cmd: []string{"ls", "-l"}},
			want: []string{"ls", "-l"}},
		{name: `--entrypoint "" alone: image cmd dropped too`, img: img, opts: Options{EntrypointSet: true},
			err: "no command specified"},
		{name: "image cmd only", img: cmdOnly, want: []string{"img-cmd"}},
		{name: "image cmd only, run args", img: cmdOnly, opts: Options{Cmd: []string{"x"}}, want: []string{"x"}},
		{name: "no image, run args", opts: Options{Cmd: []string{"x", "y"}}, want: []string{"x", "y"}},
		{name: "no command at all", err: "no command specified"},
		{name: "image without config and no args", img: &v1.ConfigFile{}, err: "no command specified"},
		{name: "--init wraps the command", img: cmdOnly, opts: Options{Init: true, InitPath: "/usr/bin/hull"},
			want: []string{InitMountPath, "--", "img-cmd"}},
		{name: "--init ignored with --pid host", img: cmdOnly, opts: Options{Init: true, InitPath: "/usr/bin/hull", PidMode: "host"},
			want: []string{"img-cmd"}},
		{name: "--init needs a binary", img: cmdOnly, opts: Options{Init: true}, err: "no init binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(tt.img, tt.opts, testHost())
			if !checkErr(t, err, tt.err) {
				return
			}
			if !reflect.DeepEqual(s.Process.Args, tt.want) {
				t.Errorf("args = %q, want %q", s.Process.Args, tt.want)
			}
			m, ok := findMount(s, InitMountPath)
			if tt.opts.Init && tt.opts.PidMode == "" {
				want := specs.Mount{Destination: InitMountPath, Type: "bind", Source: "/usr/bin/hull", Options: []string{"bind", "ro"}}
				if !reflect.DeepEqual(m, want) || s.Mounts[len(s.Mounts)-1].Destination != InitMountPath {
					t.Errorf("init mount = %+v, want %+v as the last mount", m, want)
				}
			} else if ok {
				t.Errorf("unexpected init mount %+v", m)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		imageEnv []string
		opts     Options
		home     string
		want     []string
	}{
		{name: "defaults: PATH, HOSTNAME, HOME", opts: Options{Hostname: "h1"}, home: "/root",
			want: []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h1", "HOME=/root"}},
		{name: "-t adds TERM=xterm", opts: Options{Hostname: "h1", Tty: true}, home: "/",
			want: []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h1", "TERM=xterm", "HOME=/"}},
		{name: "image PATH replaces the default in place", imageEnv: []string{"PATH=/opt/bin", "LANG=C"}, home: "/",
			want: []string{"PATH=/opt/bin", "HOSTNAME=", "LANG=C", "HOME=/"}},
		{name: "-e beats the image; image vars follow user vars", imageEnv: []string{"A=img", "B=img"},
			opts: Options{Env: []string{"B=user", "C=user"}}, home: "/",
			want: []string{"PATH=" + DefaultPathEnv, "HOSTNAME=", "B=user", "C=user", "A=img", "HOME=/"}},
		{name: "-e TERM overrides the -t default", opts: Options{Tty: true, Env: []string{"TERM=vt100"}}, home: "/",
			want: []string{"PATH=" + DefaultPathEnv, "HOSTNAME=", "TERM=vt100", "HOME=/"}},
		{name: "a bare key unsets the variable", imageEnv: []string{"PATH=/opt/bin"}, opts: Options{Env: []string{"PATH", "HOSTNAME"}}, home: "/",
			want: []string{"HOME=/"}},
		{name: "HOME from the image is kept", imageEnv: []string{"HOME=/home/app"}, home: "/root",
			want: []string{"PATH=" + DefaultPathEnv, "HOSTNAME=", "HOME=/home/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := environment(tt.imageEnv, tt.opts, tt.home)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("env = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProcessOptions(t *testing.T) {
	img := &v1.ConfigFile{Config: v1.Config{WorkingDir: "/app", Cmd: []string{"sh"}}}
	tests := []struct {
		name  string
		img   *v1.ConfigFile
		opts  Options
		err   string
		check func(t *testing.T, s *specs.Spec)
	}{
		{name: "cwd defaults to /", check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "cwd from the image", img: img, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/app" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "-w beats the image and is cleaned", img: img, opts: Options{WorkingDir: "/srv/../data/"}, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.Cwd != "/data" {
				t.Errorf("cwd = %q", s.Process.Cwd)
			}
		}},
		{name: "-w must be absolute", opts: Options{WorkingDir: "rel"}, err: "the working directory 'rel' is invalid, it needs to be an absolute path"},
		{name: "-t sets terminal", opts: Options{Tty: true}, check: func(t *testing.T, s *specs.Spec) {
			if !s.Process.Terminal {
				t.Error("terminal not set")
			}
		}},
		{name: "hostname and domainname", opts: Options{Hostname: "web", Domainname: "example.org"}, check: func(t *testing.T, s *specs.Spec) {
			if s.Hostname != "web" || s.Linux.Sysctl["kernel.domainname"] != "example.org" {
				t.Errorf("hostname %q, kernel.domainname %q", s.Hostname, s.Linux.Sysctl["kernel.domainname"])
			}
		}},
		{name: "--uts host: no hostname in the spec, HOSTNAME env kept", opts: Options{Hostname: "web", UTSMode: "host"}, check: func(t *testing.T, s *specs.Spec) {
			if s.Hostname != "" || !slices.Contains(s.Process.Env, "HOSTNAME=web") {
				t.Errorf("hostname %q env %q", s.Hostname, s.Process.Env)
			}
		}},
		{name: "--domainname with --uts host", opts: Options{Domainname: "x", UTSMode: "host"}, err: "conflicting options: domainname and the UTS mode"},
		{name: "--oom-score-adj", opts: Options{OomScoreAdj: -500}, check: func(t *testing.T, s *specs.Spec) {
			if *s.Process.OOMScoreAdj != -500 {
				t.Errorf("oomScoreAdj = %d", *s.Process.OOMScoreAdj)
			}
		}},
		{name: "--oom-score-adj range", opts: Options{OomScoreAdj: 1001}, err: "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{name: "labels become annotations, over the image's", img: &v1.ConfigFile{Config: v1.Config{Cmd: []string{"sh"}, Labels: map[string]string{"a": "img", "b": "img"}}},
			opts: Options{Labels: map[string]string{"b": "run"}}, check: func(t *testing.T, s *specs.Spec) {
				want := map[string]string{"a": "img", "b": "run"}
				if !reflect.DeepEqual(s.Annotations, want) {
					t.Errorf("annotations = %v, want %v", s.Annotations, want)
				}
			}},
		{name: "stop signal from the image, normalised", img: &v1.ConfigFile{Config: v1.Config{Cmd: []string{"sh"}, StopSignal: "quit"}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Annotations[StopSignalAnnotation] != "SIGQUIT" {
					t.Errorf("annotations = %v", s.Annotations)
				}
			}},
		{name: "--stop-signal overrides the image's", img: &v1.ConfigFile{Config: v1.Config{Cmd: []string{"sh"}, StopSignal: "SIGQUIT"}},
			opts: Options{StopSignal: "9"}, check: func(t *testing.T, s *specs.Spec) {
				if s.Annotations[StopSignalAnnotation] != "SIGKILL" {
					t.Errorf("annotations = %v", s.Annotations)
				}
			}},
		{name: "bad stop signal", opts: Options{StopSignal: "SIGFOO"}, err: "Invalid signal: SIGFOO"},
		{name: "no labels, no annotations", check: func(t *testing.T, s *specs.Spec) {
			if s.Annotations != nil {
				t.Errorf("annotations = %v", s.Annotations)
			}
		}},
		{name: "cgroups path", opts: Options{CgroupsPath: "/hull/abc"}, check: func(t *testing.T, s *specs.Spec) {
			if s.Linux.CgroupsPath != "/hull/abc" {
				t.Errorf("cgroupsPath = %q", s.Linux.CgroupsPath)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(tt.img, withCmd(tt.opts), testHost())
			if checkErr(t, err, tt.err) {
				tt.check(t, s)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "SIGTERM", want: "SIGTERM"},
		{in: "term", want: "SIGTERM"},
		{in: "15", want: "SIGTERM"},
		{in: "SIGRTMIN+3", want: "SIGRTMIN+3"},
		{in: "RTMAX-1", want: "SIGRTMAX-1"},
		{in: "64", want: "SIGRTMAX"},
		{in: "0", err: "Invalid signal: 0"},
		{in: "65", err: "Invalid signal: 65"},
		{in: "SIGRTMIN+31", err: "Invalid signal"},
		{in: "NOPE", err: "Invalid signal: NOPE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if checkErr(t, err, tt.err) && got != tt.want {
				t.Errorf("ParseSignal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUlimits(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []specs.POSIXRlimit
		err  string
	}{
		{name: "none: Docker adds no defaults"},
		{name: "soft:hard", in: []string{"nofile=1024:2048"}, want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048}}},
		{name: "soft only sets hard too", in: []string{"nproc=100"}, want: []specs.POSIXRlimit{{Type: "RLIMIT_NPROC", Soft: 100, Hard: 100}}},
		{name: "unlimited is -1", in: []string{"memlock=-1:-1"}, want: []specs.POSIXRlimit{{Type: "RLIMIT_MEMLOCK", Soft: ^uint64(0), Hard: ^uint64(0)}}},
		{name: "repeat keeps position, last value wins", in: []string{"nofile=1:2", "core=0", "nofile=3:4"},
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 3, Hard: 4}, {Type: "RLIMIT_CORE"}}},
		{name: "missing =", in: []string{"nofile"}, err: "invalid ulimit argument: nofile"},
		{name: "unknown type", in: []string{"bogus=1"}, err: "invalid ulimit type: bogus"},
		{name: "not a number", in: []string{"nofile=abc"}, err: "--ulimit nofile=abc"},
		{name: "soft above hard", in: []string{"nofile=10:5"}, err: "ulimit soft limit must be less than or equal to hard limit: 10 > 5"},
		{name: "three values", in: []string{"nofile=1:2:3"}, err: "too many limit value arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(Options{Ulimits: tt.in}), testHost())
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(s.Process.Rlimits, tt.want) {
				t.Errorf("rlimits = %+v, want %+v", s.Process.Rlimits, tt.want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	s := Default()
	if s.Root.Path != "rootfs" || !s.Root.Readonly || !s.Process.Terminal || !reflect.DeepEqual(s.Process.Args, []string{"sh"}) {
		t.Errorf("root %+v terminal %v args %q", s.Root, s.Process.Terminal, s.Process.Args)
	}
	if !reflect.DeepEqual(s.Process.Capabilities.Bounding, DefaultCapabilities()) {
		t.Errorf("capabilities = %v", s.Process.Capabilities.Bounding)
	}
	if s.Process.User.UID != 0 || s.Process.Cwd != "/" || s.Hostname != "hull" {
		t.Errorf("user %+v cwd %q hostname %q", s.Process.User, s.Process.Cwd, s.Hostname)
	}
	if !slices.Contains(s.Process.Env, "TERM=xterm") || !slices.Contains(s.Process.Env, "PATH="+DefaultPathEnv) {
		t.Errorf("env = %q", s.Process.Env)
	}
	if s.Linux.Seccomp == nil {
		t.Error("no seccomp profile")
	}
	if len(s.Process.Rlimits) != 0 {
		t.Errorf("rlimits = %v", s.Process.Rlimits)
	}
	// Read-only rootfs: Docker adds "ro" to the defaults outside /proc and /dev.
	for _, m := range s.Mounts {
		ro := slices.Contains(m.Options, "ro")
		switch m.Destination {
		case "/sys", "/sys/fs/cgroup":
			if !ro {
				t.Errorf("%s not read-only", m.Destination)
			}
		default:
			if ro {
				t.Errorf("%s read-only", m.Destination)
			}
		}
	}
}
