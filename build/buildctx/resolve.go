package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// maxSymlinks bounds the symlinks followed while resolving one path, as
// the kernel's ELOOP limit does.
const maxSymlinks = 255

// NotFoundError is the error for a COPY or ADD source that the context
// does not have (or a glob that matches nothing). Its message is BuildKit's
// ending, `"/nosuch": not found`; BuildKit prefixes it with "failed to
// compute cache key: failed to calculate checksum of ref <ref>: ", which
// the builder may add. It unwraps to fs.ErrNotExist.
type NotFoundError struct {
	// Path is the source as written, cleaned, with a leading "/".
	Path string
}

// Error is `"<path>": not found`.
func (e *NotFoundError) Error() string { return strconv.Quote(e.Path) + ": not found" }

// Unwrap returns fs.ErrNotExist.
func (e *NotFoundError) Unwrap() error { return fs.ErrNotExist }

// statFS is what path resolution needs of a file system. Paths are clean
// and relative to its root ("" is the root) and, when resolveIn asks, have
// no symlink before their last component.
type statFS interface {
	lstat(p string) (fs.FileInfo, error)
	readlink(p string) (string, error)
}

// hostFS is a directory of the host.
type hostFS struct{ root string }

func (h hostFS) lstat(p string) (fs.FileInfo, error) { return os.Lstat(h.join(p)) }
func (h hostFS) readlink(p string) (string, error)   { return os.Readlink(h.join(p)) }

func (h hostFS) join(p string) string {
	if p == "" {
		return h.root
	}
	return h.root + "/" + p
}

// resolveIn resolves the clean relative path p in fsys as if fsys were the
// root of the file system: symlinks are followed (the last component only
// if followFinal), absolute symlink targets start again at the root and
// ".." never climbs above it. The result has no symlink in it (but for a
// last component kept as is). A missing component is an error unless
// allowMissing, in which case it and whatever follows it are appended as
// written.
func resolveIn(fsys statFS, p string, followFinal, allowMissing bool) (string, error) {
	var done []string
	rest := splitComps(p)
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := strings.Join(append(done, c), "/")
		fi, err := fsys.lstat(cur)
		if err != nil {
			if !allowMissing || !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			done = append(done, c)
			for _, r := range rest {
				switch r {
				case "", ".":
				case "..":
					if len(done) > 0 {
						done = done[:len(done)-1]
					}
				default:
					done = append(done, r)
				}
			}
			return strings.Join(done, "/"), nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 && (len(rest) > 0 || followFinal) {
			if links++; links > maxSymlinks {
				return "", &fs.PathError{Op: "resolve", Path: "/" + p, Err: syscall.ELOOP}
			}
			target, err := fsys.readlink(cur)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				done = done[:0]
			}
			rest = append(splitComps(target), rest...)
			continue
		}
		if len(rest) > 0 && !fi.IsDir() {
			return "", &fs.PathError{Op: "resolve", Path: "/" + cur, Err: syscall.ENOTDIR}
		}
		done = append(done, c)
	}
	return strings.Join(done, "/"), nil
}

