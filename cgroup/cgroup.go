// Package cgroup puts a container's processes into control groups and manages
// them through one small interface, whatever the host's cgroup layout:
//
//   - "v1": one hierarchy per controller under /sys/fs/cgroup/<controller>;
//   - "hybrid": v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified
//     that owns the controllers no v1 hierarchy claimed (often none, sometimes
//     hugetlb), used here for hugetlb limits and "unified" keys;
//   - "v2": the single unified hierarchy mounted at /sys/fs/cgroup.
//
// The file-level work is done by github.com/opencontainers/cgroups (runc's
// cgroup library: packages fs, fs2 and devices); this package translates OCI
// runtime-spec resources, decides what to do with controllers the host lacks,
// and adds whole-container operations (kill, recursive pid listing, OOM kill
// detection). Only the cgroupfs driver exists: hull never talks to systemd.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager controls the cgroup(s) of one container.
//
// A Manager is safe for concurrent use. Set must follow Apply: it writes into
// the directories that Apply creates.
type Manager interface {
	// Apply creates the container's cgroup(s) if needed and moves pid into
	// them. A pid of -1 only creates the cgroup(s).
	Apply(pid int) error
	// Set writes the resource limits of r. A nil r re-applies the resources
	// given to New (or to the previous Set). An empty device list leaves the
	// device rules untouched, so Set also serves updates.
	Set(r *specs.LinuxResources) error
	// Stats returns the current resource usage.
	Stats() (*Stats, error)
	// Freeze stops every process of the cgroup (docker pause).
	Freeze() error
	// Thaw resumes the processes stopped by Freeze.
	Thaw() error
	// State reports StateRunning or StatePaused.
	State() (string, error)
	// Pids lists every process in the cgroup and its sub-cgroups.
	Pids() ([]int, error)
	// Kill sends sig to every process in the cgroup and its sub-cgroups.
	Kill(sig syscall.Signal) error
	// Destroy removes the cgroup directories (which must hold no process;
	// see Kill). Removing cgroups that do not exist is not an error.
	Destroy() error
	// Path returns the directory of the container's cgroup for a controller
	// ("memory", "cpu", ...; "" is the unified directory on hybrid and v2
	// hosts), or "" when the host has no such controller. On v2 hosts every
	// controller lives in the same directory.
	Path(controller string) string
}

// Host cgroup modes, as returned by Mode.
const (
	ModeV1     = "v1"
	ModeHybrid = "hybrid"
	ModeV2     = "v2"
)

// Container states, as returned by Manager.State.
const (
	StateRunning = "running"
	StatePaused  = "paused"
)

// DefaultParent is the cgroup under which relative cgroups paths are placed.
const DefaultParent = "/hull"

// ErrSystemdDriver is returned for systemd-style cgroups paths
// ("slice:prefix:name"): hull only drives cgroupfs.
var ErrSystemdDriver = errors.New("systemd cgroup driver is not supported (use a cgroupfs path such as /hull/<id>)")

// Mount points of the cgroup hierarchies.
const (
	mountRoot      = "/sys/fs/cgroup"
	hybridUnified  = "/sys/fs/cgroup/unified"
	unifiedV2Mount = mountRoot
)

var (
	modeOnce sync.Once
	mode     string
)

// Mode reports the cgroup layout of this host: ModeV1, ModeHybrid or ModeV2.
// It is detected once, from the filesystem types of /sys/fs/cgroup (cgroup2
// means v2) and /sys/fs/cgroup/unified (cgroup2 means hybrid).
func Mode() string {
	modeOnce.Do(func() {
		switch {
		case cgroups.IsCgroup2UnifiedMode():
			mode = ModeV2
		case cgroups.IsCgroup2HybridMode():
			mode = ModeHybrid
		default:
			mode = ModeV1
		}
	})
	return mode
}

// New returns the manager for the container cgroup at cgroupsPath (the OCI
// linux.cgroupsPath, e.g. "/hull/<id>"; a relative path is placed under
// DefaultParent). r holds the resources to apply; New only validates them,
// Apply and Set act on them. Nothing is created until Apply.
func New(cgroupsPath string, r *specs.LinuxResources) (Manager, error) {
	inner, err := ResolvePath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	return newManager(Mode(), inner, r)
}

