package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hull-project/hull/runtime/internal/initproc"
	"github.com/hull-project/hull/seccomp"
	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The parent digests the spec into the initproc.Config the container's
// init acts on: init itself parses no JSON and knows no spec (see package
// initproc for why).

// fdPath is the /proc path of an fd, usable as a mount(2) or execve(2)
// argument.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// initSetup is what initConfig needs besides the spec.
type initSetup struct {
	id, bundle, rootfs string
	pid                int
	noPivot            bool
	preserveFDs        int
	plan               *nsPlan
	cgroup             initproc.CgroupInfo
}

// initConfig builds the Config of a container's init.
func initConfig(s *specs.Spec, o initSetup) (*initproc.Config, error) {
	cfg := &initproc.Config{
		Bundle: o.bundle, Rootfs: o.rootfs, NoPivot: o.noPivot, PreserveFDs: o.preserveFDs,
		HostMountNS: !o.plan.has(specs.MountNamespace), NewCgroupNS: o.plan.newCgroup,
		NewTimeNS: o.plan.newTime, UserNS: o.plan.isNew(specs.UserNamespace),
		Cgroup: o.cgroup, Hostname: s.Hostname, Domainname: s.Domainname,
		ReadonlyPaths: s.Linux.ReadonlyPaths, MaskedPaths: s.Linux.MaskedPaths,
		RootReadonly: s.Root != nil && s.Root.Readonly, Personality: -1,
	}
	if err := processConfig(cfg, s.Process, s.Linux.Seccomp); err != nil {
		return nil, err
	}
	if p := s.Linux.RootfsPropagation; p != "" {
		cfg.RootPropagation = uint64(propagationOpts[p])
	}
	if err := mountsConfig(cfg, s.Mounts); err != nil {
		return nil, err
	}
	cfg.Devices = devicesConfig(s.Linux.Devices)
	if o.plan.newTime {
		offsets, err := timeOffsets(s.Linux.TimeOffsets)
		if err != nil {
			return nil, err
		}
		cfg.TimeOffsets = offsets
	}
	keys := make([]string, 0, len(s.Linux.Sysctl))
	for k := range s.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cfg.Sysctls = append(cfg.Sysctls, initproc.Sysctl{
			Key: k, Path: "/proc/sys/" + strings.ReplaceAll(k, ".", "/"), Value: s.Linux.Sysctl[k],
		})
	}
	if p := s.Linux.Personality; p != nil {
		switch p.Domain {
		case specs.PerLinux:
			cfg.Personality = 0x0000
		case specs.PerLinux32:
			cfg.Personality = 0x0008
		default:
			return nil, fmt.Errorf("unknown personality domain %q", p.Domain)
		}
		if len(p.Flags) > 0 {
			return nil, errors.New("personality flags are not supported")
		}
	}
	h := hooksOf(s)
	//lint:ignore SA1019 Prestart is deprecated but still run
	cfg.RuntimeHooks = len(h.Prestart) > 0 || len(h.CreateRuntime) > 0
	var err error
	if cfg.CreateContainer = initHooks(h.CreateContainer); len(cfg.CreateContainer) > 0 {
		if cfg.CreatingState, err = json.Marshal(hookState(o.id, Creating, o.pid, o.bundle, s)); err != nil {
			return nil, err
		}
	}
	if cfg.StartContainer = initHooks(h.StartContainer); len(cfg.StartContainer) > 0 {
		if cfg.CreatedState, err = json.Marshal(hookState(o.id, Created, o.pid, o.bundle, s)); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// execConfig builds the Config of the helper that starts p in a running
// container whose spec is s (for its seccomp profile).
func execConfig(s *specs.Spec, p *specs.Process, preserveFDs int) (*initproc.Config, error) {
	cfg := &initproc.Config{Exec: true, PreserveFDs: preserveFDs, Personality: -1}
	var sc *specs.LinuxSeccomp
	if s.Linux != nil {
		sc = s.Linux.Seccomp
	}
	if err := processConfig(cfg, p, sc); err != nil {
		return nil, err
	}
	return cfg, nil
}

// processConfig fills in cfg's Process, Seccomp and LastCap.
func processConfig(cfg *initproc.Config, p *specs.Process, sc *specs.LinuxSeccomp) error {
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	cfg.LastCap = int(last)
	if cfg.Seccomp, err = compileSeccomp(sc); err != nil {
		return err
	}
	ip := &cfg.Process
	ip.Args, ip.Env, ip.Cwd, ip.Terminal = p.Args, p.Env, p.Cwd, p.Terminal
	if b := p.ConsoleSize; b != nil {
		ip.ConsoleHeight, ip.ConsoleWidth = uint32(b.Height), uint32(b.Width)
	}
	ip.UID, ip.GID, ip.AdditionalGids = p.User.UID, p.User.GID, p.User.AdditionalGids
	ip.Umask = 0o022
	if p.User.Umask != nil {
		ip.Umask = *p.User.Umask
	}
	ip.NoNewPrivileges = p.NoNewPrivileges
	for _, rl := range p.Rlimits {
		res, ok := rlimitTypes[rl.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit type %q", rl.Type)
		}
		ip.Rlimits = append(ip.Rlimits, initproc.Rlimit{Name: rl.Type, Resource: res, Soft: rl.Soft, Hard: rl.Hard})
	}
	if ip.IOPriority, err = ioPriority(p.IOPriority); err != nil {
		return err
	}
	ip.Caps = capSets(p.Capabilities, last)
	return nil
}

// capSets turns the process's capability names into bit masks;
// capabilities the kernel lacks are ignored (Validate warned about them).
func capSets(c *specs.LinuxCapabilities, last capability.Cap) initproc.Caps {
	var out initproc.Caps
	if c == nil {
		return out
	}
	bits := func(names []string) uint64 {
		var m uint64
		for _, n := range names {
			if v, ok := capByName()[n]; ok && v <= last && v < 64 {
				m |= 1 << uint(v)
			}
		}
		return m
	}
	out.Bounding, out.Effective, out.Permitted = bits(c.Bounding), bits(c.Effective), bits(c.Permitted)
	out.Inheritable, out.Ambient = bits(c.Inheritable), bits(c.Ambient)
	return out
}

// ioprioClasses are the classes of process.ioPriority.
var ioprioClasses = map[specs.IOPriorityClass]int64{
	specs.IOPRIO_CLASS_RT:   1,
	specs.IOPRIO_CLASS_BE:   2,
	specs.IOPRIO_CLASS_IDLE: 3,
}

// ioPriority is the ioprio_set(2) value of process.ioPriority, -1 if unset.
func ioPriority(p *specs.LinuxIOPriority) (int64, error) {
	if p == nil {
		return -1, nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return 0, fmt.Errorf("unknown I/O priority class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, fmt.Errorf("I/O priority %d out of range 0-7", p.Priority)
	}
	return class<<13 | int64(p.Priority), nil
}

// compileSeccomp compiles the container's seccomp profile (nil: none)
// into the BPF program init loads.
func compileSeccomp(s *specs.LinuxSeccomp) (*initproc.Seccomp, error) {
	if s == nil {
		return nil, nil
	}
	f, err := seccomp.Compile(s, goruntime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if len(f.Program) == 0 {
		return nil, errors.New("seccomp: empty program")
	}
	n := len(f.Program) * int(unsafe.Sizeof(unix.SockFilter{}))
	prog := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&f.Program[0])), n)...)
	return &initproc.Seccomp{Program: prog, Flags: uint64(f.Flags)}, nil
}

