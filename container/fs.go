package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// This file holds the file tree primitives that diff, commit, export and cp
// share. Every tree that a container can write to is read through file
// descriptors: entries are opened relative to their parent directory with
// O_NOFOLLOW, so a container that swaps a directory for a symlink while
// hull reads its files can never make hull read (or write) outside of it.

// resolveInRoot confines openat2 lookups to the directory they start from,
// as if it were "/": symlinks (absolute ones included) and ".." are
// resolved inside it, and magic links (/proc/<pid>/root, …) are refused.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens p (taken as an absolute path inside the directory open
// as rootfd) following symlinks, the last one included, only inside that
// root.
func openInRoot(rootfd int, p string, flags int) (int, error) {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	if !haveOpenat2() {
		// No openat2 (old kernel, seccomp): securejoin resolves the path
		// one component at a time with the same guarantees.
		return openInRootCompat(rootfd, p, flags)
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveInRoot}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(rootfd, p, &how)
		if (err == unix.EINTR || err == unix.EAGAIN) && i < 128 {
			continue // EAGAIN: a concurrent rename; the kernel asks to retry
		}
		return fd, err
	}
}

// haveOpenat2 reports whether openat2(2) can be used (a variable for
// tests of the fallback).
var haveOpenat2 = sync.OnceValue(func() bool {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &how)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

func openInRootCompat(rootfd int, p string, flags int) (int, error) {
	if flags&unix.O_NOFOLLOW != 0 {
		// securejoin follows the last component: resolve the parent and
		// open the last component from it.
		dir, base := ".", p
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			dir, base = p[:i], p[i+1:]
		}
		if base != "" && base != "." && base != ".." {
			dfd, err := openInRootCompat(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
			if err != nil {
				return -1, err
			}
			defer unix.Close(dfd)
			return openRetry(dfd, base, flags)
		}
	}
	dup, err := unix.FcntlInt(uintptr(rootfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	root := os.NewFile(uintptr(dup), "root")
	defer root.Close()
	h, err := securejoin.OpenatInRoot(root, p)
	if err != nil {
		return -1, unwrapErrno(err)
	}
	defer h.Close()
	f := h
	if flags&unix.O_PATH == 0 {
		if f, err = securejoin.Reopen(h, flags&^unix.O_NOFOLLOW); err != nil {
			return -1, unwrapErrno(err)
		}
		defer f.Close()
	} else if flags&unix.O_DIRECTORY != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(int(h.Fd()), &st); err != nil {
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return -1, unix.ENOTDIR
		}
	}
	return unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
}

// unwrapErrno returns the errno inside err, if any, so callers can compare
// with unix.ENOENT and the like.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// openRetry is openat(2) retried on EINTR.
func openRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openNode opens the entry name of dirfd itself (a symlink is not
// followed) as an O_PATH descriptor and stats it.
func openNode(dirfd int, name string) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := openRetry(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return -1, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, err
	}
	return fd, st, nil
}

// openDirOf opens the directory behind the O_PATH descriptor fd for
// reading.
func openDirOf(fd int) (int, error) {
	return openRetry(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY)
}

// reopen opens the regular file behind the O_PATH descriptor fd for
// reading; the inode cannot change under it.
func reopen(fd int) (int, error) {
	for {
		nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return nfd, err
		}
	}
}

// readNames lists the directory open as dirfd, sorted. The descriptor
// stays open.
func readNames(dirfd int) ([]string, error) {
	dup, err := unix.FcntlInt(uintptr(dirfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	if _, err := unix.Seek(dup, 0, io.SeekStart); err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// xattrOf returns the extended attribute name of the node behind the
// descriptor fd (O_PATH or not), or nil.
func xattrOf(fd int, name string) []byte {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(p, name, buf)
		if err == unix.ERANGE && len(buf) < 1<<16 {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil || n == 0 {
			return nil
		}
		return buf[:n]
	}
}

// isWhiteout reports whether st is an overlayfs whiteout: a 0:0
// character device.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaque reports whether the directory behind fd is an overlayfs opaque
// directory.
func isOpaque(fd int) bool {
	v := xattrOf(fd, "trusted.overlay.opaque")
	return len(v) == 1 && v[0] == 'y'
}

// fileKey identifies an inode, for hard links.
type fileKey struct{ dev, ino uint64 }

// archiver writes file trees into a tar stream, the way Docker's archive
// package does: PAX format, mtimes in whole seconds, no user or group
// names, security.capability kept, hard links as links to the first name
// written, sockets left out.
type archiver struct {
	tw    *tar.Writer
	links map[fileKey]string
	buf   []byte
	// chown, if set, overrides the owner of every entry.
	chown *[2]int
	// entries counts the entries written.
	entries int
}

func newArchiver(w io.Writer) *archiver {
	return &archiver{tw: tar.NewWriter(w), links: map[fileKey]string{}, buf: make([]byte, 1<<20)}
}

// close writes the end-of-archive marker.
func (a *archiver) close() error { return a.tw.Close() }

// header builds the tar header of the node behind the O_PATH descriptor fd
// with stat st, named name (no trailing slash); nil for sockets.
func (a *archiver) header(fd int, st *unix.Stat_t, name string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Truncate(time.Second),
		Format:  tar.FormatPAX,
	}
	if a.chown != nil {
		hdr.Uid, hdr.Gid = a.chown[0], a.chown[1]
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
		return hdr, nil
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkFd(fd)
		if err != nil {
			return nil, err
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets have no tar form
	}
	if st.Nlink > 1 {
		k := fileKey{st.Dev, st.Ino}
		if first, ok := a.links[k]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
			return hdr, nil
		}
		a.links[k] = name
	}
	return hdr, nil
}

// readlinkFd reads the target of the symlink open (O_PATH) as fd.
func readlinkFd(fd int) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 1<<16 {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, len(buf)*4)
	}
}

// add writes the node behind the O_PATH descriptor fd (stat st) as name,
// with its content if it is a regular file. It returns the header written,
// nil if the node was left out.
func (a *archiver) add(fd int, st *unix.Stat_t, name string) (*tar.Header, error) {
	hdr, err := a.header(fd, st, name)
	if err != nil || hdr == nil {
		return nil, err
	}
	if hdr.Typeflag != tar.TypeReg {
		if err := a.tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		a.entries++
		return hdr, nil
	}
	rfd, err := reopen(fd)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(rfd), name)
	defer f.Close()
	if caps := xattrOf(rfd, "security.capability"); caps != nil {
		hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(caps)}
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	a.entries++
	// The file may change while it is read (a running container): write
	// exactly the size in the header, padding a file that shrank.
	n, err := io.CopyBuffer(a.tw, io.LimitReader(f, hdr.Size), a.buf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	for n < hdr.Size {
		chunk := min(int64(len(a.buf)), hdr.Size-n)
		clear(a.buf[:chunk])
		if _, err := a.tw.Write(a.buf[:chunk]); err != nil {
			return nil, err
		}
		n += chunk
	}
	return hdr, nil
}

// addTree writes the contents of the directory open (for reading) as
// dirfd, recursively, sorted by name, with names under prefix ("" for
// none).
func (a *archiver) addTree(dirfd int, prefix string) error {
	names, err := readNames(dirfd)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", displayDir(prefix), err)
	}
	for _, name := range names {
		if err := a.addPath(dirfd, name, joinName(prefix, name)); err != nil {
			return err
		}
	}
	return nil
}

// addPath writes the entry name of dirfd as tarName, recursively.
func (a *archiver) addPath(dirfd int, name, tarName string) error {
	fd, st, err := openNode(dirfd, name)
	if err == unix.ENOENT {
		return nil // removed meanwhile
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", tarName, err)
	}
	defer unix.Close(fd)
	return a.addNode(fd, &st, tarName)
}

// addNode writes the node behind the O_PATH descriptor fd as tarName,
// and, for a directory, its contents.
func (a *archiver) addNode(fd int, st *unix.Stat_t, tarName string) error {
	if _, err := a.add(fd, st, tarName); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	dfd, err := openDirOf(fd)
	if err != nil {
		return fmt.Errorf("open %s: %w", tarName, err)
	}
	defer unix.Close(dfd)
	return a.addTree(dfd, tarName)
}

// joinName joins a tar name prefix and a base name.
func joinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return strings.TrimSuffix(prefix, "/") + "/" + name
}

func displayDir(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return prefix
}

// cleanRel cleans a container path into a relative one ("" for the root).
func cleanRel(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}
