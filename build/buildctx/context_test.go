package buildctx

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hull-project/hull/snapshot"
	"github.com/klauspost/compress/zstd"
)

func TestIgnored(t *testing.T) {
	tests := []struct {
		name     string
		ignore   string
		ignored  []string
		included []string
	}{
		{
			name:     "plain names and globs",
			ignore:   "# comment\nsecret.txt\n*.log\n  tmp  \n",
			ignored:  []string{"secret.txt", "a.log", "tmp", "tmp/x", "tmp/sub/y"},
			included: []string{"a.txt", "sub/a.log", "sub/secret.txt", "tmpx", "#comment"},
		},
		{
			name:     "exceptions",
			ignore:   "*.md\n!README.md\ndocs\n!docs/keep\n",
			ignored:  []string{"CHANGES.md", "docs", "docs/x", "docs/keepnot"},
			included: []string{"README.md", "docs/keep", "docs/keep/sub", "sub/CHANGES.md"},
		},
		{
			name:     "later pattern wins",
			ignore:   "!a.txt\n*.txt\n",
			ignored:  []string{"a.txt", "b.txt"},
			included: []string{"sub/a.txt"},
		},
		{
			name:     "double star",
			ignore:   "**/*.pyc\n**/node_modules\nbuild/**\n",
			ignored:  []string{"x.pyc", "a/b/c.pyc", "node_modules", "a/node_modules/x", "build/x", "build/a/b"},
			included: []string{"x.py", "a/pyc", "build"},
		},
		{
			name:     "leading slash and dots are cleaned",
			ignore:   "/root.txt\n./dot.txt\nsub/../up.txt\n",
			ignored:  []string{"root.txt", "dot.txt", "up.txt"},
			included: []string{"sub/root.txt", "sub/up.txt"},
		},
		{
			name:     "ignoring the Dockerfile and the ignore file",
			ignore:   "Dockerfile\n.dockerignore\n",
			ignored:  []string{"Dockerfile", ".dockerignore"},
			included: []string{"Dockerfile.dev", "sub/Dockerfile"},
		},
		{
			name:     "everything but",
			ignore:   "*\n!src\n!go.mod\n",
			ignored:  []string{"README", "vendor/x"},
			included: []string{"src", "src/main.go", "go.mod"},
		},
		{
			// BuildKit walks the context with MatchesUsingParentResults, for
			// which an exception that matched only a parent directory (while
			// nothing was excluded yet) does not carry down to the files.
			// patternmatcher's MatchesOrParentMatches would not ignore
			// src/vendor/lib.go here.
			name:     "exception on a parent, as BuildKit's walk has it",
			ignore:   "src/**/*.go\n!src/vendor\n",
			ignored:  []string{"src/main.go", "src/vendor/lib.go"},
			included: []string{"src/vendor", "src/vendor/README"},
		},
		{
			name:     "question mark and classes",
			ignore:   "file?.txt\n[ab]*.bin\n",
			ignored:  []string{"file1.txt", "a.bin", "bcd.bin"},
			included: []string{"file10.txt", "c.bin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCtx(t, f(".dockerignore", tt.ignore))
			for _, p := range tt.ignored {
				if !c.Ignored(p) {
					t.Errorf("Ignored(%q) = false, want true", p)
				}
				if !c.Ignored("/" + p) {
					t.Errorf("Ignored(%q) = false, want true", "/"+p)
				}
			}
			for _, p := range tt.included {
				if c.Ignored(p) {
					t.Errorf("Ignored(%q) = true, want false", p)
				}
			}
			if c.Ignored("") || c.Ignored("/") {
				t.Error("the root is ignored")
			}
		})
	}
}

func TestIgnoreFileChoice(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir,
		f(".dockerignore", "a\n"),
		f("build/app.Dockerfile", "FROM scratch\n"),
		f("build/app.Dockerfile.dockerignore", "b\n"),
		f("a", ""), f("b", ""),
	)
	outside := t.TempDir()
	mkTree(t, outside, f("Containerfile", ""), f("Containerfile.dockerignore", "c\n"))
	tests := []struct {
		dockerfile string
		ignored    []string
		included   []string
	}{
		{"", []string{"a"}, []string{"b"}},
		{"Dockerfile", []string{"a"}, []string{"b"}},
		{"build/app.Dockerfile", []string{"b"}, []string{"a"}},
		{"./build/../build/app.Dockerfile", []string{"b"}, []string{"a"}},
		{filepath.Join(dir, "build/app.Dockerfile"), []string{"b"}, []string{"a"}},
		{filepath.Join(outside, "Containerfile"), []string{"c"}, []string{"a", "b"}},
		{filepath.Join(outside, "Other"), []string{"a"}, []string{"b"}},
		{"a/Dockerfile", []string{"a"}, []string{"b"}}, // a is a file
	}
	for _, tt := range tests {
		t.Run(tt.dockerfile, func(t *testing.T) {
			c, err := FromDir(dir, tt.dockerfile)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, p := range tt.ignored {
				if !c.Ignored(p) {
					t.Errorf("%s not ignored", p)
				}
			}
			for _, p := range tt.included {
				if c.Ignored(p) {
					t.Errorf("%s ignored", p)
				}
			}
		})
	}
}

