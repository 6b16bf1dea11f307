package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"
)

// zeroInfo is the match state of a tree's root.
var zeroInfo patternmatcher.MatchInfo

// node is one file system node selected for a copy.
type node struct {
	// rel is the path relative to the copied source ("" for the source
	// itself); tree is the path relative to the walked tree's root, which
	// locates it on the host.
	rel, tree string
	st        unix.Stat_t
	link      string // symlink target
}

// isDir reports whether n is a directory.
func (n *node) isDir() bool { return n.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// walker lists what a copy takes from a directory tree: everything, minus
// what the ignore patterns (matched against paths from the tree root) and
// the exclude patterns (matched against paths from the copied source)
// leave out. A left-out directory still appears, with just the entries
// that exceptions bring back, if there are any. Sockets are left out: a
// layer cannot hold them.
type walker struct {
	root    string   // the tree's host directory
	ignore  *matcher // nil: nothing ignored
	exclude *matcher // nil: nothing excluded
}

// ignoreInfo is the ignore match state of the tree path p, as a walk from
// the root would have it when it reaches p.
func (w *walker) ignoreInfo(p string) patternmatcher.MatchInfo {
	if w.ignore == nil || p == "" {
		return zeroInfo
	}
	_, info, err := w.ignore.matchPathInfo(p)
	if err != nil {
		return zeroInfo
	}
	return info
}

// host is the host path of the tree path p.
func (w *walker) host(p string) string {
	if p == "" {
		return w.root
	}
	return w.root + "/" + p
}

// stat makes the node of the tree path p (source path rel).
func (w *walker) stat(p, rel string) (node, error) {
	n := node{rel: rel, tree: p}
	h := w.host(p)
	if err := unix.Lstat(h, &n.st); err != nil {
		return n, &fs.PathError{Op: "lstat", Path: "/" + p, Err: err}
	}
	if n.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		t, err := os.Readlink(h)
		if err != nil {
			return n, fmt.Errorf("readlink /%s: %w", p, err)
		}
		n.link = t
	}
	return n, nil
}

// capsOf reads the security.capability attribute of the open file f; ""
// if it has none.
func capsOf(f *os.File) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Fgetxattr(int(f.Fd()), "security.capability", buf)
		switch {
		case err == unix.ERANGE && len(buf) < 1<<16:
			buf = make([]byte, len(buf)*4)
			continue
		case err == unix.ENODATA || err == unix.ENOTSUP || err == unix.EOPNOTSUPP:
			return "", nil
		case err != nil:
			return "", err
		}
		return string(buf[:n]), nil
	}
}

// children lists, in tree order (a directory before what it holds, names
// sorted), what the copy takes below the directory dir (tree path), which
// is rel in the source, given the match states of dir.
func (w *walker) children(dir, rel string, ign, exc patternmatcher.MatchInfo) ([]node, error) {
	names, err := readDirNames(w.host(dir))
	if err != nil {
		return nil, err
	}
	var out []node
	for _, name := range names {
		p, r := joinRel(dir, name), joinRel(rel, name)
		ignored, excluded := false, false
		cign, cexc := zeroInfo, zeroInfo
		if w.ignore != nil {
			if ignored, cign, err = w.ignore.match(p, ign); err != nil {
				return nil, err
			}
		}
		if w.exclude != nil {
			if excluded, cexc, err = w.exclude.match(r, exc); err != nil {
				return nil, err
			}
		}
		n, err := w.stat(p, r)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		taken := !ignored && !excluded
		if !n.isDir() {
			if taken && n.st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				out = append(out, n)
			}
			continue
		}
		if (ignored && !w.ignore.mayExceptBelow(p)) || (excluded && !w.exclude.mayExceptBelow(r)) {
			continue
		}
		sub, err := w.children(p, r, cign, cexc)
		if err != nil {
			return nil, err
		}
		if taken || len(sub) > 0 {
			out = append(out, n)
			out = append(out, sub...)
		}
	}
	return out, nil
}

// selection is one resolved source with what it copies.
type selection struct {
	Source
	root  node   // the source itself (Target)
	nodes []node // for a directory: what it holds, in tree order
}

// selectSources resolves spec's sources and lists what each copies.
func (c *Context) selectSources(spec CopySpec) ([]selection, error) {
	srcs, err := c.Resolve(spec)
	if err != nil {
		return nil, err
	}
	w := &walker{root: c.dir, ignore: c.ignore}
	if len(spec.Exclude) > 0 {
		if w.exclude, err = newMatcher(spec.Exclude); err != nil {
			return nil, fmt.Errorf("--exclude: %w", err)
		}
	}
	sels := make([]selection, 0, len(srcs))
	for _, s := range srcs {
		root, err := w.stat(s.Target, "")
		if err != nil {
			return nil, fmt.Errorf("copy /%s: %w", s.Path, err)
		}
		sel := selection{Source: s, root: root}
		if root.isDir() {
			if sel.nodes, err = w.children(s.Target, "", w.ignoreInfo(s.Target), zeroInfo); err != nil {
				return nil, fmt.Errorf("copy /%s: %w", s.Path, err)
			}
		} else if root.st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			return nil, fmt.Errorf("copy /%s: cannot copy a socket", s.Path)
		}
		sels = append(sels, sel)
	}
	return sels, nil
}
