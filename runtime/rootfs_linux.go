package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// rootfs sets up the container's root filesystem in init's new mount
// namespace, before pivot_root.
type rootfs struct {
	cfg    *initConfig
	path   string // host path of the rootfs
	fd     int    // O_PATH fd of the rootfs (after the self bind mount)
	devRO  bool   // remount /dev read-only once the devices exist
	devBnd bool   // /dev is a bind mount: no device setup
}

// prepare makes the mount tree private (or as rootfsPropagation asks),
// binds the rootfs onto itself and mounts the spec's mounts into it.
func (r *rootfs) prepare() error {
	s := r.cfg.Spec
	// In hull's own mount namespace, leave the host's propagation alone.
	if !r.cfg.HostMountNS {
		prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if p := s.Linux.RootfsPropagation; p != "" {
			prop = propagationOpts[p]
		}
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set / propagation: %w", err)
		}
		if err := makeParentPrivate(r.path); err != nil {
			return err
		}
	}
	if err := unix.Mount(r.path, r.path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %s: %w", r.path, err)
	}
	fd, err := unix.Open(r.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	r.fd = fd
	for _, m := range s.Mounts {
		if path.Clean(m.Destination) == "/dev" {
			o, _ := parseMountOptions(m.Options)
			if o.isBind() || m.Type == "bind" {
				r.devBnd = true
			} else if o.flags&unix.MS_RDONLY != 0 {
				r.devRO = true
			}
		}
	}
	for _, m := range s.Mounts {
		if err := r.mount(m); err != nil {
			return fmt.Errorf("mount %s (type %q) on %s: %w", m.Source, m.Type, m.Destination, err)
		}
	}
	if !r.devBnd {
		if err := r.setupDev(); err != nil {
			return err
		}
	}
	return nil
}

// unmountUnder lazily unmounts every mount at or below dir, deepest first:
// what a container without a mount namespace left in hull's.
func unmountUnder(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mounts[i].Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}

// makeParentPrivate makes the mount holding dir private if it is shared:
// pivot_root refuses a new root whose parent mount is shared.
func makeParentPrivate(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(dir))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var best *mountinfo.Info
	for _, m := range mounts {
		if best == nil || len(m.Mountpoint) > len(best.Mountpoint) {
			best = m
		}
	}
	if best == nil || !strings.Contains(best.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", best.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", best.Mountpoint, err)
	}
	return nil
}

// mount mounts one spec mount into the rootfs.
func (r *rootfs) mount(m specs.Mount) error {
	o, err := parseMountOptions(m.Options)
	if err != nil {
		return err
	}
	if m.Destination == "/dev" && r.devRO {
		o.flags &^= unix.MS_RDONLY // until the devices are made
	}
	switch {
	case o.isBind() || m.Type == "bind":
		o.flags |= unix.MS_BIND
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(r.cfg.Bundle, src)
		}
		return r.bind(src, m.Destination, o)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		return r.mountCgroup(m, o)
	}
	dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	flags := o.flags &^ unix.MS_REMOUNT
	if o.tmpcopyup && m.Type == "tmpfs" {
		return r.mountTmpcopyup(m, o, dst)
	}
	err = unix.Mount(m.Source, fdPath(dst), m.Type, flags, o.dataString())
	if err == unix.EPERM && (m.Type == "sysfs" || m.Type == "mqueue") {
		// Not allowed in a user namespace without its own network or
		// ipc namespace: use the host's instead, as runc does.
		host := map[string]string{"sysfs": "/sys", "mqueue": "/dev/mqueue"}[m.Type]
		o.flags |= unix.MS_BIND | unix.MS_REC
		return r.bind(host, m.Destination, o)
	}
	if err != nil {
		return err
	}
	return r.finishMount(m.Destination, o, false)
}

// bind bind-mounts the host path src onto dest in the rootfs, then applies
// the flags that need a remount.
func (r *rootfs) bind(src, dest string, o *mountOpts) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind mount source: %w", err)
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
	defer unix.Close(dst)
	if err := unix.Mount(src, fdPath(dst), "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return err
	}
	return r.finishMount(dest, o, true)
}

