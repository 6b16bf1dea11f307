package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("JSON specification file %s not found", path)
	}
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &s, nil
}

// rlimitTypes maps the spec's rlimit names to their resource numbers.
var rlimitTypes = map[string]int{
	"RLIMIT_CPU":        0,
	"RLIMIT_FSIZE":      1,
	"RLIMIT_DATA":       2,
	"RLIMIT_STACK":      3,
	"RLIMIT_CORE":       4,
	"RLIMIT_RSS":        5,
	"RLIMIT_NPROC":      6,
	"RLIMIT_NOFILE":     7,
	"RLIMIT_MEMLOCK":    8,
	"RLIMIT_AS":         9,
	"RLIMIT_LOCKS":      10,
	"RLIMIT_SIGPENDING": 11,
	"RLIMIT_MSGQUEUE":   12,
	"RLIMIT_NICE":       13,
	"RLIMIT_RTPRIO":     14,
	"RLIMIT_RTTIME":     15,
}

// capByName maps "CAP_CHOWN" and the like to the capability library's
// values, for every capability the library knows. It is built on first
// use, not at every start of hull.
var capByName = sync.OnceValue(func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
})

// Validate checks a spec for what hull's runtime needs and supports,
// returning the first problem as a clear error. Unknown capabilities are
// ignored with a warning, as runc does (the OCI spec asks for an error;
// specs written for newer kernels name capabilities this one lacks).
func Validate(s *specs.Spec) (warnings []string, err error) {
	if s.Root == nil || s.Root.Path == "" {
		return nil, errors.New("config.json: root.path is required")
	}
	if s.Process == nil {
		return nil, errors.New("config.json: process is required")
	}
	if len(s.Process.Args) == 0 || s.Process.Args[0] == "" {
		return nil, errors.New("config.json: process.args must not be empty")
	}
	if !filepath.IsAbs(s.Process.Cwd) {
		return nil, fmt.Errorf("config.json: process.cwd %q must be an absolute path", s.Process.Cwd)
	}
	if s.Linux == nil {
		return nil, errors.New("config.json: linux is required")
	}
	ns, err := planNamespaces(s)
	if err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if ns.has(specs.UserNamespace) {
		if len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0 {
			return nil, fmt.Errorf("config.json: %w", errNoUserMappings)
		}
	} else if len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0 {
		return nil, errors.New("config.json: uid/gid mappings need a user namespace")
	}
	if s.Hostname != "" && !ns.has(specs.UTSNamespace) {
		return nil, errors.New("config.json: unable to set hostname without a private UTS namespace")
	}
	if s.Domainname != "" && !ns.has(specs.UTSNamespace) {
		return nil, errors.New("config.json: unable to set domainname without a private UTS namespace")
	}
	if len(s.Linux.TimeOffsets) > 0 && !ns.isNew(specs.TimeNamespace) {
		return nil, errors.New("config.json: linux.timeOffsets need a new time namespace")
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return nil, fmt.Errorf("config.json: mount destination %q must be an absolute path", m.Destination)
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return nil, fmt.Errorf("config.json: mount %s: id-mapped mounts are not supported yet", m.Destination)
		}
		if _, err := parseMountOptions(m.Options); err != nil {
			return nil, fmt.Errorf("config.json: mount %s: %w", m.Destination, err)
		}
	}
	if err := validateSysctls(s.Linux.Sysctl, ns); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	for _, rl := range s.Process.Rlimits {
		if _, ok := rlimitTypes[rl.Type]; !ok {
			return nil, fmt.Errorf("config.json: unknown rlimit type %q", rl.Type)
		}
		if rl.Soft > rl.Hard {
			return nil, fmt.Errorf("config.json: %s soft limit %d is above the hard limit %d", rl.Type, rl.Soft, rl.Hard)
		}
	}
	for _, d := range s.Linux.Devices {
		if !filepath.IsAbs(d.Path) {
			return nil, fmt.Errorf("config.json: device path %q must be an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return nil, fmt.Errorf("config.json: device %s: unknown type %q", d.Path, d.Type)
		}
	}
	for _, p := range append(append([]string{}, s.Linux.MaskedPaths...), s.Linux.ReadonlyPaths...) {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("config.json: masked or read-only path %q must be an absolute path", p)
		}
	}
	switch s.Linux.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		return nil, fmt.Errorf("config.json: unknown rootfsPropagation %q", s.Linux.RootfsPropagation)
	}
	if strings.Count(s.Linux.CgroupsPath, ":") == 2 && !strings.HasPrefix(s.Linux.CgroupsPath, "/") {
		return nil, fmt.Errorf("config.json: cgroupsPath %q is in systemd's slice:prefix:name form; hull has no systemd cgroup driver", s.Linux.CgroupsPath)
	}
	if sc := s.Linux.Seccomp; sc != nil && sc.ListenerPath != "" {
		return nil, errors.New("config.json: seccomp notify (listenerPath) is not supported yet")
	}
	if err := validateHooks(s.Hooks); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	unsupported := []struct {
		set  bool
		what string
	}{
		{s.Linux.IntelRdt != nil, "linux.intelRdt"},
		{s.Linux.MemoryPolicy != nil, "linux.memoryPolicy"},
		{len(s.Linux.NetDevices) > 0, "linux.netDevices"},
		{s.Process.Scheduler != nil, "process.scheduler"},
		{s.Process.ExecCPUAffinity != nil, "process.execCPUAffinity"},
		{s.Process.ApparmorProfile != "", "process.apparmorProfile (no AppArmor)"},
		{s.Process.SelinuxLabel != "", "process.selinuxLabel (no SELinux)"},
	}
	for _, u := range unsupported {
		if u.set {
			return nil, fmt.Errorf("config.json: %s is not supported yet", u.what)
		}
	}
	if c := s.Process.Capabilities; c != nil {
		last, _ := capability.LastCap()
		for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
			for _, name := range set {
				cp, ok := capByName()[name]
				switch {
				case !ok:
					// The OCI spec wants an error here; runc (and the
					// validation harness that compares hull with it)
					// ignores the name.
					warnings = append(warnings, fmt.Sprintf("ignoring unknown capability %q", name))
				case last != 0 && cp > last:
					warnings = append(warnings, fmt.Sprintf("ignoring capability %q: this kernel does not know it", name))
				}
			}
		}
	}
	return warnings, nil
}

