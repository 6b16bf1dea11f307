package buildctx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// whiteoutPrefix starts the names a layer reserves for whiteouts.
const whiteoutPrefix = ".wh."

// errMultipleSources is Docker's error for several sources and a
// destination that is not written as a directory.
var errMultipleSources = errors.New("When using COPY with more than one source file, the destination must be a directory and end with a /") //lint:ignore ST1005 Docker's message

// WriteLayer writes the layer tar of spec onto lower (nil for an empty
// file system): uncompressed, entries sorted by path (a directory before
// its contents), PAX format, whole-second mtimes, no atime, ctime, user
// or group names. It returns the number of bytes written. Docker's (and
// BuildKit's) COPY rules apply:
//
//   - Dest is resolved in lower following its symlinks as if lower were the
//     root (so COPY into /bin/ of a merged-/usr image lands in /usr/bin).
//   - A directory source copies what it holds (not itself) into Dest. A
//     file source goes to Dest, or into Dest/<base name> when Dest ends in
//     "/" or is a directory in lower. Several sources need Dest to end in
//     "/" (Docker's error otherwise).
//   - A symlink named as a source is followed inside the context; symlinks
//     inside copied directories are copied as they are. Hard links within
//     what is copied stay hard links. Sockets are left out.
//   - Everything copied is owned by Chown (default 0:0) and gets Chmod's
//     mode if set. Directories of Dest's path that lower lacks are made,
//     mode 0755 (or Chmod), owned by Chown; the directory made for a
//     directory source's contents gets that directory's mtime.
//   - Directories of Dest's path that lower has are repeated in the layer
//     with exactly lower's metadata: overlayfs shows the topmost layer's
//     copy of a directory, so leaving them out would give them the
//     default metadata of a directory made while unpacking the layer.
//   - A copied directory over a non-directory of lower, or a copied file
//     over a directory of lower, is BuildKit's error.
//   - With Extract, each source that is a local tar archive is unpacked
//     into Dest (made 0755 if missing) safely (names cannot leave Dest,
//     nothing is written through a symlink of the archive), keeping the
//     archive's modes and owners (Chown overrides the owners, as BuildKit
//     does; Chmod does not apply); its entries replace what lower has.
//   - A name starting with ".wh." cannot be stored in a layer (it would
//     read as a whiteout) and is an error.
//   - With Time, no mtime is later than Time.
func (c *Context) WriteLayer(w io.Writer, spec CopySpec, lower Lower) (int64, error) {
	sels, err := c.selectSources(spec)
	if err != nil {
		return 0, err
	}
	if len(sels) > 1 && !spec.destIsDir() {
		return 0, errMultipleSources
	}
	root, err := c.openRoot()
	if err != nil {
		return 0, err
	}
	p, err := newPlan(&spec, lower)
	if err != nil {
		return 0, err
	}
	defer p.cleanup()
	dest, err := resolveIn(lowerFS{lower}, cleanRel(spec.Dest), true, true)
	if err != nil {
		return 0, fmt.Errorf("destination %s: %w", spec.Dest, err)
	}
	for _, s := range sels {
		if err := p.add(c, root, s, dest); err != nil {
			return 0, err
		}
	}
	cw := &countWriter{w: w}
	if err := p.write(cw); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// entry is one entry of the layer being planned.
type entry struct {
	hdr  tar.Header
	root *os.Root // where a regular file's content is
	n    *node    // the source node; nil for a made or repeated directory
}

// plan collects the entries of a layer.
type plan struct {
	spec     *CopySpec
	chmod    chmodder
	lower    Lower
	entries  map[string]*entry
	lowerMem map[string]fs.FileInfo // lower lookups; nil value: missing
	now      time.Time
	tmpDirs  []string
	roots    []*os.Root
}

func newPlan(spec *CopySpec, lower Lower) (*plan, error) {
	chmod, err := spec.chmod()
	if err != nil {
		return nil, err
	}
	return &plan{
		spec: spec, chmod: chmod, lower: lower,
		entries:  map[string]*entry{},
		lowerMem: map[string]fs.FileInfo{},
		now:      time.Now(),
	}, nil
}

// cleanup removes what unpacking archives left.
func (p *plan) cleanup() {
	for _, r := range p.roots {
		r.Close()
	}
	for _, d := range p.tmpDirs {
		_ = removeTree(d)
	}
}

// owner is the owner of copied entries.
func (p *plan) owner() (int, int) {
	if p.spec.Chown != nil {
		return p.spec.Chown.UID, p.spec.Chown.GID
	}
	return 0, 0
}

// mtime clamps t (to whole seconds) to the spec's Time.
func (p *plan) mtime(t time.Time) time.Time {
	t = t.Truncate(time.Second)
	if p.spec.Time != nil {
		if limit := p.spec.Time.Truncate(time.Second); t.After(limit) {
			return limit
		}
	}
	return t
}

// madeTime is the mtime of a directory the copy makes.
func (p *plan) madeTime() time.Time {
	if p.spec.Time != nil {
		return p.mtime(*p.spec.Time)
	}
	return p.mtime(p.now)
}

// lowerStat looks name (clean, relative, no symlink before its last
// component) up in lower; nil if missing.
func (p *plan) lowerStat(name string) (fs.FileInfo, error) {
	if name == "" {
		return rootInfo{}, nil
	}
	if fi, ok := p.lowerMem[name]; ok {
		return fi, nil
	}
	if dir, _ := splitName(name); dir != "" {
		// Nothing is below what is missing or not a directory.
		if pfi, err := p.lowerStat(dir); err != nil || pfi == nil || !pfi.IsDir() {
			return nil, err
		}
	}
	fi, err := lowerFS{p.lower}.lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		fi, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up /%s in the image: %w", name, err)
	}
	p.lowerMem[name] = fi
	return fi, nil
}

