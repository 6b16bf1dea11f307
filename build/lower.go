package build

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hull-project/hull/snapshot"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// lowerFS is a read-only view of a state's file system over its layer
// snapshots (topmost first), for COPY's destination rules: whether a path
// exists and what it is. Components are looked up one directory at a
// time without following symlinks, so nothing outside the snapshots is
// ever reached; overlayfs whiteouts (0/0 character devices) hide what is
// below.
type lowerFS struct {
	dirs []string
}

func newLowerFS(snaps *snapshot.Store, layers []digest.Digest) *lowerFS {
	l := &lowerFS{}
	for i := len(layers) - 1; i >= 0; i-- {
		l.dirs = append(l.dirs, snaps.Path(layers[i]))
	}
	return l
}

// Lstat stats an absolute in-image path.
func (l *lowerFS) Lstat(p string) (fs.FileInfo, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	for _, d := range l.dirs {
		st, found, gone := lookupIn(d, rel)
		if gone {
			break
		}
		if found {
			return &statInfo{name: path.Base("/" + rel), st: st}, nil
		}
	}
	return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
}

// lookupIn looks rel up in one layer directory: found, or gone (whited
// out, or under something that is not a directory).
func lookupIn(dir, rel string) (st unix.Stat_t, found, gone bool) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, false, false
	}
	defer func() { unix.Close(fd) }()
	if rel == "" || rel == "." {
		err = unix.Fstat(fd, &st)
		return st, err == nil, false
	}
	parts := strings.Split(rel, "/")
	for i, c := range parts {
		if err := unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return st, false, false
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			return st, false, true // whiteout
		}
		if i == len(parts)-1 {
			return st, true, false
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return st, false, true
		}
		nfd, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return st, false, false
		}
		unix.Close(fd)
		fd = nfd
	}
	return st, false, false
}

// statInfo is an fs.FileInfo of a unix.Stat_t.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s *statInfo) Name() string { return s.name }
func (s *statInfo) Size() int64  { return s.st.Size }
func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// Sys returns the stat as a *syscall.Stat_t (as os.Lstat does).
func (s *statInfo) Sys() any {
	st := syscall.Stat_t{
		Dev: s.st.Dev, Ino: s.st.Ino, Nlink: s.st.Nlink, Mode: s.st.Mode, Uid: s.st.Uid, Gid: s.st.Gid,
		Rdev: s.st.Rdev, Size: s.st.Size, Blksize: s.st.Blksize, Blocks: s.st.Blocks,
		Atim: syscall.Timespec(s.st.Atim), Mtim: syscall.Timespec(s.st.Mtim), Ctim: syscall.Timespec(s.st.Ctim),
	}
	return &st
}

// Readlink returns the target of a symlink of the lower file system.
func (l *lowerFS) Readlink(p string) (string, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	for _, d := range l.dirs {
		_, found, gone := lookupIn(d, rel)
		if gone {
			break
		}
		if found {
			return os.Readlink(d + "/" + rel)
		}
	}
	return "", &fs.PathError{Op: "readlink", Path: p, Err: fs.ErrNotExist}
}
