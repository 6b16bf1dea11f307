package initproc

import (
	"errors"
	"os"
	"path"
	"syscall"
)

// devSymlinks are the symlinks made in /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "fd"},
	{"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"},
}

// setupDev creates the devices, /dev's standard symlinks and /dev/ptmx ->
// pts/ptmx.
func (r *rootfs) setupDev() error {
	for _, d := range r.cfg.Devices {
		if err := r.createDevice(d); err != nil {
			return wrap("create device "+d.Path, err)
		}
	}
	dev, err := mkdirAllInRoot(r.fd, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer syscall.Close(dev)
	links := devSymlinks
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := symlinkat(l[0], dev, l[1]); err != nil && err != syscall.EEXIST {
			return wrap("symlink /dev/"+l[1], err)
		}
	}
	if err := syscall.Unlinkat(dev, "ptmx"); err != nil && err != syscall.ENOENT {
		return wrap("remove /dev/ptmx", err)
	}
	if err := symlinkat("pts/ptmx", dev, "ptmx"); err != nil {
		return wrap("symlink /dev/ptmx", err)
	}
	return nil
}

// createDevice makes one device node: mknod, or in a user namespace (where
// mknod is not allowed) a bind mount of the host's node.
func (r *rootfs) createDevice(d Device) error {
	if r.cfg.UserNS {
		dst, err := createInRoot(r.fd, d.Path)
		if err != nil {
			return err
		}
		defer syscall.Close(dst)
		return syscall.Mount(d.Path, fdPath(dst), "", syscall.MS_BIND, "")
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = syscall.S_IFCHR
	case "b":
		typ = syscall.S_IFBLK
	case "p":
		typ = syscall.S_IFIFO
	default:
		return errors.New("unknown device type " + quote(d.Type))
	}
	perm := d.Mode & 0o777
	dir, err := mkdirAllInRoot(r.fd, path.Dir(path.Clean(d.Path)), 0o755)
	if err != nil {
		return err
	}
	defer syscall.Close(dir)
	base := path.Base(d.Path)
	// Replace whatever the rootfs has there (runc does too).
	if err := syscall.Unlinkat(dir, base); err != nil && err != syscall.ENOENT {
		return err
	}
	dev := mkdev(uint64(uint32(d.Major)), uint64(uint32(d.Minor)))
	if err := syscall.Mknodat(dir, base, typ|perm, int(dev)); err != nil {
		return err
	}
	f, err := syscall.Openat(dir, base, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(f)
	// mknod applied the umask: set the mode exactly.
	if err := syscall.Fchmodat(atFdcwd, fdPath(f), perm, 0); err != nil {
		return err
	}
	return syscall.Fchownat(f, "", int(d.UID), int(d.GID), atEmptyPath)
}
