package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// errNotADevice is returned by deviceFromPath for anything but a block,
// character or FIFO device node.
var errNotADevice = errors.New("not a device node")

// deviceMapping is one parsed --device value.
type deviceMapping struct {
	host, container, perms string
}

// validDeviceMode reports whether mode is a non-empty combination of r, w
// and m, each at most once.
func validDeviceMode(mode string) bool {
	if mode == "" {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if (c != 'r' && c != 'w' && c != 'm') || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// parseDevice parses "host[:container][:perms]" as Docker's CLI does: with
// two fields, the second is the permissions if it is a valid mode.
func parseDevice(dev string) (deviceMapping, error) {
	d := deviceMapping{perms: "rwm"}
	arr := strings.SplitN(dev, ":", 4)
	switch len(arr) {
	case 3:
		d.perms = arr[2]
		fallthrough
	case 2:
		if validDeviceMode(arr[1]) {
			d.perms = arr[1]
		} else {
			d.container = arr[1]
		}
		fallthrough
	case 1:
		d.host = arr[0]
	default:
		return d, fmt.Errorf("invalid device specification: %s", dev)
	}
	if d.container == "" {
		d.container = d.host
	}
	if !validDeviceMode(d.perms) {
		return d, fmt.Errorf("bad mode specified: %s", d.perms)
	}
	if !path.IsAbs(d.container) {
		return d, fmt.Errorf("%s is not an absolute path", d.container)
	}
	if d.host == "" {
		return d, fmt.Errorf("invalid device specification: %s", dev)
	}
	return d, nil
}

// deviceFromPath describes the device node at p (not following a final
// symlink), as containerd's oci.DeviceFromPath does.
func deviceFromPath(p string) (*specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFIFO:
		typ = "p"
	default:
		return nil, errNotADevice
	}
	mode := fs.FileMode(st.Mode &^ unix.S_IFMT)
	uid, gid := st.Uid, st.Gid
	return &specs.LinuxDevice{
		Type:     typ,
		Path:     p,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

// deviceRule allows access perms to the device d.
func deviceRule(d specs.LinuxDevice, perms string) specs.LinuxDeviceCgroup {
	major, minor := d.Major, d.Minor
	return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms}
}

// devicesFromPath returns the device at hostPath (a symlink is resolved)
// placed at ctrPath, or, for a directory, every device below it, with
// cgroup rules granting perms; Docker's oci.DevicesFromPath.
func devicesFromPath(hostPath, ctrPath, perms string) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	resolved := hostPath
	if fi, err := os.Lstat(hostPath); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(hostPath); err == nil {
			resolved = p
		}
	}
	dev, err := deviceFromPath(resolved)
	if err == nil {
		dev.Path = ctrPath
		return []specs.LinuxDevice{*dev}, []specs.LinuxDeviceCgroup{deviceRule(*dev, perms)}, nil
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	if errors.Is(err, errNotADevice) {
		if fi, statErr := os.Stat(resolved); statErr == nil && fi.IsDir() {
			_ = filepath.WalkDir(resolved, func(p string, _ fs.DirEntry, _ error) error {
				d, e := deviceFromPath(p)
				if e != nil {
					return nil // not a device: skip it
				}
				d.Path = strings.Replace(p, resolved, ctrPath, 1)
				devs = append(devs, *d)
				rules = append(rules, deviceRule(*d, perms))
				return nil
			})
		}
	}
	if len(devs) > 0 {
		return devs, rules, nil
	}
	return nil, nil, fmt.Errorf("error gathering device information while adding custom device %q: %w", hostPath, err)
}

// HostDevices lists the device nodes under the host's /dev for a
// privileged container, skipping what the runtime mounts itself (pts, shm,
// mqueue, fd) and /dev/console, as containerd's oci.HostDevices does.
func HostDevices() ([]specs.LinuxDevice, error) {
	return hostDevicesIn("/dev")
}

func hostDevicesIn(dir string) ([]specs.LinuxDevice, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	var out []specs.LinuxDevice
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				continue
			}
			sub, err := hostDevicesIn(p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		if e.Name() == "console" {
			continue
		}
		d, err := deviceFromPath(p)
		if err != nil {
			if errors.Is(err, errNotADevice) || errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("list host devices: %w", err)
		}
		out = append(out, *d)
	}
	return out, nil
}

// deviceCgroupRuleRE matches a --device-cgroup-rule: type, major:minor
// (numbers or *), access. Compiled on first use, not at every start of
// hull.
var deviceCgroupRuleRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)
})

// parseDeviceCgroupRule parses a --device-cgroup-rule into an allow rule. A
// "*" major or minor is left out of the rule (Docker writes -1, runc's
// wildcard; the runtime spec's way is to omit it).
func parseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := deviceCgroupRuleRE().FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup rule format: '%s'", rule)
	}
	num := func(s string) (*int64, error) {
		if s == "*" {
			return nil, nil // omitted: any number
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid device cgroup rule format: '%s'", rule)
		}
		return &n, nil
	}
	major, err := num(m[2])
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	minor, err := num(m[3])
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Major: major, Minor: minor, Access: m[4]}, nil
}

// applyDevices sets linux.devices and the device cgroup rules: for a
// privileged container every host device and an allow-all rule (plus
// --device mappings to other paths), otherwise the --device mappings and
// --device-cgroup-rule rules after the defaults.
func applyDevices(s *specs.Spec, opts Options, h *hostInfo) error {
	var maps []deviceMapping
	for _, d := range opts.Devices {
		m, err := parseDevice(d)
		if err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		maps = append(maps, m)
	}
	if opts.Privileged {
		devs, err := h.devices()
		if err != nil {
			return err
		}
		for _, m := range maps {
			if m.host == m.container {
				continue // already there
			}
			d, _, err := devicesFromPath(m.host, m.container, "rwm")
			if err != nil {
				return err
			}
			devs = append(devs, d...)
		}
		s.Linux.Devices = append(s.Linux.Devices, devs...)
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		return nil
	}
	for _, m := range maps {
		d, rules, err := devicesFromPath(m.host, m.container, m.perms)
		if err != nil {
			return err
		}
		s.Linux.Devices = append(s.Linux.Devices, d...)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
	}
	for _, r := range opts.DeviceCgroupRules {
		rule, err := parseDeviceCgroupRule(r)
		if err != nil {
			return err
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	return nil
}
