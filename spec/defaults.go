package spec

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
)

const (
	// DefaultPathEnv is the PATH a container gets when its image sets none
	// (Docker's oci.DefaultPathEnv for Linux).
	DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

	// DefaultShmSize is the size of /dev/shm when Options.ShmSize is 0:
	// 64 MiB, Docker's default.
	DefaultShmSize int64 = 64 << 20

	// InitMountPath is where --init bind-mounts Options.InitPath (read-only)
	// and what becomes args[0], followed by "--" and the container's
	// command. Docker 1.13-18.06 used /dev/init too (today's Docker uses
	// /sbin/docker-init); /dev is a tmpfs, so the image's rootfs is not
	// touched.
	InitMountPath = "/dev/init"

	// StopSignalAnnotation is the annotation that carries the container's
	// stop signal (Options.StopSignal, else the image's), normalised to
	// its SIG name. The key is the OCI image-spec one.
	StopSignalAnnotation = "org.opencontainers.image.stopSignal"
)

// MaskedPaths returns the paths Docker masks in an unprivileged container
// (bind-mounts /dev/null or an empty read-only tmpfs over them), including
// the thermal_throttle directory of every CPU of the host, which Docker
// masks since GHSA-6fw5-f8r9-fgfm.
func MaskedPaths() []string {
	p := []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	return append(p, thermalThrottle()...)
}

// thermalThrottle caches thermalThrottlePaths: the CPUs do not change while
// hull runs (Docker computes the list once too).
var thermalThrottle = sync.OnceValue(thermalThrottlePaths)

// ReadonlyPaths returns the paths Docker remounts read-only in an
// unprivileged container.
func ReadonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}

// thermalThrottlePaths lists /sys/devices/system/cpu/cpuN/thermal_throttle
// for the host's possible CPUs that have one, in CPU order.
func thermalThrottlePaths() []string {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return nil
	}
	cpus, err := parseList(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	var out []string
	for _, cpu := range cpus {
		p := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/thermal_throttle", cpu)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func i64(v int64) *int64 { return &v }

// DefaultDeviceRules returns the device cgroup rules of an unprivileged
// container: Docker's (deny everything; allow null, zero, urandom, random,
// tty and console; deny fuse), followed by the rules runc appends on its
// own (mknod of any device, null, random, full, tty, zero, urandom, the
// /dev/pts slaves, ptmx and tun). Listing runc's implicit rules makes the
// spec mean the same under a runtime that adds nothing.
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	// A negative number stands for "any", which the spec writes by
	// omitting the field.
	num := func(n int64) *int64 {
		if n < 0 {
			return nil
		}
		return i64(n)
	}
	rule := func(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: num(major), Minor: num(minor), Access: access}
	}
	return []specs.LinuxDeviceCgroup{
		// Docker (oci.DefaultLinuxSpec).
		{Allow: false, Access: "rwm"},
		rule(true, "c", 1, 5, "rwm"),     // /dev/zero
		rule(true, "c", 1, 3, "rwm"),     // /dev/null
		rule(true, "c", 1, 9, "rwm"),     // /dev/urandom
		rule(true, "c", 1, 8, "rwm"),     // /dev/random
		rule(true, "c", 5, 0, "rwm"),     // /dev/tty
		rule(true, "c", 5, 1, "rwm"),     // /dev/console
		rule(false, "c", 10, 229, "rwm"), // /dev/fuse
		// runc's implicit allow list (libcontainer/specconv.AllowedDevices).
		rule(true, "c", -1, -1, "m"),
		rule(true, "b", -1, -1, "m"),
		rule(true, "c", 1, 3, "rwm"),    // /dev/null
		rule(true, "c", 1, 8, "rwm"),    // /dev/random
		rule(true, "c", 1, 7, "rwm"),    // /dev/full
		rule(true, "c", 5, 0, "rwm"),    // /dev/tty
		rule(true, "c", 1, 5, "rwm"),    // /dev/zero
		rule(true, "c", 1, 9, "rwm"),    // /dev/urandom
		rule(true, "c", 136, -1, "rwm"), // /dev/pts/*
		rule(true, "c", 5, 2, "rwm"),    // /dev/ptmx
		rule(true, "c", 10, 200, "rwm"), // /dev/net/tun
	}
}

// defaultMounts returns Docker's default mounts; /dev/shm gets its size
// later, from Options.ShmSize.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
	}
}

// baseSpec returns Docker's default Linux spec (oci.DefaultLinuxSpec): the
// 14 default capabilities, the default mounts, masked and read-only paths,
// new mount, network, UTS, PID and IPC namespaces and the default device
// rules. Generate and Default refine it.
func baseSpec() *specs.Spec {
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
		},
		Root:   &specs.Root{},
		Mounts: defaultMounts(),
		Linux: &specs.Linux{
			MaskedPaths:   MaskedPaths(),
			ReadonlyPaths: ReadonlyPaths(),
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
			},
			Devices: []specs.LinuxDevice{},
			Resources: &specs.LinuxResources{
				Devices: DefaultDeviceRules(),
			},
			Sysctl: map[string]string{},
		},
	}
}

// Default returns the baseline spec `hull runtime spec` writes, in the
// spirit of `runc spec`: root.path "rootfs" (read-only), args ["sh"], a
// terminal, hostname "hull", and otherwise exactly what Generate gives a
// container run as root from an image without configuration: Docker's
// capabilities, mounts, masked and read-only paths, device rules,
// namespaces (plus a cgroup namespace on cgroup v2 hosts), default
// sysctls and default seccomp profile.
//
// Should the seccomp profile fail to build (it cannot parse the kernel
// release), Default leaves seccomp out rather than fail.
func Default() *specs.Spec {
	h := currentHost()
	opts := Options{
		Cmd:      []string{"sh"},
		Tty:      true,
		Hostname: "hull",
		ReadOnly: true,
	}
	s, err := generate(nil, opts, h)
	if err != nil {
		opts.SecurityOpt = []string{"seccomp=unconfined"}
		if s, err = generate(nil, opts, h); err != nil {
			// Unreachable: these options are valid on every host.
			panic("spec: Default: " + err.Error())
		}
	}
	s.Root.Path = "rootfs"
	return s
}

// parseList parses a cpuset-style list ("0-3,5,7-8") into its numbers, in
// the order given, with Docker's error wording.
func parseList(val string) ([]int, error) {
	if val == "" {
		return nil, nil
	}
	var out []int
	for _, r := range strings.Split(val, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid format: %s", val)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid format: %s", val)
			}
		}
		if b > maxListValue {
			return nil, fmt.Errorf("value of out range, maximum is %d", maxListValue)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// maxListValue bounds the numbers of a cpuset list, as Docker's
// parsers.ParseUintListMaximum does for --cpuset-cpus and --cpuset-mems.
const maxListValue = 8192
