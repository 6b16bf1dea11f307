package container

import (
	"archive/tar"
	"fmt"
	digest "github.com/opencontainers/go-digest"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hull-project/hull/snapshot"
	"golang.org/x/sys/unix"
)

// ChangeKind is the kind of a change of a container's file system, with
// Docker's numbering (the JSON form of the changes API).
type ChangeKind uint8

// The kinds of changes.
const (
	// Modified: the path exists in the image and was changed.
	Modified ChangeKind = 0
	// Added: the path does not exist in the image.
	Added ChangeKind = 1
	// Deleted: the path exists in the image and was removed.
	Deleted ChangeKind = 2
)

// String is the letter `docker diff` prints: C, A or D.
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "A"
	case Deleted:
		return "D"
	}
	return "C"
}

// Change is one changed path (absolute, inside the container).
type Change struct {
	Path string
	Kind ChangeKind
}

// initPaths are what hull creates in the writable layer as mount points
// for every run (the files of its /etc bind mounts, the API file systems
// of images that lack them). Docker keeps these in a separate "init"
// layer, so they show up neither in `docker diff` nor in commits; hull
// leaves them out when they are new and empty.
var initPaths = map[string]bool{
	"etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true,
	"proc": true, "sys": true, "dev": true,
}

// keepKind says how an entry of the writable layer goes into a layer tar.
type keepKind uint8

const (
	keepEntry    keepKind = iota + 1 // as it is
	keepOpaque                       // a directory, followed by its opaque marker
	keepWhiteout                     // an overlayfs whiteout, as an OCI ".wh." file
)

// layerDiff is the analysis of a writable layer against its image.
type layerDiff struct {
	lower   *lowerView
	changes []Change
	keep    map[string]keepKind // relative paths that belong in a layer
}

// Changes lists the changes of the container's writable layer against its
// image, as `docker diff` shows them: sorted by path, a changed path's
// parent directories shown as changed, overlayfs whiteouts as deletions
// and, for an opaque directory (removed and made again), every entry of
// the image's directory that is not there any more as deleted. It reads
// the writable layer directly, so it works whether the container runs or
// not.
func (s *Store) Changes(snaps *snapshot.Store, r *Record) ([]Change, error) {
	d, err := s.diffLayer(snaps, r)
	if err != nil {
		return nil, err
	}
	return d.changes, nil
}

// diffLayer analyses the container's writable layer.
func (s *Store) diffLayer(snaps *snapshot.Store, r *Record) (*layerDiff, error) {
	d, err := diffUpper(snaps, r.Layers, r.Image, filepath.Join(s.Dir(r.ID), upperDir))
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", r.ShortID(), err)
	}
	return d, nil
}

// diffUpper analyses the overlay upper directory upperPath against the
// layers (diffIDs, bottom first) of image below it.
func diffUpper(snaps *snapshot.Store, layers []digest.Digest, image, upperPath string) (*layerDiff, error) {
	lower, err := openLowerView(snaps, layers, image)
	if err != nil {
		return nil, err
	}
	defer lower.close()
	upper, err := openRetry(unix.AT_FDCWD, upperPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("open writable layer: %w", err)
	}
	defer unix.Close(upper)
	d := &layerDiff{lower: lower, keep: map[string]keepKind{}}
	if _, _, err := d.walk(upper, ""); err != nil {
		return nil, err
	}
	slices.SortFunc(d.changes, func(a, b Change) int { return comparePaths(a.Path, b.Path) })
	return d, nil
}

// WriteUpperLayer writes what an overlay upper directory changes over
// layers (diffIDs, bottom first) as an OCI layer tar, as commit does for
// a container (a build's RUN step uses it). It returns the number of
// entries: 0 means no change.
func WriteUpperLayer(snaps *snapshot.Store, layers []digest.Digest, upperPath string, w io.Writer) (int, error) {
	d, err := diffUpper(snaps, layers, "being built", upperPath)
	if err != nil {
		return 0, err
	}
	if len(d.keep) == 0 {
		return 0, nil
	}
	// The lower view was closed with diffUpper; writing needs only the
	// upper directory and the analysis.
	upper, err := openRetry(unix.AT_FDCWD, upperPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return 0, fmt.Errorf("open writable layer: %w", err)
	}
	defer unix.Close(upper)
	return d.writeLayer(upper, w)
}

// comparePaths orders paths component by component ("/a/b" before
// "/a-b"), the order of a sorted tree walk.
func comparePaths(a, b string) int {
	for {
		ca, ra, _ := strings.Cut(strings.TrimPrefix(a, "/"), "/")
		cb, rb, _ := strings.Cut(strings.TrimPrefix(b, "/"), "/")
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		if ra == "" || rb == "" {
			return strings.Compare(ra, rb)
		}
		a, b = ra, rb
	}
}

func (d *layerDiff) add(rel string, k ChangeKind, keep keepKind) {
	d.changes = append(d.changes, Change{Path: "/" + rel, Kind: k})
	d.keep[rel] = keep
}