// kind reports whether name exists in the layer or, if the layer has no
// entry for it, in lower, and whether it is a directory there.
func (p *plan) kind(name string) (exists, isDir bool, err error) {
	if e, ok := p.entries[name]; ok {
		return true, e.hdr.Typeflag == tar.TypeDir, nil
	}
	fi, err := p.lowerStat(name)
	return fi != nil, fi != nil && fi.IsDir(), err
}

// add plans one source.
func (p *plan) add(c *Context, root *os.Root, s selection, dest string) error {
	switch {
	case s.root.st.Mode&unix.S_IFMT == unix.S_IFREG && p.spec.Extract:
		ok, err := isArchive(root, s.Target)
		if err != nil {
			return fmt.Errorf("ADD /%s: %w", s.Path, err)
		}
		if ok {
			return p.addArchive(c, root, s, dest)
		}
	case s.root.isDir():
		exists, isDir, err := p.kind(dest)
		if err != nil {
			return err
		}
		if exists && !isDir {
			return fmt.Errorf("cannot copy to non-directory: /%s", dest)
		}
		if err := p.makeDirs(dest, p.chmod.dirMode(), s.root.st.Mtim); err != nil {
			return err
		}
		return p.addNodes(root, dest, s.nodes, false)
	}
	target := dest
	_, isDir, err := p.kind(dest)
	if err != nil {
		return err
	}
	if p.spec.destIsDir() || isDir {
		target = joinRel(dest, path.Base("/"+s.Path))
	}
	dir, _ := splitName(target)
	if err := p.makeDirs(dir, p.chmod.dirMode(), unix.Timespec{}); err != nil {
		return err
	}
	n := s.root
	n.rel = ""
	return p.addNodes(root, target, []node{n}, false)
}

