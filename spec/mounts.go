package spec

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// propagations are the mount propagation modes a bind mount may ask for.
var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// flagKeys maps the mount flags a tmpfs option list may hold to the flag
// they set or clear: "ro" and "rw" collide, as do "exec" and "noexec",
// and all propagation modes. Used to merge tmpfs options the way Docker's
// mount.MergeTmpfsOptions does.
var flagKeys = map[string]string{
	"ro": "ro", "rw": "ro",
	"exec": "exec", "noexec": "exec",
	"suid": "suid", "nosuid": "suid",
	"dev": "dev", "nodev": "dev",
	"sync": "sync", "async": "sync",
	"dirsync": "dirsync",
	"remount": "remount",
	"mand":    "mand", "nomand": "mand",
	"atime": "atime", "noatime": "atime",
	"diratime": "diratime", "nodiratime": "diratime",
	"relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"private": "propagation", "rprivate": "propagation",
	"shared": "propagation", "rshared": "propagation",
	"slave": "propagation", "rslave": "propagation",
	"unbindable": "propagation", "runbindable": "propagation",
}

// tmpfsData are the key=value options tmpfs takes.
var tmpfsData = map[string]bool{
	"size": true, "mode": true, "uid": true, "gid": true,
	"nr_inodes": true, "nr_blocks": true, "mpol": true,
}

