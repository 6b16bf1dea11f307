package initproc

// Config is what the parent sends init: the container's configuration
// digested into what init acts on. The parent parses and validates the
// spec (mount options into flags, capability names into bits, the
// seccomp profile into a BPF program, hook states into JSON), so init
// never sees the spec itself.
type Config struct {
	// Exec: not a container's init but a process to start in a running
	// container (`hull runtime exec`). Only Process, Seccomp,
	// PreserveFDs and LastCap apply then.
	Exec bool
	// Process is the process to execve.
	Process Process
	// Seccomp is the filter to load, nil for none.
	Seccomp *Seccomp
	// PreserveFDs is the number of fds from 3 on that the container
	// process inherits.
	PreserveFDs int
	// LastCap is the highest capability the kernel knows.
	LastCap int

	// Bundle is the bundle directory (relative bind sources are in it).
	Bundle string
	// Rootfs is the absolute host path of the root filesystem.
	Rootfs  string
	NoPivot bool
	// HostMountNS: the container has no mount namespace of its own: the
	// rootfs is set up in hull's (its mounts are visible on the host
	// until delete removes them) and entered with chroot.
	HostMountNS bool
	// NewCgroupNS: init unshares a cgroup namespace first thing (the
	// parent has put it into the container's cgroup).
	NewCgroupNS bool
	// NewTimeNS: init unshares a time namespace for the container
	// process, with TimeOffsets (the lines of timens_offsets).
	NewTimeNS   bool
	TimeOffsets string
	// UserNS: init runs in a new user namespace (devices are bind
	// mounted from the host, as mknod is not allowed).
	UserNS bool
	// RootPropagation are the MS_* flags "/" gets first
	// (linux.rootfsPropagation), 0 for MS_SLAVE|MS_REC.
	RootPropagation uint64
	// Mounts are the spec's mounts, in order.
	Mounts []Mount
	// DevBind: /dev is a bind mount, so no devices are made.
	// DevReadonly: /dev is remounted read-only once they are.
	DevBind, DevReadonly bool
	// Devices are the device nodes to make: the spec's, then the default
	// ones it does not name.
	Devices []Device
	// Cgroup is where the container's cgroup lives, for "cgroup" mounts.
	Cgroup CgroupInfo
	// Hostname and Domainname are set when not empty.
	Hostname, Domainname string
	// Sysctls are written after pivot_root.
	Sysctls []Sysctl
	// ReadonlyPaths and MaskedPaths are made read-only and masked.
	ReadonlyPaths, MaskedPaths []string
	// RootReadonly remounts the rootfs read-only.
	RootReadonly bool
	// Personality is the execution domain to set, -1 for none.
	Personality int64
	// RuntimeHooks: the spec has prestart or createRuntime hooks, which
	// the parent runs when init asks (MsgHooks).
	RuntimeHooks bool
	// CreateContainer and StartContainer are the hooks init runs, with
	// the OCI states (JSON) they get on stdin.
	CreateContainer, StartContainer []Hook
	CreatingState, CreatedState     []byte
}

// Process is the process init (or the exec helper) execve's.
type Process struct {
	Args, Env []string
	Cwd       string
	Terminal  bool
	// ConsoleHeight and ConsoleWidth are the terminal's size (0: unset).
	ConsoleHeight, ConsoleWidth uint32
	UID, GID                    uint32
	AdditionalGids              []uint32
	Umask                       uint32
	NoNewPrivileges             bool
	Rlimits                     []Rlimit
	// IOPriority is the ioprio_set(2) value, -1 for none.
	IOPriority int64
	Caps       Caps
}

// Rlimit is one resource limit.
type Rlimit struct {
	Name       string // "RLIMIT_NOFILE", for errors
	Resource   int
	Soft, Hard uint64
}

// Caps are the process's capability sets, bit n for capability n.
type Caps struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Mount is a spec mount with its options parsed.
type Mount struct {
	Source, Destination, Type string
	// Flags are the MS_* flags; MS_BIND (or Type "bind") makes a bind
	// mount.
	Flags uint64
	// Propagation are the propagation changes applied after the mount.
	Propagation []uint64
	// AttrSet and AttrClr are recursive MOUNT_ATTR_* changes.
	AttrSet, AttrClr uint64
	// Data is the file system's data string.
	Data string
	// Tmpcopyup copies the covered directory into the new tmpfs.
	Tmpcopyup bool
}

// Device is a device node to make.
type Device struct {
	Path         string
	Type         string // "c", "u", "b" or "p"
	Major, Minor int64
	Mode         uint32 // permission bits
	UID, GID     uint32
}

// CgroupInfo is where the container's cgroup lives on the host.
type CgroupInfo struct {
	// V2 is set on a pure cgroup v2 host; Dir is then the container's
	// cgroup directory.
	V2  bool
	Dir string
	// V1 are the container's directories in each v1 hierarchy.
	V1 []CgroupBind
}

// CgroupBind is the container's directory in one v1 hierarchy.
type CgroupBind struct {
	// Name is the hierarchy's directory under /sys/fs/cgroup, like
	// "memory" or "cpu,cpuacct"; Source the container's directory in it.
	Name, Source string
	// Links are symlinks to Name for co-mounted controllers.
	Links []string
}

