package buildctx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hull-project/hull/snapshot"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// IgnoreFile is the name of the ignore file at the root of a context.
const IgnoreFile = ".dockerignore"

// Context is a build context: a directory whose files COPY and ADD take,
// minus what its .dockerignore excludes. A context made from a tar stream
// lives in a temporary directory that Close removes. A Context is safe for
// concurrent use; it assumes its directory does not change while a build
// step uses it.
type Context struct {
	dir    string
	tmp    string   // removed by Close; "" if the directory is the caller's
	ignore *matcher // nil: nothing ignored

	// TempDir is where ADD unpacks local archives before writing them
	// into a layer; "" means os.TempDir(). FromTar sets it to its tmpDir.
	TempDir string

	mu      sync.Mutex
	digests map[string]cachedDigest // content digests by host path
	root    *os.Root                // dir, opened on first use
	hashed  atomic.Int64            // files hashed, for tests
}

// openRoot returns the context's directory as an os.Root.
func (c *Context) openRoot() (*os.Root, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root == nil {
		r, err := os.OpenRoot(c.dir)
		if err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		c.root = r
	}
	return c.root, nil
}

// FromDir makes a context of the directory dir, filtered by an ignore
// file the way BuildKit does it: the Dockerfile-specific ignore file
// "<dockerfile>.dockerignore" next to the Dockerfile if there is one,
// else dir/.dockerignore (only one of them applies). dockerfile is the
// Dockerfile's path, relative to dir unless absolute (the CLI's -f is
// relative to the working directory: make it absolute); "" means
// dir/Dockerfile. The Dockerfile and the
// ignore file stay readable by the builder (they are not read through the
// context), but COPY leaves them out if the patterns say so, as Docker
// does.
func FromDir(dir, dockerfile string) (*Context, error) {
	c, err := newContext(dir)
	if err != nil {
		return nil, err
	}
	if err := c.loadIgnore(dockerfile, false); err != nil {
		return nil, err
	}
	return c, nil
}

// missing reports whether err says a file is not there.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// FromDirNoIgnore makes a context of the directory dir without any ignore
// file, for COPY --from=<stage|image>: dir is the other file system's root.
func FromDirNoIgnore(dir string) (*Context, error) {
	return newContext(dir)
}

// FromTar makes a context of the tar stream r, as `hull build - <
// context.tar` does. The stream may be plain, gzip, bzip2, zstd or (with
// the xz command) xz, detected from its first bytes. It is unpacked, with
// snapshot.Extract (nothing is ever written outside the directory), into a
// new directory under tmpDir ("" for os.TempDir()), which Close removes.
// dockerfile names the Dockerfile inside the archive ("" for
// "Dockerfile"), for its ignore file; see FromDir. Owners and device nodes
// of the archive are not kept: COPY does not use them.
func FromTar(r io.Reader, tmpDir, dockerfile string) (*Context, error) {
	dir, err := os.MkdirTemp(tmpDir, "hull-context-")
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	c, err := fromTar(r, dir, dockerfile)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c.tmp = dir
	c.TempDir = tmpDir
	return c, nil
}

func fromTar(r io.Reader, dir, dockerfile string) (*Context, error) {
	dr, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	defer dr.Close()
	opts := snapshot.ExtractOptions{NoLchown: true, NoDevices: true, Whiteouts: snapshot.WhiteoutKeep}
	if _, err := snapshot.Extract(dir, dr, opts); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	c, err := newContext(dir)
	if err != nil {
		return nil, err
	}
	if filepath.IsAbs(dockerfile) {
		return nil, fmt.Errorf("build context: Dockerfile %q: must be a path inside the context archive", dockerfile)
	}
	if err := c.loadIgnore(dockerfile, true); err != nil {
		return nil, err
	}
	return c, nil
}

func newContext(dir string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory", dir)
	}
	return &Context{dir: abs, digests: map[string]cachedDigest{}}, nil
}

// loadIgnore reads the ignore file that applies for dockerfile, a path
// relative to the context's directory (inside, as a path of the context,
// when inside is set) unless absolute.
func (c *Context) loadIgnore(dockerfile string, inside bool) error {
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	name := dockerfile + IgnoreFile
	var data []byte
	var err error
	switch {
	case inside:
		data, err = c.ReadFile(name)
	case filepath.IsAbs(name):
		data, err = os.ReadFile(name)
	default:
		data, err = os.ReadFile(filepath.Join(c.dir, name))
	}
	if err != nil && !missing(err) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if data == nil {
		name = IgnoreFile
		if data, err = c.ReadFile(IgnoreFile); err != nil && !missing(err) {
			return fmt.Errorf("read %s: %w", IgnoreFile, err)
		}
	}
	if data == nil {
		return nil
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	m, err := newMatcher(patterns)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	c.ignore = m
	return nil
}

// Close releases the context; for one made by FromTar it also removes its
// directory.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.root != nil {
		c.root.Close()
		c.root = nil
	}
	c.mu.Unlock()
	if c.tmp == "" {
		return nil
	}
	err := os.RemoveAll(c.tmp)
	c.tmp = ""
	if err != nil {
		return fmt.Errorf("remove build context: %w", err)
	}
	return nil
}

