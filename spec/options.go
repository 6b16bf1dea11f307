package spec

import "github.com/opencontainers/runtime-spec/specs-go"

// Options are the `docker run` options that shape a container's runtime
// spec, already parsed by the CLI layer (sizes in bytes, mounts resolved to
// host paths). The zero value runs the image's command as Docker would with
// no flags.
type Options struct {
	// Cmd replaces the image's Cmd when non-empty.
	Cmd []string
	// Entrypoint replaces the image's Entrypoint (--entrypoint). Setting it,
	// even to nothing, also drops the image's Cmd.
	Entrypoint []string
	// EntrypointSet reports that --entrypoint was given, possibly as "",
	// which resets the image's Entrypoint and Cmd.
	EntrypointSet bool
	// Env entries ("KEY=value") override the image's variables of the same
	// key; an entry without "=" removes the variable.
	Env []string
	// WorkingDir replaces the image's WorkingDir; it must be absolute.
	WorkingDir string
	// User is "user", "uid", "user:group", "uid:gid" (names resolved in the
	// rootfs's /etc/passwd and /etc/group); empty means the image's user,
	// else root.
	User string
	// Tty allocates a terminal (process.terminal, TERM=xterm).
	Tty bool
	// OpenStdin (-i) does not change the spec; it is here for callers that
	// pass the whole option set along.
	OpenStdin bool
	// Hostname is the container's hostname and $HOSTNAME. Docker defaults
	// it to the short container ID (the host's name with --network host);
	// that default is the caller's job.
	Hostname string
	// Domainname sets the NIS domain name (sysctl kernel.domainname).
	Domainname string
	// Init runs InitPath as PID 1 (--init): it is bind-mounted read-only at
	// InitMountPath and the command becomes [InitMountPath, "--", cmd...].
	// Ignored, like in Docker, when the PID namespace is not private.
	Init bool
	// InitPath is the host path of the init binary for Init.
	InitPath string

	// Rootfs is the path of the container's mounted root file system
	// (root.path). /etc/passwd and /etc/group are read from it; empty
	// means no files (only numeric users resolve).
	Rootfs string
	// ReadOnly mounts the rootfs read-only (--read-only).
	ReadOnly bool
	// Mounts are the container's bind mounts, volumes and tmpfs mounts.
	Mounts []Mount
	// ShmSize is the size of /dev/shm in bytes; 0 means DefaultShmSize.
	ShmSize int64

	// Privileged gives all capabilities, all host devices, no seccomp, no
	// masked or read-only paths and writable /sys and cgroup mounts.
	Privileged bool
	// CapAdd and CapDrop adjust the default capabilities: "NET_ADMIN",
	// "cap_net_admin", or "ALL".
	CapAdd, CapDrop []string
	// SecurityOpt are --security-opt values: "seccomp=unconfined",
	// "seccomp=builtin", "seccomp=/path/profile.json" (or inline JSON),
	// "no-new-privileges[=bool]", "writable-cgroups[=bool]"; "apparmor=…"
	// and "label=…" are accepted and ignored (hull has no AppArmor or
	// SELinux support).
	SecurityOpt []string
	// Devices are --device values, "host[:container][:perms]", perms a
	// combination of r, w and m (default rwm).
	Devices []string
	// DeviceCgroupRules are --device-cgroup-rule values ("c 1:3 rwm").
	DeviceCgroupRules []string
	// GroupAdd are supplementary groups (names or numbers) on top of the
	// user's memberships in /etc/group.
	GroupAdd []string
	// Sysctls are namespaced kernel parameters (--sysctl).
	Sysctls map[string]string
	// Ulimits are --ulimit values, "name=soft[:hard]".
	Ulimits []string
	// OomScoreAdj is the process's oom_score_adj, -1000..1000.
	OomScoreAdj int

	// Memory is the memory limit in bytes (--memory), at least 6 MiB.
	Memory int64
	// MemoryReservation is the soft limit (--memory-reservation).
	MemoryReservation int64
	// MemorySwap is memory plus swap (--memory-swap); 0 means twice Memory,
	// -1 unlimited.
	MemorySwap int64
	// MemorySwappiness is 0..100 (--memory-swappiness); nil or -1 keeps the
	// host's.
	MemorySwappiness *int64
	// CPUs is the number of CPUs (--cpus), a CFS quota over a 100ms period.
	CPUs float64
	// CPUShares is the relative CPU weight (--cpu-shares).
	CPUShares int64
	// CPUQuota and CPUPeriod are the raw CFS settings in microseconds.
	CPUQuota, CPUPeriod int64
	// CpusetCpus and CpusetMems restrict the CPUs and memory nodes
	// ("0-2,4").
	CpusetCpus, CpusetMems string
	// PidsLimit limits the number of processes; 0 or negative means
	// unlimited.
	PidsLimit *int64
	// BlkioWeight is the block IO weight, 10..1000.
	BlkioWeight uint16
	// OomKillDisable disables the OOM killer (cgroup v1 only, like Docker).
	OomKillDisable bool

	// NetNS is "" for a new network namespace, "host" for the host's, or
	// the path of a prepared network namespace to join (a netns bind
	// mount or /proc/<pid>/ns/net).
	NetNS string
	// PidMode and IpcMode are "" (private), "host" or "container:<pid>"
	// (join the namespace of that process); IpcMode also takes "private",
	// "shareable" and "none" (no /dev/shm).
	PidMode, IpcMode string
	// UTSMode is "" (private) or "host".
	UTSMode string
	// UsernsMode is "" (a user namespace if UIDMaps are given) or "host"
	// (none).
	UsernsMode string
	// UIDMaps and GIDMaps are the user namespace's ID mappings.
	UIDMaps, GIDMaps []specs.LinuxIDMapping
	// CgroupsPath is linux.cgroupsPath.
	CgroupsPath string
	// CgroupnsMode is "private" or "host"; "" means private on cgroup v2
	// hosts and host on v1, as in Docker.
	CgroupnsMode string

	// StopSignal overrides the image's stop signal; it is recorded in the
	// StopSignalAnnotation annotation.
	StopSignal string
	// Labels are the container's labels; together with the image's labels
	// they become the spec's annotations.
	Labels map[string]string
}

// Mount is one resolved mount of the container.
type Mount struct {
	// Type is "bind", "volume" (a bind mount of the volume's host
	// directory) or "tmpfs".
	Type string
	// Source is the host path (bind, volume); ignored for tmpfs.
	Source string
	// Target is the absolute path in the container.
	Target string
	// ReadOnly mounts it read-only.
	ReadOnly bool
	// Options are extra mount options: tmpfs data such as "size=64m",
	// "mode=1777" or flags such as "exec"; for binds, flags such as
	// "nosuid", and "bind" for a non-recursive bind mount.
	Options []string
	// Propagation is "", "private", "rprivate", "shared", "rshared",
	// "slave" or "rslave"; bind mounts default to rprivate.
	Propagation string
}
