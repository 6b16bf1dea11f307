package initproc

import (
	"errors"
	"os"
	"path"
	"strconv"
	"syscall"
)

// rootfs sets up the container's root filesystem in init's new mount
// namespace, before pivot_root.
type rootfs struct {
	cfg  *Config
	path string // host path of the rootfs
	fd   int    // O_PATH fd of the rootfs (after the self bind mount)
}

// prepare makes the mount tree private (or as rootfsPropagation asks),
// binds the rootfs onto itself and mounts the spec's mounts into it.
func (r *rootfs) prepare() error {
	c := r.cfg
	// In hull's own mount namespace, leave the host's propagation alone.
	if !c.HostMountNS {
		prop := uintptr(syscall.MS_SLAVE | syscall.MS_REC)
		if c.RootPropagation != 0 {
			prop = uintptr(c.RootPropagation)
		}
		if err := syscall.Mount("", "/", "", prop, ""); err != nil {
			return wrap("set / propagation", err)
		}
		if err := makeParentPrivate(r.path); err != nil {
			return err
		}
	}
	if err := syscall.Mount(r.path, r.path, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return wrap("bind mount rootfs "+r.path, err)
	}
	fd, err := syscall.Open(r.path, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open rootfs", err)
	}
	r.fd = fd
	for i := range c.Mounts {
		m := &c.Mounts[i]
		if err := r.mount(m); err != nil {
			return wrap("mount "+m.Source+" (type "+quote(m.Type)+") on "+m.Destination, err)
		}
	}
	if !c.DevBind {
		if err := r.setupDev(); err != nil {
			return err
		}
	}
	return nil
}

// makeParentPrivate makes the mount holding dir private if it is shared:
// pivot_root refuses a new root whose parent mount is shared.
func makeParentPrivate(dir string) error {
	best, err := parentMount(dir)
	if err != nil {
		return wrap("read mountinfo", err)
	}
	if best == nil || !best.shared {
		return nil
	}
	if err := syscall.Mount("", best.mountpoint, "", syscall.MS_PRIVATE, ""); err != nil {
		return wrap("make "+best.mountpoint+" private", err)
	}
	return nil
}

// mount mounts one spec mount into the rootfs.
func (r *rootfs) mount(m *Mount) error {
	flags := uintptr(m.Flags)
	if m.Destination == "/dev" && r.cfg.DevReadonly {
		flags &^= syscall.MS_RDONLY // until the devices are made
	}
	switch {
	case flags&syscall.MS_BIND != 0 || m.Type == "bind":
		src := m.Source
		if src == "" || src[0] != '/' {
			src = path.Join(r.cfg.Bundle, src)
		}
		return r.bind(src, m.Destination, m, flags|syscall.MS_BIND)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		return r.mountCgroup(m, flags)
	}
	dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer syscall.Close(dst)
	if m.Tmpcopyup && m.Type == "tmpfs" {
		return r.mountTmpcopyup(m, flags, dst)
	}
	err = syscall.Mount(m.Source, fdPath(dst), m.Type, flags&^syscall.MS_REMOUNT, m.Data)
	if err == syscall.EPERM && (m.Type == "sysfs" || m.Type == "mqueue") {
		// Not allowed in a user namespace without its own network or
		// ipc namespace: use the host's instead, as runc does.
		host := "/sys"
		if m.Type == "mqueue" {
			host = "/dev/mqueue"
		}
		return r.bind(host, m.Destination, m, flags|syscall.MS_BIND|syscall.MS_REC)
	}
	if err != nil {
		return err
	}
	return r.finishMount(m.Destination, m, flags, false)
}

// bind bind-mounts the host path src onto dest in the rootfs, then applies
// the flags that need a remount.
func (r *rootfs) bind(src, dest string, m *Mount, flags uintptr) error {
	fi, err := os.Stat(src)
	if err != nil {
		return wrap("bind mount source", err)
	}
	var dst int
	if fi.IsDir() {
		dst, err = mkdirAllInRoot(r.fd, dest, 0o755)
	} else {
		dst, err = createInRoot(r.fd, dest)
	}
	if err != nil {
		return err
	}
	defer syscall.Close(dst)
	if err := syscall.Mount(src, fdPath(dst), "", flags&(syscall.MS_BIND|syscall.MS_REC), ""); err != nil {
		return err
	}
	return r.finishMount(dest, m, flags, true)
}