// walk analyses the upper directory dirfd (relative path rel) and reports
// whether anything in it changed, and whether it holds init mount points
// that were left out.
func (d *layerDiff) walk(dirfd int, rel string) (changed, skipped bool, err error) {
	names, err := readNames(dirfd)
	if err != nil {
		return false, false, fmt.Errorf("read %s: %w", "/"+rel, err)
	}
	for _, name := range names {
		p := joinName(rel, name)
		c, s, err := d.entry(dirfd, name, p)
		if err != nil {
			return false, false, err
		}
		changed = changed || c
		skipped = skipped || s
	}
	return changed, skipped, nil
}

// entry analyses one entry of the upper directory.
func (d *layerDiff) entry(dirfd int, name, p string) (changed, skipped bool, err error) {
	fd, st, err := openNode(dirfd, name)
	if err == unix.ENOENT {
		return false, false, nil // removed meanwhile (the container runs)
	}
	if err != nil {
		return false, false, fmt.Errorf("open %s: %w", "/"+p, err)
	}
	defer unix.Close(fd)
	if isWhiteout(&st) {
		d.add(p, Deleted, keepWhiteout)
		return true, false, nil
	}
	lst, inLower, err := d.lower.lookup(p)
	if err != nil {
		return false, false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if !inLower && initPaths[p] && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 {
			return false, true, nil
		}
		if inLower {
			d.add(p, Modified, keepEntry)
		} else {
			d.add(p, Added, keepEntry)
		}
		return true, false, nil
	}

	dfd, err := openDirOf(fd)
	if err != nil {
		return false, false, fmt.Errorf("open %s: %w", "/"+p, err)
	}
	defer unix.Close(dfd)
	opaque := isOpaque(dfd)
	at := len(d.changes)
	sub, subSkipped, err := d.walk(dfd, p)
	if err != nil {
		return false, false, err
	}
	// The directory's own change goes before its children's.
	var own *Change
	keep := keepEntry
	switch {
	case !inLower || lst.Mode&unix.S_IFMT != unix.S_IFDIR:
		if !inLower && !sub && (initPaths[p] || subSkipped) {
			return false, true, nil // made only for init mount points
		}
		own = &Change{Path: "/" + p, Kind: Added}
		if inLower {
			own.Kind = Modified
		}
	case opaque:
		own = &Change{Path: "/" + p, Kind: Modified}
		keep = keepOpaque
		gone, err := d.lower.list(p)
		if err != nil {
			return false, false, err
		}
		present, err := readNames(dfd)
		if err != nil {
			return false, false, err
		}
		for _, n := range gone {
			if _, ok := slices.BinarySearch(present, n); !ok {
				d.changes = append(d.changes, Change{Path: "/" + joinName(p, n), Kind: Deleted})
			}
		}
	case sub || metaChanged(&st, &lst, subSkipped):
		own = &Change{Path: "/" + p, Kind: Modified}
	default:
		return false, subSkipped, nil
	}
	d.changes = slices.Insert(d.changes, at, *own)
	d.keep[p] = keep
	return true, false, nil
}

// metaChanged reports whether a directory's own metadata differs from the
// image's. Its mtime is not compared when init mount points were made in
// it (that changed it, as Docker's init layer would have).
func metaChanged(upper, lower *unix.Stat_t, initChildren bool) bool {
	if upper.Mode != lower.Mode || upper.Uid != lower.Uid || upper.Gid != lower.Gid {
		return true
	}
	return !initChildren && (upper.Mtim.Sec != lower.Mtim.Sec || upper.Mtim.Nsec != lower.Mtim.Nsec)
}

// lowerView answers questions about the image's file system (its
// snapshots stacked as overlayfs would) without mounting it.
type lowerView struct {
	layers []int // O_PATH descriptors of the snapshot roots, topmost first
}

func openLowerView(snaps *snapshot.Store, layers []digest.Digest, image string) (*lowerView, error) {
	v := &lowerView{}
	for i := len(layers) - 1; i >= 0; i-- {
		if !snaps.Has(layers[i]) {
			v.close()
			return nil, fmt.Errorf("layer %s of image %s is missing", layers[i], image)
		}
		fd, err := openRetry(unix.AT_FDCWD, snaps.Path(layers[i]), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("open layer %s: %w", layers[i], err)
		}
		v.layers = append(v.layers, fd)
	}
	return v, nil
}

func (v *lowerView) close() {
	for _, fd := range v.layers {
		unix.Close(fd)
	}
	v.layers = nil
}

// Results of looking a path up in one layer.
const (
	lowerAbsent  = iota // not in this layer; look below
	lowerFound          // here
	lowerDeleted        // whited out here (or under a non-directory): gone
	lowerHidden         // not here, and an opaque directory on the way hides the layers below
)

