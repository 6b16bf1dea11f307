package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// maxNameLen bounds entry names and link targets (PATH_MAX).
	maxNameLen = 4096
	// whiteoutPrefix marks an OCI/AUFS whiteout entry.
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes AUFS metadata entries, which are not files.
	whiteoutMeta = ".wh..wh."
	// whiteoutOpaque marks its directory as opaque.
	whiteoutOpaque = ".wh..wh..opq"
	// xattrPrefix prefixes PAX records holding extended attributes.
	xattrPrefix = "SCHILY.xattr."
	// sparsePrefix prefixes PAX records of GNU sparse files.
	sparsePrefix = "GNU.sparse."
)

// WhiteoutMode selects how whiteout entries are written.
type WhiteoutMode int

const (
	// WhiteoutOverlay converts OCI/AUFS whiteouts to the overlayfs format:
	// "dir/.wh.name" becomes a 0:0 character device "dir/name" and
	// "dir/.wh..wh..opq" sets trusted.overlay.opaque=y on "dir". Other
	// ".wh..wh.*" entries are dropped. This is the default.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutKeep extracts whiteout entries as the plain entries they are.
	WhiteoutKeep
)

// ExtractOptions tunes Extract. The zero value is what the store uses when
// running as root.
type ExtractOptions struct {
	// NoLchown leaves ownership alone (files belong to the extracting
	// user), for rootless use and tests.
	NoLchown bool
	// NoDevices skips character and block device entries (fifos and
	// whiteouts are still created), for environments that forbid mknod.
	NoDevices bool
	// Whiteouts selects the whiteout conversion; WhiteoutOverlay by default.
	Whiteouts WhiteoutMode
}

// Stats describes what Extract wrote.
type Stats struct {
	// Size is the sum of regular file sizes and symlink target lengths, a
	// du-like estimate of the layer's unpacked size.
	Size int64
	// Files counts the entries written: files, directories, links, devices,
	// fifos and whiteouts.
	Files int
}

// copyBufs holds the large buffers file contents are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Extract unpacks the uncompressed tar stream r into the directory dst
// (created if missing), which should be empty. It never creates, changes or
// links anything outside dst: entry names are confined to dst, symlinks are
// never followed and an entry whose parent is a symlink is refused.
// Extraction stops at the first bad entry; what was written so far stays.
// Extract reads r up to the end-of-archive marker, not necessarily to EOF.
//
// Entries keep their mode (setuid, setgid and sticky included), owner,
// times and SCHILY.xattr.* attributes; unsupported or forbidden attributes
// (ENOTSUP, EPERM) and SELinux labels are skipped and overlayfs' own
// trusted.overlay.* / user.overlay.* attributes are never taken from the
// archive. A later entry replaces an earlier one of the same name (a
// directory over a directory only updates its metadata). An entry for the
// root itself is ignored: dst keeps its own metadata. Sparse files are
// refused, since a few archive bytes could expand into any size.

func Extract(dst string, r io.Reader, opts ExtractOptions) (Stats, error) {
	return ExtractContext(context.Background(), dst, r, opts)
}

// ExtractContext is Extract that stops between entries once ctx is done.
func ExtractContext(ctx context.Context, dst string, r io.Reader, opts ExtractOptions) (Stats, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return Stats{}, fmt.Errorf("extract layer: %w", err)
	}
	root, err := openRetry(unix.AT_FDCWD, dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return Stats{}, fmt.Errorf("extract layer: open %s: %w", dst, err)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	e := &extractor{
		root: root, pfd: -1, opts: opts, buf: *bp,
		euid: os.Geteuid(), egid: os.Getegid(),
	}
	defer e.close()

	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return e.stats, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			err = nil // names are confined below
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return e.stats, fmt.Errorf("read layer tar: %w", err)
		}
		if err := e.entry(hdr, tr); err != nil {
			return e.stats, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	if err := e.finishDirs(); err != nil {
		return e.stats, err
	}
	return e.stats, nil
}

// extractor is the state of one Extract call.
type extractor struct {
	root  int // O_PATH descriptor of dst
	opts  ExtractOptions
	buf   []byte
	euid  int
	egid  int
	stats Stats

	// The parent directory of the current entry: consecutive entries mostly
	// share it. pfd is a verified real directory inside root.
	pdir  string
	pfd   int
	psgid int8 // parent setgid: 0 unknown, 1 no, 2 yes

	dirs []dirTimes // directory times, applied last
}

// dirTimes is a directory whose times are set after all entries.
type dirTimes struct {
	name  string
	times [2]unix.Timespec
}

func (e *extractor) close() {
	e.setParent("", -1)
	unix.Close(e.root)
}

// setParent replaces the cached parent directory descriptor.
func (e *extractor) setParent(dir string, fd int) {
	if e.pfd >= 0 {
		unix.Close(e.pfd)
	}
	e.pdir, e.pfd, e.psgid = dir, fd, 0
}

