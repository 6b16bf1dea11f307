package container

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hull-project/hull/snapshot"
	"golang.org/x/sys/unix"
)

// RootFS is a container's root file system opened for copying files in
// and out (cp) or exporting it. Every path inside it is resolved with the
// root as "/": no symlink, absolute or relative, and no ".." leads out.
type RootFS struct {
	fd int // O_PATH descriptor of the root directory
	// Running says the container runs: with proc set, the root is its own
	// view (/proc/<pid>/root, with its volumes and tmpfs mounts);
	// otherwise it is its root file system as hull mounts it, without
	// volumes.
	Running bool
	release func()
}

// Close releases the root: a root file system mounted for the occasion is
// unmounted and the container's lock released.
func (r *RootFS) Close() error {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return nil
}

// OpenRootFS opens the root file system of the container id. A running
// container's is opened as it is: with proc, through /proc/<pid>/root,
// which is the container's own view (its volumes, tmpfs and bind mounts
// included); otherwise through its root file system mount. For a
// container that does not run, the root file system is mounted (with
// snaps) and stays mounted, under the container's lock, until Close.
func (s *Store) OpenRootFS(snaps *snapshot.Store, id string, proc bool) (*RootFS, error) {
	rec, err := s.Get(id) // finds out the truth about a lost monitor
	if err != nil {
		return nil, err
	}
	l, err := s.Lock(rec.ID)
	if err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			l.Unlock()
		}
	}()
	if rec, err = s.Read(rec.ID); err != nil {
		return nil, err
	}
	target := s.Rootfs(rec.ID)
	if rec.State.Status.Alive() {
		// The monitor records the exit under this lock before it
		// unmounts, so the root file system is mounted now; the
		// descriptor keeps it reachable if the container stops later.
		fd, err := s.openRunningRoot(rec, target, proc)
		if err != nil {
			return nil, err
		}
		return &RootFS{fd: fd, Running: true}, nil
	}
	if err := s.MountRootfs(snaps, rec); err != nil {
		return nil, err
	}
	fd, err := openRetry(unix.AT_FDCWD, target, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		_ = UnmountRootfs(target)
		return nil, fmt.Errorf("open root file system of %s: %w", rec.ShortID(), err)
	}
	locked = false
	return &RootFS{fd: fd, release: func() {
		defer l.Unlock()
		if r, err := s.Read(rec.ID); err == nil && r.State.Status.Alive() {
			return
		}
		_ = UnmountRootfs(target)
	}}, nil
}

// openRunningRoot opens the root of a running container.
func (s *Store) openRunningRoot(rec *Record, target string, proc bool) (int, error) {
	fd, err := openRetry(unix.AT_FDCWD, target, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return -1, fmt.Errorf("open root file system of %s: %w", rec.ShortID(), err)
	}
	var rootSt unix.Stat_t
	if err := unix.Fstat(fd, &rootSt); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if mounted, err := IsMounted(target); err != nil || !mounted {
		unix.Close(fd)
		return -1, fmt.Errorf("container %s is not running", rec.ShortID())
	}
	if !proc || rec.State.Pid <= 0 {
		return fd, nil
	}
	unix.Close(fd)
	pfd, err := openRetry(unix.AT_FDCWD, "/proc/"+strconv.Itoa(rec.State.Pid)+"/root", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, fmt.Errorf("container %s is not running: %w", rec.ShortID(), err)
	}
	// The pid is the container's only if its root is the container's
	// root file system.
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil || st.Dev != rootSt.Dev || st.Ino != rootSt.Ino {
		unix.Close(pfd)
		return -1, fmt.Errorf("container %s is not running", rec.ShortID())
	}
	return pfd, nil
}

// PathStat describes a path in a container, as Docker's stat API does.
type PathStat struct {
	Name  string
	Size  int64
	Mode  os.FileMode
	Mtime time.Time
	// LinkTarget is, for a symlink, the path it leads to inside the
	// container with every symlink resolved.
	LinkTarget string
}

// PathNotFoundError is returned for a container path that does not exist.
type PathNotFoundError struct{ Path string }

func (e *PathNotFoundError) Error() string { return "Could not find the file " + e.Path }

// ErrExtractPointNotDirectory is returned when the directory files are to
// be extracted to is something else (Docker's message).
var ErrExtractPointNotDirectory = errors.New("extraction point is not a directory")