// finishMount applies what mount(2) could not do in the first call: the
// read-only (and other) flags of a bind mount, propagation changes and
// recursive attributes (those of m; nil for none). It reopens dest, as
// the fd used for the mount still points below the new mount.
func (r *rootfs) finishMount(dest string, m *Mount, flags uintptr, bind bool) error {
	remount := flags &^ (syscall.MS_BIND | syscall.MS_REC | syscall.MS_REMOUNT)
	var prop []uint64
	var attrSet, attrClr uint64
	if m != nil {
		prop, attrSet, attrClr = m.Propagation, m.AttrSet, m.AttrClr
	}
	if len(prop) == 0 && attrSet == 0 && attrClr == 0 && (!bind || remount == 0) {
		return nil
	}
	fd, err := openInRoot(r.fd, dest, oPath)
	if err != nil {
		return wrap("reopen after mount", err)
	}
	defer syscall.Close(fd)
	p := fdPath(fd)
	if bind && remount != 0 {
		if err := remountBind(p, remount); err != nil {
			return wrap("remount with "+flagNames(remount), err)
		}
	}
	for _, pf := range prop {
		if err := syscall.Mount("", p, "", uintptr(pf), ""); err != nil {
			return wrap("set propagation", err)
		}
	}
	if attrSet != 0 || attrClr != 0 {
		attr := &mountAttr{attrSet: attrSet, attrClr: attrClr}
		if err := mountSetattr(fd, "", atEmptyPath|atRecursive, attr); err != nil {
			return wrap("mount_setattr", err)
		}
	}
	return nil
}

// mountFlagNames names the MS_ flags a remount may set, for errors.
var mountFlagNames = []struct {
	flag uintptr
	name string
}{
	{syscall.MS_RDONLY, "ro"}, {syscall.MS_NOSUID, "nosuid"}, {syscall.MS_NODEV, "nodev"},
	{syscall.MS_NOEXEC, "noexec"}, {syscall.MS_SYNCHRONOUS, "sync"}, {syscall.MS_DIRSYNC, "dirsync"},
	{syscall.MS_MANDLOCK, "mand"}, {syscall.MS_NOATIME, "noatime"}, {syscall.MS_NODIRATIME, "nodiratime"},
	{syscall.MS_RELATIME, "relatime"}, {syscall.MS_STRICTATIME, "strictatime"}, {syscall.MS_SILENT, "silent"},
	{syscall.MS_I_VERSION, "iversion"}, {msLazytime, "lazytime"}, {msNosymfollow, "nosymfollow"},
}

// flagNames names the MS_ flags in f, for errors.
func flagNames(f uintptr) string {
	s := ""
	for _, n := range mountFlagNames {
		if f&n.flag != 0 {
			if s != "" {
				s += ","
			}
			s += n.name
		}
	}
	if s == "" {
		return "flags 0x" + strconv.FormatUint(uint64(f), 16)
	}
	return s
}

// mountCgroup mounts the container's cgroups at m.Destination: a cgroup2
// mount in its own cgroup namespace on a v2 host (a bind of its cgroup
// otherwise); on v1, a tmpfs with a bind of the container's directory of
// each hierarchy, as runc does.
func (r *rootfs) mountCgroup(m *Mount, flags uintptr) error {
	cg := r.cfg.Cgroup
	flags &^= syscall.MS_BIND | syscall.MS_REC | syscall.MS_REMOUNT
	if cg.V2 {
		if r.cfg.NewCgroupNS {
			dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
			if err != nil {
				return err
			}
			defer syscall.Close(dst)
			if err := syscall.Mount("cgroup2", fdPath(dst), "cgroup2", flags, ""); err != nil {
				return err
			}
			return r.finishMount(m.Destination, m, flags, false)
		}
		if cg.Dir == "" {
			return errors.New("the container's cgroup v2 directory is unknown")
		}
		return r.bind(cg.Dir, m.Destination, m, flags|syscall.MS_BIND|syscall.MS_REC)
	}
	dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer syscall.Close(dst)
	tflags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
	if err := syscall.Mount("tmpfs", fdPath(dst), "tmpfs", tflags, "mode=755"); err != nil {
		return wrap("tmpfs", err)
	}
	top, err := openInRoot(r.fd, m.Destination, oPath|syscall.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer syscall.Close(top)
	bflags := flags | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC
	for _, b := range cg.V1 {
		sub := path.Join(m.Destination, b.Name)
		if err := r.bind(b.Source, sub, nil, bflags|syscall.MS_BIND); err != nil {
			return wrap("bind cgroup "+b.Name, err)
		}
		for _, l := range b.Links {
			if err := symlinkat(b.Name, top, l); err != nil && err != syscall.EEXIST {
				return wrap("symlink cgroup "+l, err)
			}
		}
	}
	if flags&syscall.MS_RDONLY != 0 {
		if err := remountBind(fdPath(top), tflags|syscall.MS_RDONLY); err != nil {
			// A tmpfs is remounted without MS_BIND.
			if err := syscall.Mount("", fdPath(top), "", syscall.MS_REMOUNT|tflags|syscall.MS_RDONLY, "mode=755"); err != nil {
				return wrap("remount cgroup tmpfs read-only", err)
			}
		}
	}
	return nil
}