// validateSysctls checks that each sysctl is namespaced, and that the
// container has its own namespace for it (as runc does).
func validateSysctls(sysctls map[string]string, ns *nsPlan) error {
	ipc := map[string]bool{
		"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true,
		"kernel.sem": true, "kernel.shmall": true, "kernel.shmmax": true,
		"kernel.shmmni": true, "kernel.shm_rmid_forced": true,
	}
	for k := range sysctls {
		if strings.Contains(k, "..") || strings.HasPrefix(k, "/") {
			return fmt.Errorf("sysctl %q: invalid name", k)
		}
		key := strings.ReplaceAll(k, "/", ".")
		switch {
		case ipc[key] || strings.HasPrefix(key, "fs.mqueue."):
			if !ns.has(specs.IPCNamespace) {
				return fmt.Errorf("sysctl %q is not allowed: the container shares the host's IPC namespace", k)
			}
		case strings.HasPrefix(key, "net."):
			if !ns.has(specs.NetworkNamespace) {
				return fmt.Errorf("sysctl %q is not allowed: the container shares the host's network namespace", k)
			}
		case key == "kernel.hostname" || key == "kernel.domainname":
			if !ns.has(specs.UTSNamespace) {
				return fmt.Errorf("sysctl %q is not allowed: the container shares the host's UTS namespace", k)
			}
		default:
			return fmt.Errorf("sysctl %q is not in any namespace hull knows of", k)
		}
	}
	return nil
}

// validateHooks checks that every hook path is absolute.
func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	//lint:ignore SA1019 Prestart is deprecated but still run
	for _, list := range [][]specs.Hook{h.Prestart, h.CreateRuntime, h.CreateContainer, h.StartContainer, h.Poststart, h.Poststop} {
		for _, hk := range list {
			if !filepath.IsAbs(hk.Path) {
				return fmt.Errorf("hook path %q must be an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fmt.Errorf("hook %s: timeout must be positive", hk.Path)
			}
		}
	}
	return nil
}