// mountsConfig parses the spec's mounts into cfg, and notes how /dev is
// mounted.
func mountsConfig(cfg *initproc.Config, mounts []specs.Mount) error {
	for _, m := range mounts {
		o, err := parseMountOptions(m.Options)
		if err != nil {
			return fmt.Errorf("mount %s (type %q) on %s: %w", m.Source, m.Type, m.Destination, err)
		}
		if path.Clean(m.Destination) == "/dev" {
			if o.isBind() || m.Type == "bind" {
				cfg.DevBind = true
			} else if o.flags&unix.MS_RDONLY != 0 {
				cfg.DevReadonly = true
			}
		}
		im := initproc.Mount{
			Source: m.Source, Destination: m.Destination, Type: m.Type, Flags: uint64(o.flags),
			AttrSet: o.attrSet, AttrClr: o.attrClr, Data: o.dataString(), Tmpcopyup: o.tmpcopyup,
		}
		for _, p := range o.propagation {
			im.Propagation = append(im.Propagation, uint64(p))
		}
		cfg.Mounts = append(cfg.Mounts, im)
	}
	return nil
}

// defaultDevices are the device nodes every container gets, as in runc.
var defaultDevices = []initproc.Device{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, Mode: 0o666},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, Mode: 0o666},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, Mode: 0o666},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, Mode: 0o666},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, Mode: 0o666},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, Mode: 0o666},
}

// devicesConfig returns the spec's devices followed by the default ones
// it does not name.
func devicesConfig(devs []specs.LinuxDevice) []initproc.Device {
	var out []initproc.Device
	have := map[string]bool{}
	for _, d := range devs {
		have[path.Clean(d.Path)] = true
		id := initproc.Device{Path: d.Path, Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: 0o666}
		if d.FileMode != nil {
			id.Mode = uint32(d.FileMode.Perm())
		}
		if d.UID != nil {
			id.UID = *d.UID
		}
		if d.GID != nil {
			id.GID = *d.GID
		}
		out = append(out, id)
	}
	for _, d := range defaultDevices {
		if !have[d.Path] {
			out = append(out, d)
		}
	}
	return out
}

// timeOffsets renders the spec's clock offsets as the lines of
// /proc/<pid>/timens_offsets.
func timeOffsets(offsets map[string]specs.LinuxTimeOffset) (string, error) {
	var b []byte
	for clock, off := range offsets {
		switch clock {
		case "monotonic", "boottime":
		default:
			return "", fmt.Errorf("time offset for unknown clock %q", clock)
		}
		b = fmt.Appendf(b, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
	}
	return string(b), nil
}

// initHooks converts hooks for init.
func initHooks(hooks []specs.Hook) []initproc.Hook {
	var out []initproc.Hook
	for _, h := range hooks {
		ih := initproc.Hook{Path: h.Path, Args: h.Args, Env: h.Env}
		if h.Timeout != nil {
			ih.Timeout = int64(*h.Timeout)
		}
		out = append(out, ih)
	}
	return out
}

// cgroupBind and cgroupMountInfo are initproc's, under the names
// cgroupMountInfoFor has always used.
type (
	cgroupBind      = initproc.CgroupBind
	cgroupMountInfo = initproc.CgroupInfo
)
