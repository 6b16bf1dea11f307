package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Path resolution inside the container's root filesystem. Every path of a
// spec (mount destinations, devices) is resolved with openat2(2) and
// RESOLVE_IN_ROOT from an fd of the rootfs, so ".." and symlinks (absolute
// or relative) are scoped to the rootfs as if it were "/" — nothing a rootfs
// holds can send a mount or mknod outside it. The mount target is then the
// fd itself (/proc/self/fd/N), so nothing can swap the path between the
// check and the mount.

const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens p (taken as relative to the root) below rootFd with
// flags, retrying the EAGAIN openat2 returns when a rename races the
// lookup.
func openInRoot(rootFd int, p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRoot}
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(rootFd, rel, &how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 64 {
			continue
		}
		return fd, err
	}
}

// fdPath is the /proc path of an fd, usable as a mount(2) argument.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mkdirAllInRoot makes the directory p and its parents below rootFd and
// returns an O_PATH fd of it. Symlinks on the way are followed within the
// root, and a dangling one gets its target created (as securejoin's
// MkdirAll does), so "/etc/link -> /var/x" makes <root>/var/x.
func mkdirAllInRoot(rootFd int, p string, mode uint32) (int, error) {
	fd, err := openInRoot(rootFd, p, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil {
		return fd, nil
	} else if err != unix.ENOENT {
		return -1, fmt.Errorf("open %s in rootfs: %w", p, err)
	}
	cur := "/" // the resolved path so far, inside the root
	todo := splitPath(p)
	for links := 0; len(todo) > 0; {
		name := todo[0]
		next := path.Join(cur, name)
		fd, err := openInRoot(rootFd, next, unix.O_PATH|unix.O_NOFOLLOW)
		if err == unix.ENOENT {
			// cur was resolved inside the root, so a plain name below
			// it stays inside.
			dir, err := openInRoot(rootFd, cur, unix.O_PATH|unix.O_DIRECTORY)
			if err != nil {
				return -1, fmt.Errorf("open %s in rootfs: %w", cur, err)
			}
			err = unix.Mkdirat(dir, name, mode)
			unix.Close(dir)
			if err != nil && err != unix.EEXIST {
				return -1, fmt.Errorf("mkdir %s in rootfs: %w", next, err)
			}
			continue // open it again
		}
		if err != nil {
			return -1, fmt.Errorf("open %s in rootfs: %w", next, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, rerr := readlinkFd(fd)
			unix.Close(fd)
			if rerr != nil {
				return -1, fmt.Errorf("readlink %s in rootfs: %w", next, rerr)
			}
			if links++; links > 40 {
				return -1, fmt.Errorf("open %s in rootfs: %w", p, unix.ELOOP)
			}
			if strings.HasPrefix(target, "/") {
				cur = "/"
			}
			todo = append(splitPath(target), todo[1:]...)
			continue
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return -1, fmt.Errorf("mkdir %s in rootfs: %w", next, unix.ENOTDIR)
		}
		cur = next
		todo = todo[1:]
	}
	return openInRoot(rootFd, cur, unix.O_PATH|unix.O_DIRECTORY)
}

// splitPath splits p into its names, resolving "." and ".." lexically
// (as the kernel does for ".." at the root, it stays there).
func splitPath(p string) []string {
	var out []string
	for _, n := range strings.Split(p, "/") {
		if n != "" && n != "." {
			out = append(out, n)
		}
	}
	return out
}

// readlinkFd reads the target of a symlink opened with O_PATH|O_NOFOLLOW.
func readlinkFd(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// createInRoot makes sure p exists below rootFd, as an empty file if it
// must be created, and returns an O_PATH fd of it. An existing p is used as
// it is (a symlink inside the rootfs is followed, within the rootfs).
func createInRoot(rootFd int, p string) (int, error) {
	if fd, err := openInRoot(rootFd, p, unix.O_PATH); err == nil {
		return fd, nil
	} else if err != unix.ENOENT {
		return -1, fmt.Errorf("open %s in rootfs: %w", p, err)
	}
	dir, err := mkdirAllInRoot(rootFd, path.Dir(path.Clean("/"+p)), 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dir)
	base := path.Base(path.Clean("/" + p))
	fd, err := unix.Openat(dir, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err == unix.EEXIST {
		return -1, fmt.Errorf("create %s in rootfs: it is a dangling symlink", p)
	}
	if err != nil {
		return -1, fmt.Errorf("create %s in rootfs: %w", p, err)
	}
	unix.Close(fd)
	return openInRoot(rootFd, p, unix.O_PATH)
}

// lockedMountFlags returns the flags of the mount at p that an unprivileged
// remount must keep (the kernel locks them in a user namespace).
func lockedMountFlags(p string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0
	}
	var f uintptr
	for _, m := range []struct {
		st   int64
		flag uintptr
	}{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
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
	flags |= unix.MS_BIND | unix.MS_REMOUNT
	err := unix.Mount("", p, "", flags, "")
	if err == unix.EPERM {
		locked := lockedMountFlags(p) &^ unix.MS_RDONLY
		if locked&^flags != 0 {
			err = unix.Mount("", p, "", flags|locked, "")
		}
	}
	return err
}

// errNotExist reports whether err means a missing file.
func errNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT)
}