// find looks the relative path p up in the layer open as fd. Snapshots
// never change, and every component is checked to be a directory before
// the next is looked up, so no symlink is ever followed.
func findInLayer(fd int, p string) (unix.Stat_t, int, error) {
	var st unix.Stat_t
	opaque := false
	for i := 0; ; {
		j := strings.IndexByte(p[i:], '/')
		last := j < 0
		prefix := p
		if !last {
			prefix = p[:i+j]
		}
		err := unix.Fstatat(fd, prefix, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT {
			if opaque {
				return st, lowerHidden, nil
			}
			return st, lowerAbsent, nil
		}
		if err != nil {
			return st, 0, fmt.Errorf("look up %s in the image: %w", "/"+p, err)
		}
		if isWhiteout(&st) {
			return st, lowerDeleted, nil
		}
		if last {
			return st, lowerFound, nil
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return st, lowerDeleted, nil
		}
		if dirOpaque(fd, prefix) {
			opaque = true
		}
		i += j + 1
	}
}

// dirOpaque reports whether the directory p (verified to be one) of the
// layer open as fd is opaque.
func dirOpaque(fd int, p string) bool {
	dfd, err := openRetry(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return false
	}
	defer unix.Close(dfd)
	return isOpaque(dfd)
}

// lookup finds the relative path p in the image.
func (v *lowerView) lookup(p string) (unix.Stat_t, bool, error) {
	for _, fd := range v.layers {
		st, res, err := findInLayer(fd, p)
		if err != nil {
			return st, false, err
		}
		switch res {
		case lowerFound:
			return st, true, nil
		case lowerDeleted, lowerHidden:
			return st, false, nil
		}
	}
	return unix.Stat_t{}, false, nil
}

// list returns the sorted names in the image's directory p.
func (v *lowerView) list(p string) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, fd := range v.layers {
		st, res, err := findInLayer(fd, p)
		if err != nil {
			return nil, err
		}
		if res == lowerDeleted || res == lowerHidden {
			break
		}
		if res == lowerAbsent {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			break
		}
		dfd, err := openRetry(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			return nil, fmt.Errorf("read %s in the image: %w", "/"+p, err)
		}
		entries, err := readNames(dfd)
		opaque := isOpaque(dfd)
		if err == nil {
			for _, n := range entries {
				if seen[n] {
					continue
				}
				seen[n] = true
				var est unix.Stat_t
				if unix.Fstatat(dfd, n, &est, unix.AT_SYMLINK_NOFOLLOW) == nil && isWhiteout(&est) {
					continue // hides the name below, and is no entry itself
				}
				names = append(names, n)
			}
		}
		unix.Close(dfd)
		if err != nil {
			return nil, fmt.Errorf("read %s in the image: %w", "/"+p, err)
		}
		if opaque {
			break
		}
	}
	slices.Sort(names)
	return names, nil
}

// writeLayer writes the analysed writable layer upper (open for reading)
// as an OCI layer tar: the kept entries, overlayfs whiteouts as ".wh."
// files and opaque directories followed by ".wh..wh..opq", sorted, as
// Docker's overlay2 driver does. It returns the number of entries.
func (d *layerDiff) writeLayer(upper int, w io.Writer) (int, error) {
	a := newArchiver(w)
	if err := d.writeDir(a, upper, ""); err != nil {
		return 0, err
	}
	if err := a.close(); err != nil {
		return 0, err
	}
	return a.entries, nil
}

func (d *layerDiff) writeDir(a *archiver, dirfd int, rel string) error {
	names, err := readNames(dirfd)
	if err != nil {
		return fmt.Errorf("read %s: %w", "/"+rel, err)
	}
	for _, name := range names {
		p := joinName(rel, name)
		k := d.keep[p]
		if k == 0 {
			continue
		}
		if err := d.writeEntry(a, dirfd, name, p, k); err != nil {
			return err
		}
	}
	return nil
}

func (d *layerDiff) writeEntry(a *archiver, dirfd int, name, p string, k keepKind) error {
	fd, st, err := openNode(dirfd, name)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", "/"+p, err)
	}
	defer unix.Close(fd)
	if isWhiteout(&st) {
		// Docker's form: an empty regular file with the whiteout's owner
		// and time.
		dir, base := filepath.Split(p)
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     dir + whiteoutPrefix + base,
			Mode:     0o600,
			Uid:      int(st.Uid),
			Gid:      int(st.Gid),
			ModTime:  time.Unix(st.Mtim.Sec, 0),
			Format:   tar.FormatPAX,
		}
		a.entries++
		return a.tw.WriteHeader(hdr)
	}
	hdr, err := a.add(fd, &st, p)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return err
	}
	dfd, err := openDirOf(fd)
	if err != nil {
		return fmt.Errorf("open %s: %w", "/"+p, err)
	}
	defer unix.Close(dfd)
	if k == keepOpaque || isOpaque(dfd) {
		wo := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     p + "/" + whiteoutOpaque,
			Mode:     hdr.Mode & 0o777,
			Uid:      hdr.Uid,
			Gid:      hdr.Gid,
			ModTime:  hdr.ModTime,
			Format:   tar.FormatPAX,
		}
		if err := a.tw.WriteHeader(wo); err != nil {
			return err
		}
		a.entries++
	}
	return d.writeDir(a, dfd, p)
}

// OCI whiteout names.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)
