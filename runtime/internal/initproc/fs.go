package initproc

import (
	"errors"
	"io/fs"
	"path"
	"syscall"
)

// Path resolution inside the container's root filesystem. Every path of a
// spec (mount destinations, devices) is resolved with openat2(2) and
// RESOLVE_IN_ROOT from an fd of the rootfs, so ".." and symlinks (absolute
// or relative) are scoped to the rootfs as if it were "/" — nothing a rootfs
// holds can send a mount or mknod outside it. The mount target is then the
// fd itself (/proc/self/fd/N), so nothing can swap the path between the
// check and the mount.

const inRoot = resolveInRoot | resolveNoMagiclinks

// openInRoot opens p (taken as relative to the root) below rootFd with
// flags, retrying the EAGAIN openat2 returns when a rename races the
// lookup.
func openInRoot(rootFd int, p string, flags int) (int, error) {
	how := openHow{flags: uint64(flags | syscall.O_CLOEXEC), resolve: inRoot}
	rel := trimLeadingSlashes(path.Clean("/" + p))
	if rel == "" {
		rel = "."
	}
	for i := 0; ; i++ {
		fd, err := openat2(rootFd, rel, &how)
		if (err == syscall.EAGAIN || err == syscall.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// trimLeadingSlashes is strings.TrimLeft(p, "/").
func trimLeadingSlashes(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

// mkdirAllInRoot makes the directory p and its parents below rootFd and
// returns an O_PATH fd of it. Symlinks on the way are followed within the
// root, and a dangling one gets its target created (as securejoin's
// MkdirAll does), so "/etc/link -> /var/x" makes <root>/var/x.
func mkdirAllInRoot(rootFd int, p string, mode uint32) (int, error) {
	fd, err := openInRoot(rootFd, p, oPath|syscall.O_DIRECTORY)
	if err == nil {
		return fd, nil
	} else if err != syscall.ENOENT {
		return -1, wrap("open "+p+" in rootfs", err)
	}
	cur := "/" // the resolved path so far, inside the root
	todo := splitPath(p)
	for links := 0; len(todo) > 0; {
		name := todo[0]
		next := path.Join(cur, name)
		fd, err := openInRoot(rootFd, next, oPath|syscall.O_NOFOLLOW)
		if err == syscall.ENOENT {
			// cur was resolved inside the root, so a plain name below
			// it stays inside.
			dir, err := openInRoot(rootFd, cur, oPath|syscall.O_DIRECTORY)
			if err != nil {
				return -1, wrap("open "+cur+" in rootfs", err)
			}
			err = syscall.Mkdirat(dir, name, mode)
			syscall.Close(dir)
			if err != nil && err != syscall.EEXIST {
				return -1, wrap("mkdir "+next+" in rootfs", err)
			}
			continue // open it again
		}
		if err != nil {
			return -1, wrap("open "+next+" in rootfs", err)
		}
		var st syscall.Stat_t
		err = syscall.Fstat(fd, &st)
		if err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			target, rerr := readlinkat(fd, "")
			syscall.Close(fd)
			if rerr != nil {
				return -1, wrap("readlink "+next+" in rootfs", rerr)
			}
			if links++; links > 40 {
				return -1, wrap("open "+p+" in rootfs", syscall.ELOOP)
			}
			if target != "" && target[0] == '/' {
				cur = "/"
			}
			todo = append(splitPath(target), todo[1:]...)
			continue
		}
		syscall.Close(fd)
		if err != nil {
			return -1, err
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return -1, wrap("mkdir "+next+" in rootfs", syscall.ENOTDIR)
		}
		cur = next
		todo = todo[1:]
	}
	return openInRoot(rootFd, cur, oPath|syscall.O_DIRECTORY)
}

// splitPath splits p into its names, dropping empty names and "." (".."
// stays: openat2 resolves it within the root).
func splitPath(p string) []string {
	var out []string
	for len(p) > 0 {
		i := 0
		for i < len(p) && p[i] != '/' {
			i++
		}
		if n := p[:i]; n != "" && n != "." {
			out = append(out, n)
		}
		if i == len(p) {
			break
		}
		p = p[i+1:]
	}
	return out
}

// createInRoot makes sure p exists below rootFd, as an empty file if it
// must be created, and returns an O_PATH fd of it. An existing p is used as
// it is (a symlink inside the rootfs is followed, within the rootfs).
func createInRoot(rootFd int, p string) (int, error) {
	if fd, err := openInRoot(rootFd, p, oPath); err == nil {
		return fd, nil
	} else if err != syscall.ENOENT {
		return -1, wrap("open "+p+" in rootfs", err)
	}
	dir, err := mkdirAllInRoot(rootFd, path.Dir(path.Clean("/"+p)), 0o755)
	if err != nil {
		return -1, err
	}
	defer syscall.Close(dir)
	base := path.Base(path.Clean("/" + p))
	fd, err := syscall.Openat(dir, base, syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_RDONLY|syscall.O_CLOEXEC, 0o644)
	if err == syscall.EEXIST {
		return -1, errors.New("create " + p + " in rootfs: it is a dangling symlink")
	}
	if err != nil {
		return -1, wrap("create "+p+" in rootfs", err)
	}
	syscall.Close(fd)
	return openInRoot(rootFd, p, oPath)
}

// lockedMountFlags returns the flags of the mount at p that an unprivileged
// remount must keep (the kernel locks them in a user namespace).
func lockedMountFlags(p string) uintptr {
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return 0
	}
	var f uintptr
	for _, m := range []struct {
		st   int64
		flag uintptr
	}{
		{stNosuid, syscall.MS_NOSUID},
		{stNodev, syscall.MS_NODEV},
		{stNoexec, syscall.MS_NOEXEC},
		{stNoatime, syscall.MS_NOATIME},
		{stNodiratime, syscall.MS_NODIRATIME},
		{stRelatime, syscall.MS_RELATIME},
		{stRdonly, syscall.MS_RDONLY},
	} {
		if int64(st.Flags)&m.st != 0 { // Flags is int32 on 32-bit platforms
			f |= m.flag
		}
	}
	return f
}

// remountBind changes the flags of the bind mount at p, retrying with the
// mount's locked flags on EPERM.
func remountBind(p string, flags uintptr) error {
	flags |= syscall.MS_BIND | syscall.MS_REMOUNT
	err := syscall.Mount("", p, "", flags, "")
	if err == syscall.EPERM {
		locked := lockedMountFlags(p) &^ syscall.MS_RDONLY
		if locked&^flags != 0 {
			err = syscall.Mount("", p, "", flags|locked, "")
		}
	}
	return err
}

// errNotExist reports whether err means a missing file.
func errNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}