// Load returns the manager for the existing cgroup of a container, e.g. to
// query, signal or delete it from another process. The error wraps
// fs.ErrNotExist when no cgroup directory exists at cgroupsPath.
func Load(cgroupsPath string) (Manager, error) {
	inner, err := ResolvePath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	m, err := newManager(Mode(), inner, nil)
	if err != nil {
		return nil, err
	}
	if !exists(m) {
		return nil, fmt.Errorf("cgroup %s: %w", inner, fs.ErrNotExist)
	}
	return m, nil
}

func newManager(mode, inner string, r *specs.LinuxResources) (Manager, error) {
	if mode == ModeV2 {
		return newV2(unifiedV2Mount, inner, r)
	}
	return newV1(inner, r, mode == ModeHybrid)
}

// Exists reports whether any directory of m's cgroup still exists (Load
// reports a missing cgroup; a Manager kept from New or Load may outlive
// its cgroup).
func Exists(m Manager) bool { return exists(m) }

// exists reports whether any directory of m's cgroup exists.
func exists(m Manager) bool {
	for _, p := range allPaths(m) {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func allPaths(m Manager) []string {
	switch m := m.(type) {
	case *v1Manager:
		var out []string
		for _, p := range m.paths {
			out = append(out, p)
		}
		return out
	case *v2Manager:
		return []string{m.dir}
	}
	return nil
}

// ResolvePath turns an OCI cgroupsPath into the absolute, clean path of the
// cgroup relative to the hierarchy roots (e.g. "abc" becomes "/hull/abc").
// It rejects empty paths, ".." elements, the root cgroup and systemd-style
// "slice:prefix:name" paths (ErrSystemdDriver).
func ResolvePath(cgroupsPath string) (string, error) {
	p := cgroupsPath
	if p == "" {
		return "", errors.New("cgroup: empty cgroups path")
	}
	if !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2 {
		return "", fmt.Errorf("cgroup: cgroups path %q: %w", p, ErrSystemdDriver)
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return "", fmt.Errorf("cgroup: cgroups path %q must not contain \"..\"", p)
		}
	}
	if !filepath.IsAbs(p) {
		p = DefaultParent + "/" + p
	}
	p = filepath.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("cgroup: cgroups path %q names the root cgroup", cgroupsPath)
	}
	return p, nil
}

// oomCounter is implemented by the managers of this package.
type oomCounter interface {
	oomKillCount() (uint64, error)
}

// OOMKilled reports whether the kernel's OOM killer has killed a process of
// the container's cgroup (v1: "oom_kill" in memory.oom_control; v2:
// "oom_kill" in memory.events).
func OOMKilled(m Manager) (bool, error) {
	if c, ok := m.(oomCounter); ok {
		n, err := c.oomKillCount()
		if err != nil {
			return false, err
		}
		return n > 0, nil
	}
	st, err := m.Stats()
	if err != nil {
		return false, err
	}
	return st.Memory.OOMKills > 0, nil
}

// DefaultDevices returns the device rules runc appends to every container's
// list: mknod of any device, and read/write/mknod of /dev/null, /dev/zero,
// /dev/full, /dev/random, /dev/urandom, /dev/tty, /dev/ptmx, /dev/pts/* and
// /dev/net/tun. A runtime appends them (plus rules for the spec's
// linux.devices) after the spec's own rules; Set writes only what it is given.
func DefaultDevices() []specs.LinuxDeviceCgroup {
	dev := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			d.Major = &major
		}
		if minor >= 0 {
			d.Minor = &minor
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		dev("c", -1, -1, "m"),
		dev("b", -1, -1, "m"),
		dev("c", 1, 3, "rwm"),    // /dev/null
		dev("c", 1, 5, "rwm"),    // /dev/zero
		dev("c", 1, 7, "rwm"),    // /dev/full
		dev("c", 1, 8, "rwm"),    // /dev/random
		dev("c", 1, 9, "rwm"),    // /dev/urandom
		dev("c", 5, 0, "rwm"),    // /dev/tty
		dev("c", 5, 2, "rwm"),    // /dev/ptmx
		dev("c", 136, -1, "rwm"), // /dev/pts/*
		dev("c", 10, 200, "rwm"), // /dev/net/tun
	}
}
