package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Fill gives a new volume the content an image has where the volume is
// mounted, as Docker does the first time a container mounts an empty
// volume: if the volume was never filled and its data directory is empty,
// the directory path of the image root filesystem rootfs is copied into it
// (path is resolved inside rootfs: symlinks cannot lead out of it), with
// modes, owners, times, symlinks, hard links within the tree, device nodes
// and fifos, and extended attributes where the filesystem takes them. The
// directory's own mode and owner go onto the data directory.
//
// Afterwards the volume counts as filled, even if there was nothing to
// copy, so a volume its user emptied is not filled again. (A tmpfs volume
// is filled again after it was unmounted, since it lost its content.) A
// volume with driver options must be mounted (Mount) to be filled. A fill
// interrupted by a crash is started over by the next Fill.
func (s *Store) Fill(name, rootfs, path string) error {
	opErr := func(err error) error { return &OpError{Op: "fill", Name: name, Err: err} }
	unlock, err := s.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.readMeta(name)
	if err != nil {
		return opErr(err)
	}
	if m.Filled {
		return nil
	}
	v := s.toVolume(m)
	dir := s.volumeDir(name)
	if v.needsMount() {
		if _, mounted, err := s.mountCount(v); err != nil {
			return opErr(err)
		} else if !mounted {
			return opErr(errors.New("volume is not mounted"))
		}
	}
	dst := v.Mountpoint
	if m.FillStarted {
		if err := emptyDir(dst); err != nil {
			return opErr(err)
		}
	} else if empty, err := isEmptyDir(dst); err != nil {
		return opErr(err)
	} else if !empty {
		m.Filled = true
		return s.writeMeta(dir, m)
	}

	src, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return opErr(err)
	}
	fd, err := openRetry(unix.AT_FDCWD, src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		// Nothing there, or not a directory: nothing to copy.
		m.Filled = true
		return s.writeMeta(dir, m)
	}
	if err != nil {
		return opErr(&os.PathError{Op: "open", Path: src, Err: err})
	}
	srcDir := os.NewFile(uintptr(fd), src)
	defer srcDir.Close()

	m.FillStarted = true
	if err := s.writeMeta(dir, m); err != nil {
		return opErr(err)
	}
	c := &copier{links: map[inode]string{}, privileged: os.Geteuid() == 0}
	if err := c.copyDir(srcDir, dst); err != nil {
		return opErr(fmt.Errorf("copy %s: %w", path, err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return opErr(err)
	}
	if err := c.chown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return opErr(err)
	}
	if err := os.Chmod(dst, fileMode(st.Mode)); err != nil {
		return opErr(err)
	}
	m.Filled, m.FillStarted = true, false
	if err := s.writeMeta(dir, m); err != nil {
		return opErr(err)
	}
	return nil
}

// isEmptyDir reports whether dir has no entries.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return len(names) == 0, err
}

// emptyDir removes dir's content.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeTree(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

func openRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fileMode turns st_mode permission bits into os.FileMode ones, keeping
// setuid, setgid and sticky.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

type inode struct{ dev, ino uint64 }

// copier copies a directory tree. The source is read through file
// descriptors, never following a symlink; the destination is a directory
// of ours.
type copier struct {
	// links maps a multiply linked source inode to its first copy.
	links map[inode]string
	// privileged: changing owners and making device nodes must work.
	privileged bool
}

// copyDir copies the entries of the open directory src into the existing
// directory dst.
func (c *copier) copyDir(src *os.File, dst string) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return err
	}
	dirfd := int(src.Fd())
	for _, name := range names {
		if err := c.copyEntry(dirfd, name, filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies the entry name of dirfd to dst.
func (c *copier) copyEntry(dirfd int, name, dst string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil // gone meanwhile
		}
		return &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFSOCK {
		return nil // sockets are not content (nor in image layers)
	}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		k := inode{uint64(st.Dev), st.Ino}
		if first, ok := c.links[k]; ok {
			if err := os.Link(first, dst); err != nil {
				return err
			}
			return nil
		}
		c.links[k] = dst
	}
	switch typ {
	case unix.S_IFDIR:
		fd, err := openRetry(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err != nil {
			return &os.PathError{Op: "open", Path: dst, Err: err}
		}
		sub := os.NewFile(uintptr(fd), name)
		defer sub.Close()
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := c.copyDir(sub, dst); err != nil {
			return err
		}
		return c.finish(dst, &st, func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) },
			func(attr string, buf []byte) (int, error) { return unix.Fgetxattr(fd, attr, buf) })
	case unix.S_IFREG:
		fd, err := openRetry(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err != nil {
			return &os.PathError{Op: "open", Path: dst, Err: err}
		}
		in := os.NewFile(uintptr(fd), name)
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", dst, err)
		}
		return c.finish(dst, &st, func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) },
			func(attr string, buf []byte) (int, error) { return unix.Fgetxattr(fd, attr, buf) })
	case unix.S_IFLNK:
		target, err := readlinkAt(dirfd, name)
		if err != nil {
			return &os.PathError{Op: "readlink", Path: dst, Err: err}
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			if err == unix.EPERM && typ != unix.S_IFIFO {
				return nil // device nodes need CAP_MKNOD (not in a user namespace)
			}
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		return nil
	}
	// Symlinks and special files: their xattrs are read through the
	// parent directory's descriptor.
	procPath := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	return c.finish(dst, &st, func(buf []byte) (int, error) { return unix.Llistxattr(procPath, buf) },
		func(attr string, buf []byte) (int, error) { return unix.Lgetxattr(procPath, attr, buf) })
}

// finish gives dst the owner, mode, extended attributes and times of st,
// in the order that keeps them all (chown clears setuid bits and file
// capabilities).
func (c *copier) finish(dst string, st *unix.Stat_t, list func([]byte) (int, error), get func(string, []byte) (int, error)) error {
	if err := c.chown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := os.Chmod(dst, fileMode(st.Mode)); err != nil {
			return err
		}
	}
	copyXattrs(dst, list, get)
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: dst, Err: err}
	}
	return nil
}

func (c *copier) chown(path string, uid, gid int) error {
	if err := os.Lchown(path, uid, gid); err != nil {
		if !c.privileged && errors.Is(err, unix.EPERM) {
			return nil
		}
		return err
	}
	return nil
}

// copyXattrs copies extended attributes to dst, best effort: filesystems
// without xattrs, attributes the caller may not set and overlayfs' own
// attributes are skipped.
func copyXattrs(dst string, list func([]byte) (int, error), get func(string, []byte) (int, error)) {
	names, err := readXattr(list)
	if err != nil || len(names) == 0 {
		return
	}
	for attr := range strings.SplitSeq(strings.TrimRight(string(names), "\x00"), "\x00") {
		if attr == "" || strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.") {
			continue
		}
		val, err := readXattr(func(buf []byte) (int, error) { return get(attr, buf) })
		if err != nil {
			continue
		}
		_ = unix.Lsetxattr(dst, attr, val, 0)
	}
}

// readXattr calls an xattr getter with a growing buffer.
func readXattr(call func([]byte) (int, error)) ([]byte, error) {
	n, err := call(nil)
	for range 8 {
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if err == unix.ERANGE {
			n, err = call(nil)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}

// readlinkAt reads the symlink name in dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