// Errors of Docker's copy rules, with its messages.
var (
	ErrNotDirectory  = errors.New("not a directory")
	ErrDirNotExists  = errors.New("no such directory")
	ErrCannotCopyDir = errors.New("cannot copy directory")
)

// node opens what the container path p names, resolved as Docker does: its
// directory part with every symlink followed (inside the root), its last
// component not followed, unless p ends with "/" or "/.". It returns an
// O_PATH descriptor, its stat and the name the path has in an archive.
func (r *RootFS) node(p string) (int, unix.Stat_t, string, error) {
	var st unix.Stat_t
	abs := PreserveTrailingDotOrSeparator(path.Join("/", p), p)
	dir, base := path.Split(abs)
	name := path.Base(abs)
	if name == "/" {
		name = "."
	}
	dfd, err := openInRoot(r.fd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, st, "", r.pathError(p, err)
	}
	if base == "" || base == "." {
		if err := unix.Fstat(dfd, &st); err != nil {
			unix.Close(dfd)
			return -1, st, "", err
		}
		return dfd, st, name, nil
	}
	defer unix.Close(dfd)
	fd, st, err := openNode(dfd, base)
	if err != nil {
		return -1, st, "", r.pathError(p, err)
	}
	return fd, st, name, nil
}

func (r *RootFS) pathError(p string, err error) error {
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return &PathNotFoundError{Path: p}
	}
	return fmt.Errorf("%s: %w", p, err)
}

// Stat describes the container path p (see node for how it is resolved).
func (r *RootFS) Stat(p string) (PathStat, error) {
	fd, st, _, err := r.node(p)
	if err != nil {
		return PathStat{}, err
	}
	defer unix.Close(fd)
	ps := PathStat{
		Name:  path.Base(path.Clean("/" + p)),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if ps.LinkTarget, err = r.canonical(p); err != nil {
			return PathStat{}, err
		}
	}
	return ps, nil
}

// fileMode converts a stat mode to an fs.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// canonical returns the absolute path p leads to inside the container,
// with every symlink (the last component's too) resolved inside the root;
// components from the first missing one on are kept as they are.
func (r *RootFS) canonical(p string) (string, error) {
	var resolved []string
	rest := strings.Split(p, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		cand := "/" + strings.Join(append(resolved, c), "/")
		fd, err := openInRoot(r.fd, cand, unix.O_PATH|unix.O_NOFOLLOW)
		if err == unix.ENOENT || err == unix.ENOTDIR {
			resolved = append(resolved, c)
			return path.Clean("/" + strings.Join(append(resolved, rest...), "/")), nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		target := ""
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err = readlinkFd(fd)
		}
		unix.Close(fd)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			resolved = append(resolved, c)
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("%s: %w", p, unix.ELOOP)
		}
		if strings.HasPrefix(target, "/") {
			resolved = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return "/" + strings.Join(resolved, "/"), nil
}

// Archive writes a tar archive of the container path p to w, its top
// entry named name (see node for how p is resolved). It returns the stat
// of what was archived.
func (r *RootFS) Archive(w io.Writer, p, name string) error {
	fd, st, _, err := r.node(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a := newArchiver(w)
	if err := a.addNode(fd, &st, name); err != nil {
		return err
	}
	return a.close()
}

// ArchiveName is the name the top entry of an archive of the container
// path p has: its base name, "." for "dir/." and the root.
func ArchiveName(p string) string {
	abs := PreserveTrailingDotOrSeparator(path.Join("/", p), p)
	if name := path.Base(abs); name != "/" {
		return name
	}
	return "."
}

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// KeepOwner keeps the owners recorded in the archive (cp -a);
	// otherwise every file belongs to root, as Docker documents.
	KeepOwner bool
}

// Extract unpacks the tar stream tr into the container directory dir,
// which must exist (dir itself is resolved with symlinks followed inside
// the root). The extraction never leaves dir: entry names are confined to
// it and no symlink is followed (snapshot.Extract). Like Docker, an entry
// may not replace a directory with a non-directory or the reverse.
func (r *RootFS) Extract(dir string, tr io.Reader, opts ExtractOptions) error {
	dfd, err := openInRoot(r.fd, dir, unix.O_PATH)
	if err != nil {
		return r.pathError(dir, err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return ErrExtractPointNotDirectory
	}
	var owner *[2]int
	if !opts.KeepOwner {
		owner = &[2]int{0, 0}
	}
	return extractAt(dfd, path.Join("/", dir), tr, owner, false)
}

// extractAt unpacks tr into the directory open as dfd (named display in
// errors) through snapshot.Extract, giving every entry the owner owner
// unless nil and, with noChown, leaving ownership to the extracting user.
func extractAt(dfd int, display string, tr io.Reader, owner *[2]int, noChown bool) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := filterTar(tr, pw, dfd, display, owner)
		pw.CloseWithError(err)
		done <- err
	}()
	dst := "/proc/self/fd/" + strconv.Itoa(dfd)
	_, err := snapshot.Extract(dst, pr, snapshot.ExtractOptions{NoLchown: noChown, Whiteouts: snapshot.WhiteoutKeep})
	pr.CloseWithError(io.ErrClosedPipe) // unblock the filter if extraction stopped early
	ferr := <-done
	if ferr != nil && !errors.Is(ferr, io.ErrClosedPipe) {
		return ferr
	}
	return err
}

