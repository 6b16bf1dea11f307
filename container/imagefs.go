package container

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

// ImageFS is a read-only view of an image's file system: its layer
// snapshots stacked as overlayfs would stack them (whiteouts and opaque
// directories honoured), read without a mount, every component checked
// to be a directory before the next is looked up, so no symlink is ever
// followed out of a snapshot. The build uses it for COPY's destination
// rules and --chown's passwd lookups.
type ImageFS struct {
	snaps  *snapshot.Store
	layers []digest.Digest
}

// NewImageFS is the view of layers (diffIDs, bottom first).
func NewImageFS(snaps *snapshot.Store, layers []digest.Digest) *ImageFS {
	return &ImageFS{snaps: snaps, layers: layers}
}

// find looks the absolute path p up and calls fn with the layer it is
// in (an O_PATH descriptor), its path relative to the layer and its stat.
func (f *ImageFS) find(p string, fn func(layer int, rel string, st *unix.Stat_t) error) error {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	v, err := openLowerView(f.snaps, f.layers, "being built")
	if err != nil {
		return err
	}
	defer v.close()
	if rel == "" {
		if len(v.layers) == 0 {
			return &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
		}
		var st unix.Stat_t
		if err := unix.Fstat(v.layers[0], &st); err != nil {
			return err
		}
		return fn(v.layers[0], ".", &st)
	}
	for _, fd := range v.layers {
		st, res, err := findInLayer(fd, rel)
		if err != nil {
			return err
		}
		switch res {
		case lowerFound:
			return fn(fd, rel, &st)
		case lowerDeleted, lowerHidden:
			return &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
		}
	}
	return &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
}

// Lstat describes the path p without following a final symlink; Sys() is
// a *syscall.Stat_t.
func (f *ImageFS) Lstat(p string) (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := f.find(p, func(_ int, rel string, st *unix.Stat_t) error {
		fi = &statInfo{name: path.Base("/" + rel), st: *st}
		return nil
	})
	return fi, err
}

// Readlink returns the target of the symlink p.
func (f *ImageFS) Readlink(p string) (string, error) {
	var target string
	err := f.find(p, func(layer int, rel string, _ *unix.Stat_t) error {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(layer, rel, buf)
		if err != nil {
			return &fs.PathError{Op: "readlink", Path: p, Err: err}
		}
		target = string(buf[:n])
		return nil
	})
	return target, err
}

// ReadFile reads the regular file p.
func (f *ImageFS) ReadFile(p string) ([]byte, error) {
	var b []byte
	err := f.find(p, func(layer int, rel string, _ *unix.Stat_t) error {
		fd, err := openRetry(layer, rel, unix.O_RDONLY|unix.O_NOFOLLOW)
		if err != nil {
			return &fs.PathError{Op: "open", Path: p, Err: err}
		}
		file := os.NewFile(uintptr(fd), p)
		defer file.Close()
		st, err := file.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return &fs.PathError{Op: "read", Path: p, Err: syscall.EINVAL}
		}
		b = make([]byte, 0, st.Size())
		buf := make([]byte, 32*1024)
		for {
			n, err := file.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		return nil
	})
	return b, err
}

// statInfo is an fs.FileInfo of a unix.Stat_t.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.st.Mode&unix.S_IFMT == unix.S_IFDIR }

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

// Sys returns the stat as a *syscall.Stat_t (as os.Lstat does).
func (s *statInfo) Sys() any {
	st := syscall.Stat_t{
		Dev: s.st.Dev, Ino: s.st.Ino, Nlink: s.st.Nlink, Mode: s.st.Mode, Uid: s.st.Uid, Gid: s.st.Gid,
		Rdev: s.st.Rdev, Size: s.st.Size, Blksize: s.st.Blksize, Blocks: s.st.Blocks,
		Atim: syscall.Timespec(s.st.Atim), Mtim: syscall.Timespec(s.st.Mtim), Ctim: syscall.Timespec(s.st.Ctim),
	}
	return &st
}