func TestFromDirErrors(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir, f("file", ""), f("bad/.dockerignore", "[\n"), f("regexp/.dockerignore", "ok\n!\\1\n"))
	for _, p := range []string{filepath.Join(dir, "nosuch"), filepath.Join(dir, "file"), filepath.Join(dir, "bad"), filepath.Join(dir, "regexp")} {
		if c, err := FromDir(p, ""); err == nil {
			c.Close()
			t.Errorf("FromDir(%s) succeeded", p)
		}
	}
}

func TestFromTar(t *testing.T) {
	plain := tarBytes(t,
		tdir("src/"), treg("src/main.go", "package main\n"),
		treg("Dockerfile", "FROM scratch\n"), treg(".dockerignore", "*.log\n"),
		treg("debug.log", "x"), tsym("link", "/etc/passwd"),
	)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	var zs bytes.Buffer
	ze, _ := zstd.NewWriter(&zs)
	ze.Write(plain)
	ze.Close()
	bz := bzip2Bytes(t, plain)
	for _, tt := range []struct {
		name string
		data []byte
	}{{"plain", plain}, {"gzip", gz.Bytes()}, {"bzip2", bz}, {"zstd", zs.Bytes()}, {"xz", xzBytes(t, plain)}} {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			c, err := FromTar(bytes.NewReader(tt.data), tmp, "")
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.ReadFile("src/main.go")
			if err != nil || string(b) != "package main\n" {
				t.Errorf("ReadFile = %q, %v", b, err)
			}
			if !c.Ignored("debug.log") || c.Ignored("src/main.go") {
				t.Error("the archive's .dockerignore does not apply")
			}
			if _, err := c.Resolve(CopySpec{Sources: []string{"debug.log"}}); !isNotFound(err, "/debug.log") {
				t.Errorf("ignored file resolved: %v", err)
			}
			if !strings.HasPrefix(c.Dir(), tmp) {
				t.Errorf("Dir %s not under %s", c.Dir(), tmp)
			}
			dir := c.Dir()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Close left %s: %v", dir, err)
			}
		})
	}
}

func TestFromTarDockerfileIgnore(t *testing.T) {
	data := tarBytes(t, treg(".dockerignore", "a\n"), treg("ci/Dockerfile", ""), treg("ci/Dockerfile.dockerignore", "b\n"))
	for _, tt := range []struct{ dockerfile, ignored string }{{"", "a"}, {"ci/Dockerfile", "b"}, {"/ci/Dockerfile", ""}} {
		c, err := FromTar(bytes.NewReader(data), t.TempDir(), tt.dockerfile)
		if tt.ignored == "" {
			if err == nil {
				c.Close()
				t.Errorf("FromTar with an absolute Dockerfile path succeeded")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !c.Ignored(tt.ignored) || c.Ignored(map[string]string{"a": "b", "b": "a"}[tt.ignored]) {
			t.Errorf("%q: the wrong ignore file applies (%q)", tt.dockerfile, c.IgnorePatterns())
		}
		c.Close()
	}
}

func TestFromTarHostile(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"dot-dot", tarBytes(t, treg("../escape", "x")), snapshot.ErrBreakout},
		{"through symlink", tarBytes(t, tsym("etc", "/etc"), treg("etc/evil", "x")), snapshot.ErrSymlinkParent},
		{"corrupt xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 100)...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			tmp := filepath.Join(parent, "tmp")
			os.Mkdir(tmp, 0o755)
			c, err := FromTar(bytes.NewReader(tt.data), tmp, "")
			if err == nil {
				c.Close()
				t.Fatal("FromTar succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				t.Errorf("left %v in the temp dir", ents)
			}
			if _, err := os.Lstat(filepath.Join(parent, "escape")); err == nil {
				t.Error("the archive wrote outside its directory")
			}
		})
	}
}

func TestReadFileStaysInside(t *testing.T) {
	c := newCtx(t,
		f("etc/passwd", "context passwd"),
		sl("abs", "/etc/passwd"),
		sl("up", "../../../../etc/passwd"),
		sl("loop", "loop"),
	)
	for _, p := range []string{"abs", "up", "../../etc/passwd", "/etc/passwd"} {
		b, err := c.ReadFile(p)
		if err != nil || string(b) != "context passwd" {
			t.Errorf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	if _, err := c.ReadFile("loop"); err == nil {
		t.Error("ReadFile of a symlink loop succeeded")
	}
	if _, err := c.ReadFile("nosuch"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(nosuch) = %v", err)
	}
}

func TestIgnorePatterns(t *testing.T) {
	c := newCtx(t, f(".dockerignore", "\ufeff/a\n!b/../c\n"))
	if got, want := c.IgnorePatterns(), []string{"a", "!c"}; !slices.Equal(got, want) {
		t.Errorf("IgnorePatterns = %q, want %q", got, want)
	}
	if got := newCtx(t).IgnorePatterns(); got != nil {
		t.Errorf("IgnorePatterns without a file = %q", got)
	}
}

// isNotFound reports whether err is a *NotFoundError for p.
func isNotFound(err error, p string) bool {
	var nf *NotFoundError
	return errors.As(err, &nf) && nf.Path == p && strings.HasSuffix(err.Error(), strconv.Quote(p)+": not found")
}