// mergeTmpfsOptions removes options overridden by later ones (the last
// "ro"/"rw", "size=", propagation mode, ... wins), keeping their order, and
// rejects data options tmpfs does not know.
func mergeTmpfsOptions(opts []string) ([]string, error) {
	seen := make(map[string]bool)
	var out []string
	for i := len(opts) - 1; i >= 0; i-- {
		o := opts[i]
		if o == "defaults" {
			continue
		}
		key, isFlag := flagKeys[o]
		if !isFlag {
			k, _, ok := strings.Cut(o, "=")
			if !ok || !tmpfsData[k] {
				return nil, fmt.Errorf("invalid tmpfs option %q", o)
			}
			key = "data:" + k
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, o)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// userMount converts an Options mount to the spec mount Docker's
// withMounts produces: tmpfs with noexec, nosuid, nodev and rprivate
// defaults merged with its options; bind and volume mounts as "rbind"
// (or "bind" if asked), "ro" when read-only, and their propagation (bind
// mounts default to rprivate). It also returns the propagation.
func userMount(m Mount) (specs.Mount, string, error) {
	if !path.IsAbs(m.Target) {
		return specs.Mount{}, "", fmt.Errorf("invalid mount target %q: not an absolute path", m.Target)
	}
	dst := path.Clean(m.Target)
	if dst == "/" {
		return specs.Mount{}, "", errors.New("invalid specification: destination can't be '/'")
	}
	if m.Propagation != "" && !slices.Contains(propagations, m.Propagation) {
		return specs.Mount{}, "", fmt.Errorf("invalid propagation mode %q for mount %s", m.Propagation, dst)
	}
	switch m.Type {
	case "tmpfs":
		opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		opts = append(opts, m.Options...)
		if m.Propagation != "" {
			opts = append(opts, m.Propagation)
		}
		merged, err := mergeTmpfsOptions(opts)
		if err != nil {
			return specs.Mount{}, "", fmt.Errorf("tmpfs mount %s: %w", dst, err)
		}
		return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: merged}, "", nil
	case "bind", "volume":
		if !path.IsAbs(m.Source) {
			return specs.Mount{}, "", fmt.Errorf("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Source)
		}
		bindMode := "rbind"
		var extra []string
		for _, o := range m.Options {
			switch o {
			case "bind":
				bindMode = "bind"
			case "rbind", "rw", "":
			case "ro":
				m.ReadOnly = true
			default:
				if slices.Contains(propagations, o) {
					m.Propagation = o
					continue
				}
				extra = append(extra, o)
			}
		}
		prop := m.Propagation
		if prop == "" && m.Type == "bind" {
			prop = "rprivate"
		}
		opts := []string{bindMode}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		if prop != "" {
			opts = append(opts, prop)
		}
		opts = append(opts, extra...)
		return specs.Mount{Destination: dst, Type: "bind", Source: m.Source, Options: opts}, prop, nil
	default:
		return specs.Mount{}, "", fmt.Errorf("invalid mount type %q for %s: want bind, volume or tmpfs", m.Type, dst)
	}
}

// depth is the number of path elements of a clean absolute path.
func depth(p string) int {
	return strings.Count(path.Clean(p), "/")
}

// applyMounts puts the default mounts and the user's together as Docker's
// withMounts does: a user mount replaces the default at its destination
// (a /dev mount replaces everything under /dev), /dev/shm gets ShmSize
// (or, sharing the host's or another container's IPC namespace, becomes a
// bind of that /dev/shm; none with --ipc none), user mounts are sorted
// parents first, --read-only adds "ro" to the defaults but /proc and /dev's
// own mounts, a privileged container gets a writable /sys and no masked
// or read-only paths, and cgroups are writable when privileged, in a user
// namespace, or with writable-cgroups.
func applyMounts(s *specs.Spec, opts Options, m nsModes, so securityOpts) error {
	shm := opts.ShmSize
	if shm < 0 {
		return errors.New("SHM size can not be less than 0")
	}
	if shm == 0 {
		shm = DefaultShmSize
	}

	var user []specs.Mount
	var props []string
	for _, um := range opts.Mounts {
		sm, prop, err := userMount(um)
		if err != nil {
			return err
		}
		user = append(user, sm)
		props = append(props, prop)
	}
	dests := make(map[string]bool, len(user))
	for _, sm := range user {
		dests[sm.Destination] = true
	}
	if !dests["/dev/shm"] && !m.ipcNone {
		src := ""
		if m.ipcHost {
			src = "/dev/shm"
		} else if p, ok, _ := containerNS(m.ipcMode, "ipc"); ok {
			src = strings.TrimSuffix(p, "/ns/ipc") + "/root/dev/shm"
		}
		if src != "" {
			user = append(user, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
			props = append(props, "rprivate")
			dests["/dev/shm"] = true
		}
	}
	order := make([]int, len(user))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return depth(user[order[a]].Destination) < depth(user[order[b]].Destination)
	})

	mounts := make([]specs.Mount, 0, len(s.Mounts)+len(user))
	for _, dm := range s.Mounts {
		switch {
		case dests[dm.Destination]:
			continue
		case dests["/dev"] && strings.HasPrefix(dm.Destination, "/dev/"):
			continue
		case dm.Destination == "/dev/shm":
			if m.ipcNone {
				continue
			}
			dm.Options = append(slices.Clone(dm.Options), "size="+strconv.FormatInt(shm, 10))
		}
		if opts.ReadOnly && !slices.Contains(dm.Options, "ro") {
			switch dm.Destination {
			case "/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev":
			default:
				dm.Options = append(slices.Clone(dm.Options), "ro")
			}
		}
		mounts = append(mounts, dm)
	}
	for _, i := range order {
		mounts = append(mounts, user[i])
		setRootPropagation(s, props[i])
	}

	if opts.Privileged {
		for i := range mounts {
			if mounts[i].Destination == "/sys" {
				mounts[i].Options = withoutOption(mounts[i].Options, "ro")
			}
		}
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
	}
	writableCgroups := opts.Privileged
	if so.writableCgroups != nil {
		if m.userns {
			return errors.New("option WritableCgroups conflicts with user namespaces and rootless mode")
		}
		writableCgroups = *so.writableCgroups
	}
	if m.userns {
		// A cgroup mount cannot be remounted read-only in a user namespace.
		writableCgroups = true
	}
	if writableCgroups {
		for i := range mounts {
			if mounts[i].Type == "cgroup" {
				mounts[i].Options = withoutOption(mounts[i].Options, "ro")
			}
		}
	}
	s.Mounts = mounts
	return nil
}

// setRootPropagation makes the rootfs propagation compatible with a mount
// of propagation prop: shared mounts need a shared root, slave mounts a
// shared or slave one.
func setRootPropagation(s *specs.Spec, prop string) {
	root := s.Linux.RootfsPropagation
	switch prop {
	case "shared", "rshared":
		if root != "shared" && root != "rshared" {
			s.Linux.RootfsPropagation = "shared"
		}
	case "slave", "rslave":
		switch root {
		case "shared", "rshared", "slave", "rslave":
		default:
			s.Linux.RootfsPropagation = "rslave"
		}
	}
}

// withoutOption returns opts without any occurrence of o.
func withoutOption(opts []string, o string) []string {
	out := make([]string, 0, len(opts))
	for _, v := range opts {
		if v != o {
			out = append(out, v)
		}
	}
	return out
}