func splitComps(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// containsWildcards reports whether p has glob characters that are not
// escaped with a backslash.
func containsWildcards(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// splitWildcards splits the clean relative path p into the components
// before the first one with a glob and the pattern components from there.
func splitWildcards(p string) (prefix string, pattern []string) {
	comps := splitComps(p)
	for i, c := range comps {
		if containsWildcards(c) {
			return strings.Join(comps[:i], "/"), comps[i:]
		}
	}
	return p, nil
}

// Source is one source of a COPY or ADD after glob expansion.
type Source struct {
	// Path is the source in the context: clean, relative to the context
	// root ("" for the root itself). It names what is copied (a file
	// source keeps its base name).
	Path string
	// Target is Path with its symlinks resolved inside the context: what
	// is actually copied.
	Target string
	// Info describes Target.
	Info fs.FileInfo
}

// Resolve expands the globs of spec's sources and checks they exist in the
// context (ignored files do not), in order. A source that is missing, or a
// glob that matches nothing (unless AllowEmptyWildcard), is a
// *NotFoundError. Globs follow Go's path.Match per path component and
// match names beginning with a dot too; a match is a whole subtree (a
// matched directory is not searched further).
func (c *Context) Resolve(spec CopySpec) ([]Source, error) {
	v := newView(c)
	var out []Source
	for _, src := range spec.Sources {
		p := cleanRel(src)
		prefix, pattern := splitWildcards(p)
		if pattern == nil {
			s, err := v.source(p, "/"+p)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		matches, err := v.glob(prefix, pattern)
		if err != nil {
			return nil, fmt.Errorf("resolve %q: %w", src, err)
		}
		if len(matches) == 0 && !spec.AllowEmptyWildcard {
			return nil, &NotFoundError{Path: "/" + p}
		}
		for _, m := range matches {
			s, err := v.source(m, "/"+m)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// source resolves one source path (clean, relative).
func (v *view) source(p, display string) (Source, error) {
	target, err := resolveIn(v, p, true, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Source{}, &NotFoundError{Path: display}
		}
		return Source{}, fmt.Errorf("resolve %s: %w", display, err)
	}
	fi, err := v.lstat(target)
	if err != nil {
		return Source{}, fmt.Errorf("resolve %s: %w", display, err)
	}
	return Source{Path: p, Target: target, Info: fi}, nil
}

// glob returns the visible paths below prefix (resolved, following
// symlinks) whose components match pattern, in walk order, relative to
// the context root.
func (v *view) glob(prefix string, pattern []string) ([]string, error) {
	for _, pc := range pattern {
		if _, err := path.Match(pc, ""); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", strings.Join(pattern, "/"), err)
		}
	}
	base, err := resolveIn(v, prefix, true, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	err = v.globDir(base, pattern, &out)
	return out, err
}

func (v *view) globDir(dir string, pattern []string, out *[]string) error {
	fi, err := v.lstat(dir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	names, err := readDirNames(v.c.host(dir))
	if err != nil {
		return err
	}
	for _, name := range names {
		if ok, _ := path.Match(pattern[0], name); !ok {
			continue
		}
		p := joinRel(dir, name)
		if _, err := v.lstat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // ignored
			}
			return err
		}
		if len(pattern) == 1 {
			*out = append(*out, p)
		} else if err := v.globDir(p, pattern[1:], out); err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists a directory of the host, sorted.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	slices.Sort(names)
	return names, nil
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	if name == "" {
		return dir
	}
	return dir + "/" + name
}

// host is the host path of the clean relative path p.
func (c *Context) host(p string) string {
	if p == "" {
		return c.dir
	}
	return c.dir + "/" + p
}

// view is the context as COPY sees it: ignored paths do not exist, except
// ignored directories holding files an exception brings back.
type view struct {
	c    *Context
	desc map[string]bool // ignored directories: whether something below is visible
}

func newView(c *Context) *view { return &view{c: c, desc: map[string]bool{}} }

func (v *view) readlink(p string) (string, error) { return os.Readlink(v.c.host(p)) }

// lstat is os.Lstat of a visible path; an invisible one does not exist.
func (v *view) lstat(p string) (fs.FileInfo, error) {
	fi, err := os.Lstat(v.c.host(p))
	if err != nil || p == "" || v.c.ignore == nil {
		return fi, err
	}
	ignored, err := v.c.ignore.matchPath(p)
	if err != nil {
		return nil, err
	}
	if !ignored {
		return fi, nil
	}
	if fi.IsDir() && v.c.ignore.mayExceptBelow(p) {
		seen, ok := v.desc[p]
		if !ok {
			w := &walker{root: v.c.dir, ignore: v.c.ignore}
			nodes, err := w.children(p, "", w.ignoreInfo(p), zeroInfo)
			if err != nil {
				return nil, err
			}
			seen = len(nodes) > 0
			v.desc[p] = seen
		}
		if seen {
			return fi, nil
		}
	}
	return nil, &fs.PathError{Op: "lstat", Path: "/" + p, Err: fs.ErrNotExist}
}

// openFile opens the file p (clean, relative, resolved) of root for
// reading; a symlink is never followed out of root, nor at the end.
func openFile(root *os.Root, p string) (*os.File, error) {
	if p == "" {
		p = "."
	}
	return root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}
