package buildctx

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// globTree is the context of the glob and source tests.
func globTree(t *testing.T) *Context {
	return newCtx(t,
		f("a.txt", "a"), f("b.txt", "b"), f("c.md", "c"), f(".hidden.txt", "h"),
		f("ab.bin", ""), f("ba.bin", ""), f("cb.bin", ""),
		f("dir/x", "x"), f("dir/y.txt", "y"), d("dir/sub"), f("dir/sub/z", "z"),
		f("sub/one/dir2/foo", "1"), f("sub/two/dir2/foo", "2"), f("sub/three/other", ""),
		f("lit[1].txt", "literal"), f("star*", "star"),
		sl("link", "dir"), sl("abs", "/dir/x"), sl("out", "/etc/passwd"), sl("dangling", "nosuch"),
		sl("up", "../../../dir/y.txt"),
		f("secret/key", "k"), f("secret/pub", "p"), f("logs/a.log", ""),
		f(".dockerignore", "secret\n!secret/pub\nlogs\n*.md\n"),
	)
}

func TestResolve(t *testing.T) {
	c := globTree(t)
	tests := []struct {
		name    string
		sources []string
		empty   bool
		want    []string // Path=>Target when they differ
		err     string   // NotFoundError path
	}{
		{name: "file", sources: []string{"a.txt"}, want: []string{"a.txt"}},
		{name: "clamped", sources: []string{"/a.txt", "../../a.txt", "dir/../../b.txt"}, want: []string{"a.txt", "a.txt", "b.txt"}},
		{name: "root", sources: []string{".", "/", ".."}, want: []string{"", "", ""}},
		{name: "star", sources: []string{"*.txt"}, want: []string{".hidden.txt", "a.txt", "b.txt", "lit[1].txt"}},
		{name: "dir star", sources: []string{"dir/*"}, want: []string{"dir/sub", "dir/x", "dir/y.txt"}},
		{name: "class", sources: []string{"[ab]*"}, want: []string{"a.txt", "ab.bin", "abs=>dir/x", "b.txt", "ba.bin"}},
		{name: "question", sources: []string{"?.txt"}, want: []string{"a.txt", "b.txt"}},
		{name: "middle", sources: []string{"sub/*/dir2/foo"}, want: []string{"sub/one/dir2/foo", "sub/two/dir2/foo"}},
		{name: "through symlink prefix", sources: []string{"link/*.txt"}, want: []string{"dir/y.txt"}},
		{name: "escaped", sources: []string{`lit\[1\].tx?`, "star*"}, want: []string{"lit[1].txt", "star*"}},
		// As with BuildKit: a class never matches a literal bracket, and a
		// path without globs is taken as written, backslashes included.
		{name: "literal bracket name", sources: []string{"lit[1].txt"}, err: "/lit[1].txt"},
		{name: "escapes only", sources: []string{`star\*`}, err: `/star\*`},
		{name: "several in order", sources: []string{"b.txt", "a.txt"}, want: []string{"b.txt", "a.txt"}},
		{name: "symlink followed", sources: []string{"link", "abs", "up"}, want: []string{"link=>dir", "abs=>dir/x", "up=>dir/y.txt"}},
		{name: "missing", sources: []string{"nosuch"}, err: "/nosuch"},
		{name: "missing after clamp", sources: []string{"../../etc/passwd"}, err: "/etc/passwd"},
		{name: "symlink out of the context", sources: []string{"out"}, err: "/out"},
		{name: "dangling", sources: []string{"dangling"}, err: "/dangling"},
		{name: "file as directory", sources: []string{"a.txt/x"}, err: "/a.txt/x"},
		{name: "no match", sources: []string{"*.nomatch"}, err: "/*.nomatch"},
		{name: "no match allowed", sources: []string{"a.txt", "*.nomatch"}, empty: true, want: []string{"a.txt"}},
		{name: "missing prefix", sources: []string{"nodir/*"}, err: "/nodir/*"},
		{name: "ignored", sources: []string{"secret/key"}, err: "/secret/key"},
		{name: "ignored glob", sources: []string{"*.md"}, err: "/*.md"},
		{name: "ignored dir", sources: []string{"logs"}, err: "/logs"},
		{name: "exception", sources: []string{"secret/pub", "secret"}, want: []string{"secret/pub", "secret"}},
		{name: "exception glob", sources: []string{"secret/*"}, want: []string{"secret/pub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs, err := c.Resolve(CopySpec{Sources: tt.sources, AllowEmptyWildcard: tt.empty})
			if tt.err != "" {
				if !isNotFound(err, tt.err) {
					t.Fatalf("err = %v, want %q: not found", err, tt.err)
				}
				if !errors.Is(err, fs.ErrNotExist) {
					t.Error("not fs.ErrNotExist")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				g := s.Path
				if s.Target != s.Path {
					g += "=>" + s.Target
				}
				if s.Info == nil || s.Info.Mode()&fs.ModeSymlink != 0 {
					t.Errorf("%s: bad info %v", s.Path, s.Info)
				}
				got = append(got, g)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveBadPattern(t *testing.T) {
	c := globTree(t)
	_, err := c.Resolve(CopySpec{Sources: []string{"a/[-"}})
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want a pattern error", err)
	}
}

// mapFS is a statFS of paths to kinds: "d", "f" or "l:<target>".
type mapFS map[string]string

func (m mapFS) lstat(p string) (fs.FileInfo, error) {
	if p == "" {
		return rootInfo{}, nil
	}
	v, ok := m[p]
	if !ok {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	mode := fs.FileMode(0o644)
	switch {
	case v == "d":
		mode = fs.ModeDir | 0o755
	case strings.HasPrefix(v, "l:"):
		mode = fs.ModeSymlink | 0o777
	}
	return fakeInfo{mode}, nil
}

func (m mapFS) readlink(p string) (string, error) {
	return strings.TrimPrefix(m[p], "l:"), nil
}

type fakeInfo struct{ mode fs.FileMode }

func (fakeInfo) Name() string        { return "" }
func (fakeInfo) Size() int64         { return 0 }
func (i fakeInfo) Mode() fs.FileMode { return i.mode }
func (fakeInfo) ModTime() time.Time  { return time.Time{} }
func (i fakeInfo) IsDir() bool       { return i.mode.IsDir() }
func (fakeInfo) Sys() any            { return nil }

func TestResolveIn(t *testing.T) {
	m := mapFS{
		"usr": "d", "usr/bin": "d", "usr/bin/sh": "f", "bin": "l:usr/bin", "abs": "l:/usr/bin",
		"up": "l:../../../usr", "loop": "l:loop", "a": "l:b", "b": "l:a", "file": "f",
		"rel": "l:bin/../lib", "lib": "l:usr/lib", "usr/lib": "d", "chain": "l:bin", "dang": "l:/nowhere/x",
	}
	tests := []struct {
		p              string
		final, missing bool
		want           string
		err            error
	}{
		{p: "bin/sh", want: "usr/bin/sh"},
		{p: "bin", want: "bin"},
		{p: "bin", final: true, want: "usr/bin"},
		{p: "abs/sh", want: "usr/bin/sh"},
		{p: "up/bin", final: true, want: "usr/bin"},
		{p: "chain/sh", want: "usr/bin/sh"},
		{p: "rel", final: true, want: "usr/lib"},
		{p: "bin/../lib", final: true, want: "usr/lib"},
		{p: "loop/x", err: syscall.ELOOP},
		{p: "a", final: true, err: syscall.ELOOP},
		{p: "file/x", err: syscall.ENOTDIR},
		{p: "file/x", missing: true, err: syscall.ENOTDIR},
		{p: "nosuch/x", err: fs.ErrNotExist},
		{p: "nosuch/x/../y", missing: true, want: "nosuch/y"},
		{p: "bin/new/dir", missing: true, want: "usr/bin/new/dir"},
		{p: "dang", final: true, missing: true, want: "nowhere/x"},
		{p: "", want: ""},
	}
	for _, tt := range tests {
		got, err := resolveIn(m, tt.p, tt.final, tt.missing)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("resolveIn(%q) err = %v, want %v", tt.p, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolveIn(%q, %v, %v) = %q, %v; want %q", tt.p, tt.final, tt.missing, got, err, tt.want)
		}
	}
}

func TestSplitWildcards(t *testing.T) {
	tests := []struct {
		p, prefix, pattern string
	}{
		{"a/b/c", "a/b/c", ""},
		{"a/*/c", "a", "*/c"},
		{"*.go", "", "*.go"},
		{`a/\*/b?`, `a/\*`, "b?"},
		{"x/[ab]", "x", "[ab]"},
	}
	for _, tt := range tests {
		prefix, pattern := splitWildcards(tt.p)
		if prefix != tt.prefix || strings.Join(pattern, "/") != tt.pattern {
			t.Errorf("splitWildcards(%q) = %q, %q", tt.p, prefix, pattern)
		}
	}
}