// makeDirs makes sure the layer has the directory dir and its parents:
// those lower has are repeated with lower's metadata, the others are made
// with mode, owned by the copy's owner. The directory dir itself, if
// made, gets the mtime last unless that is zero.
func (p *plan) makeDirs(dir string, mode uint32, last unix.Timespec) error {
	if dir == "" {
		return nil
	}
	comps := strings.Split(dir, "/")
	for i := range comps {
		name := strings.Join(comps[:i+1], "/")
		if err := checkName(name); err != nil {
			return err
		}
		if e, ok := p.entries[name]; ok {
			if e.hdr.Typeflag != tar.TypeDir {
				return fmt.Errorf("mkdir /%s: not a directory", name)
			}
			continue
		}
		fi, err := p.lowerStat(name)
		if err != nil {
			return err
		}
		if fi != nil {
			if !fi.IsDir() {
				return fmt.Errorf("mkdir /%s: not a directory", name)
			}
			hdr, err := lowerHeader(name, fi)
			if err != nil {
				return err
			}
			hdr.ModTime = p.mtime(hdr.ModTime)
			p.entries[name] = &entry{hdr: *hdr}
			continue
		}
		uid, gid := p.owner()
		mt := p.madeTime()
		if i == len(comps)-1 && (last.Sec != 0 || last.Nsec != 0) {
			mt = p.mtime(time.Unix(last.Sec, last.Nsec))
		}
		p.entries[name] = &entry{hdr: tar.Header{
			Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(mode),
			Uid: uid, Gid: gid, ModTime: mt, Format: tar.FormatPAX,
		}}
	}
	return nil
}

// lowerHeader is the header repeating lower's directory name.
func lowerHeader(name string, fi fs.FileInfo) (*tar.Header, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("look up /%s in the image: FileInfo.Sys() is %T, not *syscall.Stat_t", name, fi.Sys())
	}
	return &tar.Header{
		Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(st.Mode & 0o7777),
		Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0), Format: tar.FormatPAX,
	}, nil
}

// addNodes plans the nodes (of a tree in root) under base. Copied
// entries (archive false) may not turn a directory into a file or the
// other way round; unpacked ones (archive true) replace what is there.
func (p *plan) addNodes(root *os.Root, base string, nodes []node, archive bool) error {
	for i := range nodes {
		n := &nodes[i]
		name := joinRel(base, n.rel)
		if err := checkName(name); err != nil {
			return err
		}
		hdr := p.header(n, name, archive)
		if err := p.replace(name, hdr.Typeflag == tar.TypeDir, archive); err != nil {
			return err
		}
		p.entries[name] = &entry{hdr: *hdr, root: root, n: n}
	}
	return nil
}

// replace checks that an entry name (a directory if isDir) may replace
// what the layer or lower has there, and makes room for it.
func (p *plan) replace(name string, isDir, archive bool) error {
	var wasDir bool
	if old, ok := p.entries[name]; ok {
		wasDir = old.hdr.Typeflag == tar.TypeDir
		if archive && wasDir && !isDir {
			p.dropBelow(name)
		}
	} else {
		fi, err := p.lowerStat(name)
		if err != nil || fi == nil {
			return err
		}
		wasDir = fi.IsDir()
	}
	switch {
	case archive || isDir == wasDir:
		return nil
	case isDir:
		return fmt.Errorf("cannot copy to non-directory: /%s", name)
	default:
		return fmt.Errorf("cannot replace to directory /%s with file", name)
	}
}

// checkName refuses names a layer cannot hold: a base name starting with
// ".wh." would read as a whiteout.
func checkName(name string) error {
	if _, b := splitName(name); strings.HasPrefix(b, whiteoutPrefix) {
		return fmt.Errorf("copy to /%s: names starting with %q cannot be stored in a layer", name, whiteoutPrefix)
	}
	return nil
}

// dropBelow removes the entries under the directory name.
func (p *plan) dropBelow(name string) {
	for k := range p.entries {
		if strings.HasPrefix(k, name+"/") {
			delete(p.entries, k)
		}
	}
}

