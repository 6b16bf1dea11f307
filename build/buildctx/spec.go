package buildctx

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"time"
)

// Owner is a numeric owner, as COPY --chown resolves to.
type Owner struct{ UID, GID int }

// CopySpec is one COPY or ADD of files from a context.
type CopySpec struct {
	// Sources are the source paths as written (after variable expansion),
	// relative to the context root: a leading "/" and ".." components
	// clamp to the root. Globs (path.Match syntax per component) are
	// allowed. A directory source copies what it holds, not itself.
	Sources []string
	// Dest is the absolute destination in the image, already resolved
	// against WORKDIR; a trailing "/" says it is a directory.
	Dest string
	// Chown owns everything copied; nil means 0:0, COPY's default.
	Chown *Owner
	// Chmod, if set, replaces the permission bits (and setuid, setgid,
	// sticky: fs.ModeSetuid etc. or the Unix bits 0o7000) of everything
	// copied but symlinks, and is the mode of the directories the copy
	// creates (as BuildKit does). See SetChmod.
	Chmod *fs.FileMode
	// ChmodSymbolic is a symbolic --chmod (chmod(1) syntax: "a+x,g-r",
	// "u=rwX"), applied to the mode of everything copied but symlinks;
	// directories the copy creates stay 0755 (as BuildKit does). Chmod
	// wins if both are set.
	ChmodSymbolic string
	// Extract is ADD's: a source that is a local tar archive (plain, gzip,
	// bzip2, zstd, or xz if the xz command is there) is unpacked into Dest,
	// keeping the archive's modes (and its owners unless Chown is set),
	// instead of being copied.
	Extract bool
	// Exclude are COPY --exclude patterns, .dockerignore syntax, matched
	// against paths relative to each source.
	Exclude []string
	// Time, if set (SOURCE_DATE_EPOCH), clamps every entry's mtime to at
	// most this; directories the copy creates get it. Otherwise those get
	// the current time, as with BuildKit.
	Time *time.Time
	// AllowEmptyWildcard lets a glob source match nothing, as BuildKit
	// does (`COPY foo nomatch* /` copies foo); otherwise that is a
	// *NotFoundError, as with Docker's classic builder.
	AllowEmptyWildcard bool
}

// destIsDir reports whether the destination is written as a directory.
func (s *CopySpec) destIsDir() bool {
	return len(s.Dest) > 0 && s.Dest[len(s.Dest)-1] == '/' || path.Base(s.Dest) == "." || path.Base(s.Dest) == ".."
}

// unixMode is the Chmod as Unix mode bits (07777), ok false without one.
func (s *CopySpec) unixMode() (uint32, bool) {
	if s.Chmod == nil {
		return 0, false
	}
	m := *s.Chmod
	u := uint32(m & 0o7777)
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u, true
}

// chmodder applies a spec's Chmod or ChmodSymbolic.
type chmodder struct {
	octal    uint32
	hasOctal bool
	sym      symbolicMode
	text     string // for the checksum: octal digits, the symbolic mode, or "-"
}

// chmod compiles spec's Chmod or ChmodSymbolic.
func (s *CopySpec) chmod() (chmodder, error) {
	if m, ok := s.unixMode(); ok {
		return chmodder{octal: m, hasOctal: true, text: strconv.FormatUint(uint64(m), 8)}, nil
	}
	if s.ChmodSymbolic == "" {
		return chmodder{text: "-"}, nil
	}
	sym, err := parseSymbolicMode(s.ChmodSymbolic)
	if err != nil {
		return chmodder{}, fmt.Errorf("--chmod: %w", err)
	}
	return chmodder{sym: sym, text: s.ChmodSymbolic}, nil
}

// apply is the mode (07777 bits) of a copied entry whose own mode is
// mode, a directory if dir.
func (c chmodder) apply(mode uint32, dir bool) uint32 {
	switch {
	case c.hasOctal:
		return c.octal
	case c.sym != nil:
		return c.sym.apply(mode, dir)
	}
	return mode
}

// dirMode is the mode of directories the copy makes.
func (c chmodder) dirMode() uint32 {
	if c.hasOctal {
		return c.octal
	}
	return 0o755
}

// Lower is the destination image's file system as the layers below the
// one being written show it. Paths are absolute and clean, and have no
// symlink before their last component; a missing path is an error
// wrapping fs.ErrNotExist. A nil Lower is an empty file system (FROM
// scratch).
type Lower interface {
	// Lstat describes path without following a final symlink. The
	// FileInfo's Sys() must be a *syscall.Stat_t (as os.Lstat gives) for
	// directories, whose owner the layer repeats.
	Lstat(path string) (fs.FileInfo, error)
	// Readlink returns the target of the symlink path.
	Readlink(path string) (string, error)
}

// DirLower is a Lower over a host directory holding the image's file
// system (a read-only overlay mount of its layers, say).
func DirLower(dir string) Lower { return dirLower(dir) }

type dirLower string

func (d dirLower) Lstat(p string) (fs.FileInfo, error) { return os.Lstat(string(d) + p) }
func (d dirLower) Readlink(p string) (string, error)   { return os.Readlink(string(d) + p) }

// lowerFS adapts a Lower to statFS.
type lowerFS struct{ l Lower }

func (f lowerFS) lstat(p string) (fs.FileInfo, error) {
	if f.l == nil {
		if p == "" {
			return rootInfo{}, nil
		}
		return nil, &fs.PathError{Op: "lstat", Path: "/" + p, Err: fs.ErrNotExist}
	}
	return f.l.Lstat("/" + p)
}

func (f lowerFS) readlink(p string) (string, error) {
	if f.l == nil {
		return "", &fs.PathError{Op: "readlink", Path: "/" + p, Err: fs.ErrNotExist}
	}
	return f.l.Readlink("/" + p)
}

// rootInfo is the root directory of an empty file system.
type rootInfo struct{}

func (rootInfo) Name() string       { return "/" }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (rootInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }
