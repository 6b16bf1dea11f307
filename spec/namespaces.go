package spec

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// nsModes records the namespace decisions later steps depend on.
type nsModes struct {
	netHost    bool   // --network host: no network namespace
	ipcHost    bool   // --ipc host
	ipcNone    bool   // --ipc none: no /dev/shm
	pidPrivate bool   // a new PID namespace (--init applies)
	utsHost    bool   // --uts host: no hostname
	userns     bool   // a user namespace with UIDMaps/GIDMaps
	ipcMode    string // normalised IpcMode
}

// setNamespace replaces the namespace of ns's type in s, or adds it.
func setNamespace(s *specs.Spec, ns specs.LinuxNamespace) {
	for i, n := range s.Linux.Namespaces {
		if n.Type == ns.Type {
			s.Linux.Namespaces[i] = ns
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns)
}

// removeNamespace drops the namespace of type t from s.
func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == t
	})
}

// containerNS returns the namespace path of "container:<pid>" for type
// kind ("pid", "ipc"), or false if mode is not of that form.
func containerNS(mode, kind string) (string, bool, error) {
	pid, ok := strings.CutPrefix(mode, "container:")
	if !ok {
		return "", false, nil
	}
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return "", true, fmt.Errorf("invalid %s mode %q: container:<pid> needs a process ID", strings.ToUpper(kind), mode)
	}
	return fmt.Sprintf("/proc/%d/ns/%s", n, kind), true, nil
}

// applyNamespaces sets s.Linux.Namespaces (and the ID mappings) from the
// namespace options, validating them with Docker's messages, as Docker's
// WithNamespaces does on top of the default mount, network, UTS, PID and
// IPC namespaces.
func applyNamespaces(s *specs.Spec, opts Options, h *hostInfo) (nsModes, error) {
	var m nsModes

	// user
	switch opts.UsernsMode {
	case "", "private":
		if len(opts.UIDMaps) > 0 || len(opts.GIDMaps) > 0 {
			if len(opts.UIDMaps) == 0 || len(opts.GIDMaps) == 0 {
				return m, errors.New("a user namespace needs both UID and GID mappings")
			}
			m.userns = true
			setNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = slices.Clone(opts.UIDMaps)
			s.Linux.GIDMappings = slices.Clone(opts.GIDMaps)
		}
	case "host":
	default:
		return m, fmt.Errorf("invalid USER mode: %v", opts.UsernsMode)
	}

	// network
	switch {
	case opts.NetNS == "host":
		m.netHost = true
		removeNamespace(s, specs.NetworkNamespace)
	case opts.NetNS == "" || opts.NetNS == "none":
		setNamespace(s, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case filepath.IsAbs(opts.NetNS):
		setNamespace(s, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: opts.NetNS})
	default:
		return m, fmt.Errorf("invalid network namespace %q: want \"\", \"host\" or an absolute path", opts.NetNS)
	}

	// ipc
	m.ipcMode = opts.IpcMode
	if p, ok, err := containerNS(opts.IpcMode, "ipc"); err != nil {
		return m, err
	} else if ok {
		setNamespace(s, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: p})
	} else {
		switch opts.IpcMode {
		case "host":
			m.ipcHost = true
			removeNamespace(s, specs.IPCNamespace)
		case "none":
			m.ipcNone = true
			setNamespace(s, specs.LinuxNamespace{Type: specs.IPCNamespace})
		case "", "private", "shareable":
			setNamespace(s, specs.LinuxNamespace{Type: specs.IPCNamespace})
		default:
			return m, fmt.Errorf("invalid IPC mode: %v", opts.IpcMode)
		}
	}

	// pid
	if p, ok, err := containerNS(opts.PidMode, "pid"); err != nil {
		return m, err
	} else if ok {
		setNamespace(s, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: p})
	} else {
		switch opts.PidMode {
		case "host":
			removeNamespace(s, specs.PIDNamespace)
		case "", "private":
			m.pidPrivate = true
			setNamespace(s, specs.LinuxNamespace{Type: specs.PIDNamespace})
		default:
			return m, fmt.Errorf("invalid PID mode: %v", opts.PidMode)
		}
	}

	// uts
	switch opts.UTSMode {
	case "host":
		m.utsHost = true
		removeNamespace(s, specs.UTSNamespace)
	case "":
	default:
		return m, fmt.Errorf("invalid UTS mode: %v", opts.UTSMode)
	}

	// cgroup
	mode := opts.CgroupnsMode
	if mode == "" {
		// Docker: private on cgroup v2 (even when privileged), host on v1.
		mode = "host"
		if h.cgroup2 {
			mode = "private"
		}
	}
	switch mode {
	case "private":
		setNamespace(s, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	case "host":
		removeNamespace(s, specs.CgroupNamespace)
	default:
		return m, fmt.Errorf("invalid cgroup namespace mode: %v", opts.CgroupnsMode)
	}

	if m.userns {
		switch {
		case opts.Privileged:
			return m, errors.New("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
		case m.netHost:
			return m, errors.New("cannot share the host's network namespace when user namespaces are enabled")
		case opts.PidMode == "host":
			return m, errors.New("cannot share the host PID namespace when user namespaces are enabled")
		}
	}
	s.Linux.CgroupsPath = opts.CgroupsPath
	return m, nil
}

// ipcSysctls are the IPC-namespaced sysctls Docker accepts (besides
// fs.mqueue.*).
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// validateSysctl checks one --sysctl as Docker's CLI does (only namespaced
// parameters: the IPC ones, fs.mqueue.* and net.*) and as runc does (net.*
// needs a private network namespace, the IPC ones a private IPC one).
func validateSysctl(k, v string, m nsModes) error {
	isIPC := ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue.")
	isNet := strings.HasPrefix(k, "net.")
	switch {
	case k == "" || (!isIPC && !isNet):
		return fmt.Errorf("sysctl '%s=%s' is not allowed", k, v)
	case isIPC && m.ipcHost:
		return fmt.Errorf("sysctl %q is not allowed in the hosts ipc namespace", k)
	case isNet && m.netHost:
		return fmt.Errorf("sysctl %q not allowed in host network namespace", k)
	}
	return nil
}

// applySysctls sets linux.sysctl: kernel.domainname for --domainname,
// Docker's defaults for a private network namespace (unprivileged ICMP
// echo sockets for all groups, unless in a user namespace; binding ports
// below 1024 without CAP_NET_BIND_SERVICE), if the kernel has them, then
// the validated --sysctl values, which win.
func applySysctls(s *specs.Spec, opts Options, m nsModes, h *hostInfo) error {
	if opts.Domainname != "" {
		if m.utsHost {
			return errors.New("conflicting options: domainname and the UTS mode")
		}
		s.Linux.Sysctl["kernel.domainname"] = opts.Domainname
	}
	if !m.netHost {
		if !m.userns && h.pingGroupRange {
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if h.unprivilegedPortStart {
			s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	keys := make([]string, 0, len(opts.Sysctls))
	for k := range opts.Sysctls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := opts.Sysctls[k]
		if err := validateSysctl(k, v, m); err != nil {
			return err
		}
		s.Linux.Sysctl[k] = v
	}
	return nil
}