// Sysctl is one sysctl: Key as the spec names it, Path its /proc/sys file.
type Sysctl struct {
	Key, Path, Value string
}

// Hook is a hook init runs.
type Hook struct {
	Path      string
	Args, Env []string
	// Timeout is in seconds, 0 for none.
	Timeout int64
}

// Seccomp is a compiled seccomp filter.
type Seccomp struct {
	// Program is the classic BPF program: struct sock_filter entries
	// (8 bytes each) in the machine's byte order.
	Program []byte
	// Flags are the SECCOMP_FILTER_FLAG_* bits for seccomp(2).
	Flags uint64
}

// Marshal encodes c for the sync socket.
func (c *Config) Marshal() []byte {
	e := &encoder{b: make([]byte, 0, 4096)}
	c.walk(e)
	return e.b
}

// Unmarshal decodes what Marshal made.
func (c *Config) Unmarshal(b []byte) error {
	d := &decoder{b: b}
	c.walk(d)
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return d.err
}

func (c *Config) walk(w walker) {
	w.bool(&c.Exec)
	c.Process.walk(w)
	hasSeccomp := c.Seccomp != nil
	w.bool(&hasSeccomp)
	if hasSeccomp {
		if w.decoding() {
			c.Seccomp = &Seccomp{}
		}
		w.bytes(&c.Seccomp.Program)
		w.u64(&c.Seccomp.Flags)
	}
	walkInt(w, &c.PreserveFDs)
	walkInt(w, &c.LastCap)
	w.str(&c.Bundle)
	w.str(&c.Rootfs)
	w.bool(&c.NoPivot)
	w.bool(&c.HostMountNS)
	w.bool(&c.NewCgroupNS)
	w.bool(&c.NewTimeNS)
	w.str(&c.TimeOffsets)
	w.bool(&c.UserNS)
	w.u64(&c.RootPropagation)
	walkSlice(w, &c.Mounts, (*Mount).walk)
	w.bool(&c.DevBind)
	w.bool(&c.DevReadonly)
	walkSlice(w, &c.Devices, (*Device).walk)
	w.bool(&c.Cgroup.V2)
	w.str(&c.Cgroup.Dir)
	walkSlice(w, &c.Cgroup.V1, (*CgroupBind).walk)
	w.str(&c.Hostname)
	w.str(&c.Domainname)
	walkSlice(w, &c.Sysctls, (*Sysctl).walk)
	walkStrs(w, &c.ReadonlyPaths)
	walkStrs(w, &c.MaskedPaths)
	w.bool(&c.RootReadonly)
	w.i64(&c.Personality)
	w.bool(&c.RuntimeHooks)
	walkSlice(w, &c.CreateContainer, (*Hook).walk)
	walkSlice(w, &c.StartContainer, (*Hook).walk)
	w.bytes(&c.CreatingState)
	w.bytes(&c.CreatedState)
}

func (p *Process) walk(w walker) {
	walkStrs(w, &p.Args)
	walkStrs(w, &p.Env)
	w.str(&p.Cwd)
	w.bool(&p.Terminal)
	walkU32(w, &p.ConsoleHeight)
	walkU32(w, &p.ConsoleWidth)
	walkU32(w, &p.UID)
	walkU32(w, &p.GID)
	walkU32s(w, &p.AdditionalGids)
	walkU32(w, &p.Umask)
	w.bool(&p.NoNewPrivileges)
	walkSlice(w, &p.Rlimits, (*Rlimit).walk)
	w.i64(&p.IOPriority)
	w.u64(&p.Caps.Bounding)
	w.u64(&p.Caps.Effective)
	w.u64(&p.Caps.Permitted)
	w.u64(&p.Caps.Inheritable)
	w.u64(&p.Caps.Ambient)
}

func (r *Rlimit) walk(w walker) {
	w.str(&r.Name)
	walkInt(w, &r.Resource)
	w.u64(&r.Soft)
	w.u64(&r.Hard)
}

func (m *Mount) walk(w walker) {
	w.str(&m.Source)
	w.str(&m.Destination)
	w.str(&m.Type)
	w.u64(&m.Flags)
	walkU64s(w, &m.Propagation)
	w.u64(&m.AttrSet)
	w.u64(&m.AttrClr)
	w.str(&m.Data)
	w.bool(&m.Tmpcopyup)
}

func (d *Device) walk(w walker) {
	w.str(&d.Path)
	w.str(&d.Type)
	w.i64(&d.Major)
	w.i64(&d.Minor)
	walkU32(w, &d.Mode)
	walkU32(w, &d.UID)
	walkU32(w, &d.GID)
}

func (b *CgroupBind) walk(w walker) {
	w.str(&b.Name)
	w.str(&b.Source)
	walkStrs(w, &b.Links)
}

func (s *Sysctl) walk(w walker) {
	w.str(&s.Key)
	w.str(&s.Path)
	w.str(&s.Value)
}

func (h *Hook) walk(w walker) {
	w.str(&h.Path)
	walkStrs(w, &h.Args)
	walkStrs(w, &h.Env)
	w.i64(&h.Timeout)
}