// parent returns a descriptor of the directory dir (relative to the root),
// creating missing directories if create is set.
func (e *extractor) parent(dir string, create bool) (int, error) {
	if e.pfd >= 0 && e.pdir == dir {
		return e.pfd, nil
	}
	fd, err := openDir(e.root, dir, create)
	if err != nil {
		return -1, err
	}
	e.setParent(dir, fd)
	return fd, nil
}

// forget drops the cached parent if it lies inside the removed path name.
func (e *extractor) forget(name string) {
	if e.pfd >= 0 && (e.pdir == name || strings.HasPrefix(e.pdir, name+"/")) {
		e.setParent("", -1)
	}
}

// entry writes one tar entry.
func (e *extractor) entry(hdr *tar.Header, content io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeCont, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeGNUSparse:
		return errors.New("sparse files are not supported")
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	name, err := cleanPath(hdr.Name)
	if err != nil {
		return err
	}
	if err := checkHeader(hdr); err != nil {
		return err
	}
	if name == "" {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the root belongs to the caller
		}
		return errors.New("entry would replace the layer root")
	}
	dir, base := splitPath(name)
	if e.opts.Whiteouts == WhiteoutOverlay && strings.HasPrefix(base, whiteoutPrefix) {
		return e.whiteout(dir, base, hdr)
	}
	if e.opts.NoDevices && (hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock) {
		return nil
	}
	pfd, err := e.parent(dir, true)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = e.dir(pfd, name, base, hdr)
	case tar.TypeSymlink:
		err = e.symlink(pfd, name, base, hdr)
	case tar.TypeLink:
		err = e.hardlink(pfd, name, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = e.node(pfd, name, base, hdr)
	default:
		err = e.file(pfd, name, base, hdr, content)
	}
	if err == nil {
		e.stats.Files++
	}
	return err
}

// checkHeader rejects header fields the kernel would misread.
func checkHeader(hdr *tar.Header) error {
	if hdr.Uid < 0 || int64(hdr.Uid) >= math.MaxUint32 || hdr.Gid < 0 || int64(hdr.Gid) >= math.MaxUint32 {
		return fmt.Errorf("invalid owner %d:%d", hdr.Uid, hdr.Gid)
	}
	if len(hdr.Linkname) > maxNameLen {
		return fmt.Errorf("link target longer than %d bytes", maxNameLen)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, sparsePrefix) {
			return errors.New("sparse files are not supported")
		}
	}
	return nil
}

// create runs mk, which makes base in pfd; if base exists it is removed
// first (a later entry replaces an earlier one) and mk runs again.
func (e *extractor) create(pfd int, name, base string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if err := e.replace(pfd, name, base); err != nil {
		return fmt.Errorf("replace existing entry: %w", err)
	}
	return mk()
}

// replace removes whatever is at base in pfd, without following symlinks.
func (e *extractor) replace(pfd int, name, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		e.forget(name)
		return removeAt(pfd, base)
	}
	return unix.Unlinkat(pfd, base, 0)
}

// needChown reports whether hdr's owner must be set on a node the
// extraction just created (fresh) or found (not fresh).
func (e *extractor) needChown(hdr *tar.Header, fresh bool) bool {
	if e.opts.NoLchown {
		return false
	}
	if !fresh || hdr.Uid != e.euid || hdr.Gid != e.egid {
		return true
	}
	// A new node takes the group of a setgid parent instead of egid.
	if e.psgid == 0 {
		var st unix.Stat_t
		e.psgid = 2
		if unix.Fstat(e.pfd, &st) == nil && st.Mode&unix.S_ISGID == 0 {
			e.psgid = 1
		}
	}
	return e.psgid == 2
}

// file writes a regular file.
func (e *extractor) file(pfd int, name, base string, hdr *tar.Header, r io.Reader) error {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd := -1
	err := e.create(pfd, name, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, flags, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	err = e.fileContent(fd, pfd, base, hdr, r)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close file: %w", cerr)
	}
	return err
}