// Dir is the context's directory (absolute).
func (c *Context) Dir() string { return c.dir }

// IgnorePatterns are the context's ignore patterns, as read and cleaned;
// nil if none apply.
func (c *Context) IgnorePatterns() []string {
	if c.ignore == nil {
		return nil
	}
	return c.ignore.patterns
}

// Ignored reports whether the ignore file excludes the path rel (relative
// to the context root; a leading "/" is allowed), with the semantics of
// BuildKit's context walk (patternmatcher's MatchesUsingParentResults
// applied from the root down): a path is excluded when it or one of its
// parents matches a pattern and no later "!" exception matches it or one
// of its parents. (One corner differs from MatchesOrParentMatches: an
// exception that matched only a parent while nothing above it was
// excluded does not carry down; with "src/**/*.go" and "!src/vendor",
// src/vendor/lib.go is excluded, as with `docker build`.) An excluded
// directory can still hold files an exception brings back; COPY then sees
// the directory with just those files.
func (c *Context) Ignored(rel string) bool {
	if c.ignore == nil {
		return false
	}
	p := cleanRel(rel)
	if p == "" {
		return false
	}
	ignored, err := c.ignore.matchPath(p)
	return err == nil && ignored
}

// ReadFile reads the file rel of the context's directory, ignore file or
// not (the builder reads the Dockerfile with it). Symlinks are followed as
// if the context were the root of the file system, so nothing outside it
// is ever read.
func (c *Context) ReadFile(rel string) ([]byte, error) {
	p, err := resolveIn(hostFS{c.dir}, cleanRel(rel), true, false)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", "/"+cleanRel(rel), err)
	}
	root, err := c.openRoot()
	if err != nil {
		return nil, err
	}
	f, err := openFile(root, p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", "/"+cleanRel(rel), err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", "/"+cleanRel(rel), err)
	}
	return b, nil
}

// cleanRel cleans a path into one relative to a root ("" for the root):
// leading slashes and ".." components clamp to the root.
func cleanRel(p string) string {
	p = path.Clean("/" + filepath.ToSlash(p))
	return strings.TrimPrefix(p, "/")
}

// matcher is a compiled list of .dockerignore-style patterns. The
// patternmatcher it wraps compiles patterns lazily, so calls are
// serialised.
type matcher struct {
	mu       sync.Mutex
	pm       *patternmatcher.PatternMatcher
	patterns []string
	// excl are the components of the exception ("!") patterns.
	excl [][]string
}

func newMatcher(patterns []string) (*matcher, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern: %w", err)
	}
	m := &matcher{pm: pm, patterns: patterns}
	for _, p := range pm.Patterns() {
		// patternmatcher compiles a pattern into a regexp when first used;
		// some that filepath.Match accepts (`\1`) do not compile.
		one, err := patternmatcher.New([]string{p.String()})
		if err == nil {
			_, err = one.MatchesOrParentMatches("x")
		}
		if err != nil {
			return nil, fmt.Errorf("invalid pattern %q: %w", p.String(), err)
		}
		if p.Exclusion() {
			m.excl = append(m.excl, strings.Split(p.String(), "/"))
		}
	}
	return m, nil
}

// match matches the clean relative path p, given its parent's result
// (the zero MatchInfo for the root).
func (m *matcher) match(p string, parent patternmatcher.MatchInfo) (bool, patternmatcher.MatchInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, info, err := m.pm.MatchesUsingParentResults(p, parent)
	if err != nil {
		return false, info, fmt.Errorf("match %q: %w", p, err)
	}
	return ok, info, nil
}

// matchPath matches the clean relative path p component by component, as
// a walk from the root does.
func (m *matcher) matchPath(p string) (bool, error) {
	ok, _, err := m.matchPathInfo(p)
	return ok, err
}

// matchPathInfo is matchPath that also returns p's match state.
func (m *matcher) matchPathInfo(p string) (bool, patternmatcher.MatchInfo, error) {
	var info patternmatcher.MatchInfo
	var ok bool
	var err error
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if ok, info, err = m.match(p[:i], info); err != nil {
			return false, info, err
		}
	}
	return ok, info, nil
}

// mayExceptBelow reports whether an exception pattern might match a path
// strictly below the directory dir (clean, relative). When none can, an
// excluded directory's whole subtree is excluded and need not be read.
// The answer errs on the side of true.
func (m *matcher) mayExceptBelow(dir string) bool {
	if len(m.excl) == 0 {
		return false
	}
	dc := strings.Split(dir, "/")
	for _, pc := range m.excl {
		if mayMatchBelow(pc, dc) {
			return true
		}
	}
	return false
}

// mayMatchBelow reports whether the pattern of components pc might match
// a path that has the components dc as a strict prefix.
func mayMatchBelow(pc, dc []string) bool {
	for i, d := range dc {
		if i >= len(pc) {
			return false // shorter: it only matches paths above or beside dir
		}
		if strings.Contains(pc[i], "**") {
			return true
		}
		ok, err := filepath.Match(pc[i], d)
		if err != nil {
			return true
		}
		if !ok {
			return false
		}
	}
	return len(pc) > len(dc)
}