// finishMount applies what mount(2) could not do in the first call: the
// read-only (and other) flags of a bind mount, propagation changes and
// recursive attributes. It reopens dest, as the fd used for the mount
// still points below the new mount.
func (r *rootfs) finishMount(dest string, o *mountOpts, bind bool) error {
	remount := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if !bind && len(o.propagation) == 0 && o.attrSet == 0 && o.attrClr == 0 {
		return nil
	}
	if bind && remount == 0 && len(o.propagation) == 0 && o.attrSet == 0 && o.attrClr == 0 {
		return nil
	}
	fd, err := openInRoot(r.fd, dest, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("reopen after mount: %w", err)
	}
	defer unix.Close(fd)
	p := fdPath(fd)
	if bind && remount != 0 {
		if err := remountBind(p, remount); err != nil {
			return fmt.Errorf("remount with %s: %w", flagNames(remount), err)
		}
	}
	for _, pf := range o.propagation {
		if err := unix.Mount("", p, "", pf, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	if o.attrSet != 0 || o.attrClr != 0 {
		attr := &unix.MountAttr{Attr_set: o.attrSet, Attr_clr: o.attrClr}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

// flagNames names the MS_ flags in f, for errors.
func flagNames(f uintptr) string {
	var names []string
	for name, o := range mountFlagOpts {
		if !o.clear && o.flag != 0 && f&o.flag == o.flag && o.flag&(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) == 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("flags %#x", f)
	}
	return strings.Join(names, ",")
}

// mountCgroup mounts the container's cgroups at m.Destination: a cgroup2
// mount in its own cgroup namespace on a v2 host (a bind of its cgroup
// otherwise); on v1, a tmpfs with a bind of the container's directory of
// each hierarchy, as runc does.
func (r *rootfs) mountCgroup(m specs.Mount, o *mountOpts) error {
	cg := r.cfg.Cgroup
	flags := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if cg.V2 {
		if r.cfg.NewCgroupNS {
			dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
			if err != nil {
				return err
			}
			defer unix.Close(dst)
			if err := unix.Mount("cgroup2", fdPath(dst), "cgroup2", flags, ""); err != nil {
				return err
			}
			return r.finishMount(m.Destination, o, false)
		}
		if cg.Dir == "" {
			return fmt.Errorf("the container's cgroup v2 directory is unknown")
		}
		o.flags = flags | unix.MS_BIND | unix.MS_REC
		return r.bind(cg.Dir, m.Destination, o)
	}
	dst, err := mkdirAllInRoot(r.fd, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	tflags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", fdPath(dst), "tmpfs", tflags, "mode=755"); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	top, err := openInRoot(r.fd, m.Destination, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	bflags := flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, b := range cg.V1 {
		sub := path.Join(m.Destination, b.Name)
		bo := &mountOpts{flags: bflags | unix.MS_BIND}
		if err := r.bind(b.Source, sub, bo); err != nil {
			return fmt.Errorf("bind cgroup %s: %w", b.Name, err)
		}
		for _, l := range b.Links {
			if err := unix.Symlinkat(b.Name, top, l); err != nil && err != unix.EEXIST {
				return fmt.Errorf("symlink cgroup %s: %w", l, err)
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := remountBind(fdPath(top), tflags|unix.MS_RDONLY); err != nil {
			// A tmpfs is remounted without MS_BIND.
			if err := unix.Mount("", fdPath(top), "", unix.MS_REMOUNT|tflags|unix.MS_RDONLY, "mode=755"); err != nil {
				return fmt.Errorf("remount cgroup tmpfs read-only: %w", err)
			}
		}
	}
	return nil
}

// pivot makes the rootfs the root: pivot_root(".", ".") then a lazy
// unmount of the old root stacked under it (or, with NoPivot, a move of the
// rootfs onto / and chroot; without a mount namespace, chroot alone).
func (r *rootfs) pivot() error {
	defer unix.Close(r.fd)
	if r.cfg.HostMountNS {
		// No mount namespace: pivot_root or a move would change the
		// host's root. chroot only changes init's.
		if err := unix.Chdir(r.path); err != nil {
			return fmt.Errorf("chdir to rootfs: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
		return unix.Chdir("/")
	}
	if r.cfg.NoPivot {
		if err := unix.Chdir(r.path); err != nil {
			return fmt.Errorf("chdir to rootfs: %w", err)
		}
		if err := unix.Mount(r.path, "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move rootfs to /: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
		return unix.Chdir("/")
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(r.path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root: %w", err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root is now stacked on "."; get to it, make sure the unmount
	// does not propagate to the host, and detach it.
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	return nil
}

// finalize runs after pivot_root: /dev and / read-only if asked, umask,
// sysctls, read-only and masked paths.
func finalizeRootfs(s *specs.Spec, devRO bool) error {
	if devRO {
		if err := remountBind("/dev", unix.MS_RDONLY); err != nil {
			if err := unix.Mount("", "/dev", "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("remount /dev read-only: %w", err)
			}
		}
	}
	for k, v := range s.Linux.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	for _, p := range s.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range s.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return err
		}
	}
	if s.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("remount rootfs read-only: %w", err)
		}
	}
	return nil
}

// readonlyPath bind-mounts p onto itself read-only; a missing p is
// skipped.
func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errNotExist(err) {
			return nil
		}
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	if err := remountBind(p, unix.MS_RDONLY); err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	return nil
}

// maskPath hides p: /dev/null over a file, a read-only empty tmpfs over a
// directory; a missing p is skipped.
func maskPath(p string) error {
	err := unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	if err == unix.ENOTDIR {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0k")
	}
	if err != nil && !errNotExist(err) {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}