// filterTar copies the tar stream r to w, setting owners and refusing, as
// Docker's NoOverwriteDirNonDir, entries that would replace a directory
// of dfd with a non-directory or the reverse. (The check is for Docker's
// semantics; safety is snapshot.Extract's.)
func filterTar(r io.Reader, w io.Writer, dfd int, display string, owner *[2]int) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			err = nil // the extractor refuses what leaves the root
		}
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if owner != nil {
			hdr.Uid, hdr.Gid = owner[0], owner[1]
			hdr.Uname, hdr.Gname = "", ""
		}
		if err := checkOverwrite(dfd, display, hdr); err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// checkOverwrite refuses an entry that would replace a directory with a
// non-directory or the reverse.
func checkOverwrite(dfd int, display string, hdr *tar.Header) error {
	rel := cleanRel(hdr.Name)
	if rel == "" || strings.HasPrefix(rel, "../") || rel == ".." {
		return nil
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(dfd, rel, &how)
	if err != nil {
		return nil // missing, or refused by the extractor anyway
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return nil
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	full := path.Join(display, rel)
	switch {
	case isDir && hdr.Typeflag != tar.TypeDir:
		return fmt.Errorf("cannot overwrite directory %q with non-directory %q", full, display)
	case !isDir && hdr.Typeflag == tar.TypeDir:
		return fmt.Errorf("cannot overwrite non-directory %q with directory %q", full, display)
	}
	return nil
}

// CopyInfo is what Docker's copy rules know about one side of a copy.
type CopyInfo struct {
	Path   string
	Exists bool
	IsDir  bool
	// RebaseName is the name the source's top entry takes instead of
	// its own (a followed symlink keeps the link's name).
	RebaseName string
}

// PrepareCopy decides with Docker's rules (archive.PrepareArchiveCopy)
// where a copy of src lands given dst: the directory the archive is
// extracted into, and the name its top entry gets there.
//
//   - dst is a directory: src goes into it under its own name ("dir/."
//     copies the contents);
//   - dst is a file: a directory source is an error, a file replaces it;
//   - dst does not exist: src is created as dst (a file source with a
//     dst that ends in "/" is an error: the directory must exist).
func PrepareCopy(src, dst CopyInfo) (dstDir, name string, err error) {
	dstDir, dstBase := splitPathDirEntry(dst.Path)
	_, srcBase := splitPathDirEntry(src.Path)
	if src.RebaseName != "" {
		srcBase = src.RebaseName
	}
	if srcBase == "/" {
		srcBase = "."
	}
	switch {
	case dst.Exists && dst.IsDir:
		return dst.Path, srcBase, nil
	case dst.Exists && src.IsDir:
		return "", "", ErrCannotCopyDir
	case dst.Exists:
		return dstDir, dstBase, nil
	case src.IsDir:
		return dstDir, dstBase, nil
	case assertsDirectory(dst.Path):
		return "", "", ErrDirNotExists
	}
	return dstDir, dstBase, nil
}

// RebaseName returns, for a path p whose symlink was resolved to resolved,
// the resolved path with p's trailing "/" or "/." and the name the copy
// keeps (p's base name) if it differs (Docker's archive.GetRebaseName).
func RebaseName(p, resolved string) (string, string) {
	if specifiesCurrentDir(p) && !specifiesCurrentDir(resolved) {
		resolved += "/."
	}
	if hasTrailingSep(p) && !hasTrailingSep(resolved) {
		resolved += "/"
	}
	if path.Base(p) != path.Base(resolved) {
		return resolved, path.Base(p)
	}
	return resolved, ""
}

// HostSourceInfo describes a host path to copy from (Docker's
// archive.CopyInfoSourcePath): symlinks in its directory part are
// resolved; with followLink its last component too.
func HostSourceInfo(p string, followLink bool) (CopyInfo, error) {
	var resolved, rebase string
	if followLink {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return CopyInfo{}, err
		}
		resolved, rebase = RebaseName(p, r)
	} else {
		dir, base := filepath.Split(p)
		rd, err := filepath.EvalSymlinks(dir)
		if dir == "" {
			rd, err = ".", nil
		}
		if err != nil {
			return CopyInfo{}, err
		}
		resolved = rd + "/" + base
		if hasTrailingSep(p) && filepath.Base(p) != filepath.Base(resolved) {
			rebase = filepath.Base(p)
		}
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return CopyInfo{}, err
	}
	return CopyInfo{Path: resolved, Exists: true, IsDir: fi.IsDir(), RebaseName: rebase}, nil
}

// HostDestInfo describes a host path to copy to (Docker's
// archive.CopyInfoDestinationPath): symlinks are followed; if it does not
// exist its parent directory must.
func HostDestInfo(p string) (CopyInfo, error) {
	orig := p
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&fs.ModeSymlink != 0; n++ {
		if n > 10 {
			return CopyInfo{}, fmt.Errorf("too many symlinks in %s", orig)
		}
		target, lerr := os.Readlink(p)
		if lerr != nil {
			return CopyInfo{}, lerr
		}
		if !filepath.IsAbs(target) {
			dir, _ := splitPathDirEntry(p)
			target = filepath.Join(dir, target)
		}
		p = PreserveTrailingDotOrSeparator(target, orig)
		fi, err = os.Lstat(p)
	}
	if err == nil {
		return CopyInfo{Path: p, Exists: true, IsDir: fi.IsDir()}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return CopyInfo{}, err
	}
	parent := filepath.Dir(p)
	pfi, err := os.Stat(parent)
	if err != nil {
		return CopyInfo{}, err
	}
	if !pfi.IsDir() {
		return CopyInfo{}, ErrNotDirectory
	}
	return CopyInfo{Path: p}, nil
}

// ArchiveHost writes a tar archive of the host path src.Path (its last
// component not followed) to w, its top entry named name.
func ArchiveHost(w io.Writer, src CopyInfo, name string) error {
	dir, base := splitPathDirEntry(src.Path)
	dfd, err := openRetry(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	fd := dfd
	var st unix.Stat_t
	if base == "." {
		err = unix.Fstat(dfd, &st)
	} else {
		fd, st, err = openNode(dfd, base)
		if err == nil {
			defer unix.Close(fd)
		}
	}
	if err != nil {
		return &fs.PathError{Op: "lstat", Path: src.Path, Err: err}
	}
	a := newArchiver(w)
	if err := a.addNode(fd, &st, name); err != nil {
		return err
	}
	return a.close()
}

// ExtractHost unpacks the tar stream tr into the host directory dir, as
// `docker cp` does: files belong to the user running the command.
func ExtractHost(dir string, tr io.Reader) error {
	dfd, err := openRetry(unix.AT_FDCWD, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	return extractAt(dfd, dir, tr, nil, true)
}

// Docker's path helpers (pkg/archive), for "/"-separated paths.

func hasTrailingSep(p string) bool { return strings.HasSuffix(p, "/") }

func specifiesCurrentDir(p string) bool { return path.Base(p) == "." }

func assertsDirectory(p string) bool { return hasTrailingSep(p) || specifiesCurrentDir(p) }

// splitPathDirEntry splits p into its directory and last entry, "." for a
// path that ends with "/.".
func splitPathDirEntry(p string) (dir, base string) {
	cleaned := path.Clean(p)
	if specifiesCurrentDir(p) {
		cleaned += "/."
	}
	return path.Dir(cleaned), path.Base(cleaned)
}

// PreserveTrailingDotOrSeparator gives the cleaned path back original's
// trailing "/." or "/" (Docker's rule for paths given to cp).
func PreserveTrailingDotOrSeparator(cleaned, original string) string {
	if !specifiesCurrentDir(cleaned) && specifiesCurrentDir(original) {
		if !hasTrailingSep(cleaned) {
			cleaned += "/"
		}
		cleaned += "."
	}
	if !hasTrailingSep(cleaned) && hasTrailingSep(original) {
		cleaned += "/"
	}
	return cleaned
}