// header is the tar header of node n written as name.
func (p *plan) header(n *node, name string, archive bool) *tar.Header {
	st := &n.st
	hdr := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777),
		Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: p.mtime(time.Unix(st.Mtim.Sec, st.Mtim.Nsec)),
		Format:  tar.FormatPAX,
	}
	if !archive || p.spec.Chown != nil {
		hdr.Uid, hdr.Gid = p.owner()
	}
	if !archive {
		hdr.Mode = int64(p.chmod.apply(st.Mode&0o7777, st.Mode&unix.S_IFMT == unix.S_IFDIR))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = n.link
		hdr.Mode = 0o777
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	}
	return hdr
}

// addArchive plans the unpacking of the archive source s into dest.
func (p *plan) addArchive(c *Context, root *os.Root, s selection, dest string) error {
	tmp := c.TempDir
	dir, err := extractArchive(root, s.Target, tmp)
	if err != nil {
		return fmt.Errorf("ADD /%s: %w", s.Path, err)
	}
	p.tmpDirs = append(p.tmpDirs, dir)
	aroot, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("ADD /%s: %w", s.Path, err)
	}
	p.roots = append(p.roots, aroot)
	w := &walker{root: dir}
	nodes, err := w.children("", "", zeroInfo, zeroInfo)
	if err != nil {
		return fmt.Errorf("ADD /%s: %w", s.Path, err)
	}
	if err := p.makeDirs(dest, 0o755, unix.Timespec{}); err != nil {
		return err
	}
	return p.addNodes(aroot, dest, nodes, true)
}

// write writes the planned entries as a tar stream.
func (p *plan) write(w io.Writer) error {
	names := make([]string, 0, len(p.entries))
	for k := range p.entries {
		names = append(names, k)
	}
	slices.SortFunc(names, comparePaths)
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	buf := make([]byte, 256<<10)
	for _, name := range names {
		e := p.entries[name]
		hdr := e.hdr
		if n := e.n; n != nil && !n.isDir() && n.st.Nlink > 1 {
			k := [2]uint64{n.st.Dev, n.st.Ino}
			if first, ok := links[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.PAXRecords = tar.TypeLink, first, 0, nil
			} else {
				links[k] = strings.TrimSuffix(hdr.Name, "/")
			}
		}
		if err := writeEntry(tw, &hdr, e, buf); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return nil
}

// writeEntry writes one entry: the header and, for a regular file, its
// content and file capabilities, from the file that was listed.
func writeEntry(tw *tar.Writer, hdr *tar.Header, e *entry, buf []byte) error {
	if hdr.Typeflag != tar.TypeReg || e.n == nil {
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write layer entry %s: %w", hdr.Name, err)
		}
		return nil
	}
	f, err := openFile(e.root, e.n.tree)
	if err != nil {
		return fmt.Errorf("copy /%s: %w", e.n.tree, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("copy /%s: %w", e.n.tree, err)
	}
	if st.Ino != e.n.st.Ino || st.Dev != e.n.st.Dev || st.Size != hdr.Size {
		return fmt.Errorf("copy /%s: the file changed while the build read it", e.n.tree)
	}
	caps, err := capsOf(f)
	if err != nil {
		return fmt.Errorf("copy /%s: read attributes: %w", e.n.tree, err)
	}
	if caps != "" {
		hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": caps}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write layer entry %s: %w", hdr.Name, err)
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
	if err != nil {
		return fmt.Errorf("copy /%s: %w", e.n.tree, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("copy /%s: the file changed while the build read it", e.n.tree)
	}
	return nil
}

// comparePaths orders clean relative paths component by component ("a/b"
// before "a-b"), the order of a sorted tree walk.
func comparePaths(a, b string) int {
	for {
		ca, ra, _ := strings.Cut(a, "/")
		cb, rb, _ := strings.Cut(b, "/")
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		if ra == "" || rb == "" {
			return strings.Compare(ra, rb)
		}
		a, b = ra, rb
	}
}

// splitName splits a clean relative path into its parent ("" for the
// root) and base name.
func splitName(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