func (e *extractor) fileContent(fd, pfd int, base string, hdr *tar.Header, r io.Reader) error {
	n, err := copyContent(fd, r, hdr.Size, e.buf)
	e.stats.Size += n
	if err != nil {
		return err
	}
	if e.needChown(hdr, true) {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// After chown, which clears setuid/setgid.
	if err := unix.Fchmod(fd, mode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := e.xattrs(hdr, func(n string, v []byte) error { return unix.Fsetxattr(fd, n, v, 0) }); err != nil {
		return err
	}
	return setTimes(pfd, base, hdr)
}

// dir makes a directory, or updates the metadata of an existing one.
func (e *extractor) dir(pfd int, name, base string, hdr *tar.Header) error {
	fresh := true
	err := unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				fresh = false
			} else if err = e.replace(pfd, name, base); err == nil {
				err = unix.Mkdirat(pfd, base, 0o700)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := openRetry(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	if err := e.dirMeta(fd, hdr, fresh); err != nil {
		unix.Close(fd)
		return err
	}
	e.dirs = append(e.dirs, dirTimes{name, times(hdr)})
	// The next entries most likely live in this directory.
	e.setParent(name, fd)
	return nil
}

func (e *extractor) dirMeta(fd int, hdr *tar.Header, fresh bool) error {
	if e.needChown(hdr, fresh) {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, mode(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return e.xattrs(hdr, func(n string, v []byte) error { return unix.Fsetxattr(fd, n, v, 0) })
}

// symlink makes a symlink; its target is data and is never followed.
func (e *extractor) symlink(pfd int, name, base string, hdr *tar.Header) error {
	err := e.create(pfd, name, base, func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) })
	if err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	e.stats.Size += int64(len(hdr.Linkname))
	return e.nodeMeta(pfd, base, hdr, false)
}

// hardlink links name to an earlier entry, which must be inside the root
// and reachable without symlinks. The link itself is not followed.
func (e *extractor) hardlink(pfd int, name, base string, hdr *tar.Header) error {
	target, err := cleanPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if target == "" || target == name {
		return fmt.Errorf("hard link target %q: invalid target", hdr.Linkname)
	}
	tdir, tbase := splitPath(target)
	tfd := pfd
	if tdir != e.pdir {
		if tfd, err = openDir(e.root, tdir, false); err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		defer unix.Close(tfd)
	}
	err = e.create(pfd, name, base, func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) })
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// node makes a device or fifo.
func (e *extractor) node(pfd int, name, base string, hdr *tar.Header) error {
	m := mode(hdr)
	var dev uint64
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > math.MaxUint32 || hdr.Devminor < 0 || hdr.Devminor > math.MaxUint32 {
			return fmt.Errorf("invalid device number %d:%d", hdr.Devmajor, hdr.Devminor)
		}
		dev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if hdr.Typeflag == tar.TypeChar {
			m |= unix.S_IFCHR
		} else {
			m |= unix.S_IFBLK
		}
	default:
		m |= unix.S_IFIFO
	}
	err := e.create(pfd, name, base, func() error { return unix.Mknodat(pfd, base, m, int(dev)) })
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return e.nodeMeta(pfd, base, hdr, true)
}

// nodeMeta sets owner, mode (unless a symlink), xattrs and times of a node
// that has no open descriptor.
func (e *extractor) nodeMeta(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if e.needChown(hdr, true) {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if chmod {
		if err := chmodAt(pfd, base, mode(hdr)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if len(hdr.PAXRecords) > 0 {
		p := procPath(pfd, base)
		if err := e.xattrs(hdr, func(n string, v []byte) error { return unix.Lsetxattr(p, n, v, 0) }); err != nil {
			return err
		}
	}
	return setTimes(pfd, base, hdr)
}

// whiteout converts an OCI/AUFS whiteout entry to the overlayfs format.
func (e *extractor) whiteout(dir, base string, hdr *tar.Header) error {
	if strings.HasPrefix(base, whiteoutMeta) {
		if base != whiteoutOpaque {
			return nil
		}
		pfd, err := e.parent(dir, true)
		if err != nil {
			return err
		}
		fd, err := openRetry(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			return fmt.Errorf("opaque whiteout: %w", err)
		}
		err = unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("opaque whiteout: set trusted.overlay.opaque: %w", err)
		}
		e.stats.Files++
		return nil
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	pfd, err := e.parent(dir, true)
	if err != nil {
		return err
	}
	name := target
	if dir != "" {
		name = dir + "/" + target
	}
	err = e.create(pfd, name, target, func() error { return unix.Mknodat(pfd, target, unix.S_IFCHR, 0) })
	if err != nil {
		return fmt.Errorf("whiteout: mknod: %w", err)
	}
	if e.needChown(hdr, true) {
		if err := unix.Fchownat(pfd, target, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("whiteout: chown: %w", err)
		}
	}
	e.stats.Files++
	return nil
}

// xattrs applies hdr's extended attributes with set.
func (e *extractor) xattrs(hdr *tar.Header, set func(name string, value []byte) error) error {
	if len(hdr.PAXRecords) == 0 {
		return nil
	}
	return setXattrs(hdr.PAXRecords, set)
}

// finishDirs sets directory times, deepest last-written first, now that
// nothing will be created in them any more.
func (e *extractor) finishDirs() error {
	done := make(map[string]bool, len(e.dirs))
	for i := len(e.dirs) - 1; i >= 0; i-- {
		d := &e.dirs[i]
		if done[d.name] {
			continue
		}
		done[d.name] = true
		dir, base := splitPath(d.name)
		pfd, err := e.parent(dir, false)
		if err != nil {
			continue // replaced by a later entry
		}
		var st unix.Stat_t
		if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if err := unix.UtimesNanoAt(pfd, base, d.times[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer entry %q: set times: %w", d.name, err)
		}
	}
	return nil
}
