package runtime

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hull-project/hull/cgroup"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupsPath is the container's cgroup: linux.cgroupsPath, or /hull/<id>.
func cgroupsPath(s *specs.Spec, id string) string {
	if s.Linux != nil && s.Linux.CgroupsPath != "" {
		return s.Linux.CgroupsPath
	}
	return cgroup.DefaultParent + "/" + id
}

// cgroupResources returns the spec's resources with the device rules every
// container needs appended (the default devices, ptys, the console), plus
// read/write/mknod rules for the devices the spec creates, as runc does.
func cgroupResources(s *specs.Spec) *specs.LinuxResources {
	var r specs.LinuxResources
	if s.Linux != nil && s.Linux.Resources != nil {
		r = *s.Linux.Resources
	}
	r.Devices = append([]specs.LinuxDeviceCgroup{}, r.Devices...)
	if len(r.Devices) == 0 {
		// No rules means no restriction; keep it that way.
		return &r
	}
	r.Devices = append(r.Devices, cgroup.DefaultDevices()...)
	if s.Linux != nil {
		for _, d := range s.Linux.Devices {
			typ := d.Type
			if typ == "u" {
				typ = "c"
			}
			if typ == "p" {
				continue
			}
			major, minor := d.Major, d.Minor
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
		}
	}
	return &r
}

// cgroupMountInfoFor tells init where the container's cgroup directories
// are, for "cgroup" mounts: on v2 the unified directory; on v1 (and
// hybrid) the container's directory in each controller hierarchy that has
// one, named as the hierarchy's mount point, with symlinks for co-mounted
// controllers.
func cgroupMountInfoFor(m cgroup.Manager) (cgroupMountInfo, error) {
	if cgroup.Mode() == cgroup.ModeV2 {
		return cgroupMountInfo{V2: true, Dir: m.Path("")}, nil
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return cgroupMountInfo{}, fmt.Errorf("read mountinfo: %w", err)
	}
	var info cgroupMountInfo
	seen := map[string]bool{}
	for _, mnt := range mounts {
		if filepath.Dir(mnt.Mountpoint) != "/sys/fs/cgroup" || seen[mnt.Mountpoint] {
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(mnt.VFSOptions, ",") {
			switch {
			case o == "rw" || o == "ro" || strings.HasPrefix(o, "name=") || strings.Contains(o, "="):
			case o == "noprefix" || o == "xattr" || o == "clone_children" || o == "cpuset_v2_mode" || o == "nsdelegate" || o == "favordynmods":
			default:
				ctrls = append(ctrls, o)
			}
		}
		if len(ctrls) == 0 {
			continue // a named hierarchy (name=systemd): not the container's
		}
		src := m.Path(ctrls[0])
		if src == "" {
			continue
		}
		seen[mnt.Mountpoint] = true
		name := filepath.Base(mnt.Mountpoint)
		b := cgroupBind{Name: name, Source: src}
		if len(ctrls) > 1 {
			for _, c := range ctrls {
				if c != name {
					b.Links = append(b.Links, c)
				}
			}
		}
		info.V1 = append(info.V1, b)
	}
	return info, nil
}
