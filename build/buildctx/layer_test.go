package buildctx

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// describe sums a layer entry up: "d755 0:0", "f644 0:0 =body",
// "l>target 0:0", "h>target", "p644 0:0".
func describe(e tarEnt) string {
	h := e.hdr
	switch h.Typeflag {
	case tar.TypeDir:
		return fmt.Sprintf("d%o %d:%d", h.Mode, h.Uid, h.Gid)
	case tar.TypeReg:
		return fmt.Sprintf("f%o %d:%d =%s", h.Mode, h.Uid, h.Gid, e.body)
	case tar.TypeSymlink:
		return fmt.Sprintf("l>%s %d:%d", h.Linkname, h.Uid, h.Gid)
	case tar.TypeLink:
		return "h>" + h.Linkname
	case tar.TypeFifo:
		return fmt.Sprintf("p%o %d:%d", h.Mode, h.Uid, h.Gid)
	}
	return fmt.Sprintf("type %c", h.Typeflag)
}

// owned is a lower tree path and its owner.
type owned struct {
	path     string
	uid, gid int
}

// newLower makes a lower file system of ents (owners changed as listed);
// nil ents is an empty one (nil Lower).
func newLower(t *testing.T, ents []fsEnt, owners ...owned) Lower {
	t.Helper()
	if ents == nil {
		return nil
	}
	dir := t.TempDir()
	mkTree(t, dir, ents...)
	for _, o := range owners {
		if err := os.Lchown(filepath.Join(dir, o.path), o.uid, o.gid); err != nil {
			t.Fatal(err)
		}
	}
	return DirLower(dir)
}

func owner(uid, gid int) *Owner { return &Owner{uid, gid} }

func mode(m os.FileMode) *os.FileMode { return &m }

// baseCtx is the context most copy rule tests use.
var baseCtx = []fsEnt{
	f("a.txt", "A"), f("b.txt", "B"),
	f("dir/a", "dA"), d("dir/sub"), f("dir/sub/b", "dB"),
}

func TestCopyRules(t *testing.T) {
	tests := []struct {
		name   string
		ctx    []fsEnt // added to baseCtx
		lower  []fsEnt
		owners []owned
		spec   CopySpec
		want   map[string]string // every entry of the layer
		err    string
	}{
		{
			name: "directory source copies its contents",
			spec: CopySpec{Sources: []string{"dir"}, Dest: "/dst"},
			want: map[string]string{"dst": "d755 0:0", "dst/a": "f644 0:0 =dA", "dst/sub": "d755 0:0", "dst/sub/b": "f644 0:0 =dB"},
		},
		{
			name: "directory source, slashes",
			spec: CopySpec{Sources: []string{"dir/"}, Dest: "/dst/"},
			want: map[string]string{"dst": "d755 0:0", "dst/a": "f644 0:0 =dA", "dst/sub": "d755 0:0", "dst/sub/b": "f644 0:0 =dB"},
		},
		{
			name: "context root into the image root",
			ctx:  []fsEnt{f(".dockerignore", "dir\n")},
			spec: CopySpec{Sources: []string{"."}, Dest: "/"},
			want: map[string]string{".dockerignore": "f644 0:0 =dir\n", "a.txt": "f644 0:0 =A", "b.txt": "f644 0:0 =B"},
		},
		{
			name: "file to a new name",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/x"},
			want: map[string]string{"x": "f644 0:0 =A"},
		},
		{
			name: "file into a directory written with a slash",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/x/"},
			want: map[string]string{"x": "d755 0:0", "x/a.txt": "f644 0:0 =A"},
		},
		{
			name: "file into a directory written with a dot",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/x/."},
			want: map[string]string{"x": "d755 0:0", "x/a.txt": "f644 0:0 =A"},
		},
		{
			name:   "file into a directory of lower",
			lower:  []fsEnt{dm("etc", 0o750)},
			owners: []owned{{"etc", 0, 42}},
			spec:   CopySpec{Sources: []string{"a.txt"}, Dest: "/etc"},
			want:   map[string]string{"etc": "d750 0:42", "etc/a.txt": "f644 0:0 =A"},
		},
		{
			name:  "file replaces a file of lower",
			lower: []fsEnt{f("x", "old")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/x"},
			want:  map[string]string{"x": "f644 0:0 =A"},
		},
		{
			name: "missing parents are made",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/p/q/r/f"},
			want: map[string]string{"p": "d755 0:0", "p/q": "d755 0:0", "p/q/r": "d755 0:0", "p/q/r/f": "f644 0:0 =A"},
		},
		{
			name: "chown and chmod apply to made parents",
			spec: CopySpec{Sources: []string{"a.txt", "dir"}, Dest: "/p/q/", Chown: owner(1000, 1001), Chmod: mode(0o640)},
			want: map[string]string{
				"p": "d640 1000:1001", "p/q": "d640 1000:1001", "p/q/a.txt": "f640 1000:1001 =A",
				"p/q/a": "f640 1000:1001 =dA", "p/q/sub": "d640 1000:1001", "p/q/sub/b": "f640 1000:1001 =dB",
			},
		},
		{
			name: "setuid chmod",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/x", Chmod: mode(0o755 | os.ModeSetuid | os.ModeSticky)},
			want: map[string]string{"x": "f5755 0:0 =A"},
		},
		{
			name:   "parents lower has are repeated with lower's metadata",
			lower:  []fsEnt{dm("home", 0o755), dm("home/app", 0o700)},
			owners: []owned{{"home/app", 1000, 1000}},
			spec:   CopySpec{Sources: []string{"a.txt"}, Dest: "/home/app/", Chown: owner(1000, 1000)},
			want:   map[string]string{"home": "d755 0:0", "home/app": "d700 1000:1000", "home/app/a.txt": "f644 1000:1000 =A"},
		},
		{
			name:  "destination through a symlink of lower (merged /usr)",
			lower: []fsEnt{d("usr/bin"), sl("bin", "usr/bin")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/bin/"},
			want:  map[string]string{"usr": "d755 0:0", "usr/bin": "d755 0:0", "usr/bin/a.txt": "f644 0:0 =A"},
		},
		{
			name:  "destination is a symlink to a directory",
			lower: []fsEnt{d("srv/data"), sl("data", "/srv/data")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/data"},
			want:  map[string]string{"srv": "d755 0:0", "srv/data": "d755 0:0", "srv/data/a.txt": "f644 0:0 =A"},
		},
		{
			name:  "destination symlink escaping the root is clamped",
			lower: []fsEnt{sl("up", "../../../../opt")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/up/"},
			want:  map[string]string{"opt": "d755 0:0", "opt/a.txt": "f644 0:0 =A"},
		},
		{
			name: "several sources need a slash",
			spec: CopySpec{Sources: []string{"a.txt", "b.txt"}, Dest: "/x"},
			err:  "When using COPY with more than one source file, the destination must be a directory and end with a /",
		},
		{
			name: "a glob matching several needs a slash",
			spec: CopySpec{Sources: []string{"*.txt"}, Dest: "/x"},
			err:  "When using COPY with more than one source file",
		},
		{
			name: "a glob matching one does not",
			spec: CopySpec{Sources: []string{"a*.txt"}, Dest: "/x"},
			want: map[string]string{"x": "f644 0:0 =A"},
		},
		{
			name: "several sources into a directory",
			spec: CopySpec{Sources: []string{"*.txt", "dir"}, Dest: "/x/"},
			want: map[string]string{
				"x": "d755 0:0", "x/a.txt": "f644 0:0 =A", "x/b.txt": "f644 0:0 =B",
				"x/a": "f644 0:0 =dA", "x/sub": "d755 0:0", "x/sub/b": "f644 0:0 =dB",
			},
		},
		{
			name: "a later source wins",
			ctx:  []fsEnt{f("other/a", "oA")},
			spec: CopySpec{Sources: []string{"dir", "other"}, Dest: "/x/"},
			want: map[string]string{"x": "d755 0:0", "x/a": "f644 0:0 =oA", "x/sub": "d755 0:0", "x/sub/b": "f644 0:0 =dB"},
		},
		{
			name: "symlinks inside a directory stay symlinks",
			ctx:  []fsEnt{sl("dir/passwd", "/etc/passwd"), sl("dir/rel", "../../a.txt")},
			spec: CopySpec{Sources: []string{"dir"}, Dest: "/d", Chmod: mode(0o600)},
			want: map[string]string{
				"d": "d600 0:0", "d/a": "f600 0:0 =dA", "d/passwd": "l>/etc/passwd 0:0",
				"d/rel": "l>../../a.txt 0:0", "d/sub": "d600 0:0", "d/sub/b": "f600 0:0 =dB",
			},
		},
		{
			name: "a symlink named as source is followed inside the context",
			ctx:  []fsEnt{sl("link", "a.txt"), sl("abs", "/dir/a")},
			spec: CopySpec{Sources: []string{"link", "abs"}, Dest: "/x/"},
			want: map[string]string{"x": "d755 0:0", "x/link": "f644 0:0 =A", "x/abs": "f644 0:0 =dA"},
		},
		{
			name: "a symlink to a directory named as source",
			ctx:  []fsEnt{sl("ldir", "./dir/")},
			spec: CopySpec{Sources: []string{"ldir"}, Dest: "/x"},
			want: map[string]string{"x": "d755 0:0", "x/a": "f644 0:0 =dA", "x/sub": "d755 0:0", "x/sub/b": "f644 0:0 =dB"},
		},
		{
			name: "hard links stay hard links",
			ctx:  []fsEnt{f("h/m", "same"), hl("h/z", "h/m"), hl("h/a", "h/m"), f("h/o", "other")},
			spec: CopySpec{Sources: []string{"h"}, Dest: "/h"},
			want: map[string]string{"h": "d755 0:0", "h/a": "f644 0:0 =same", "h/m": "h>h/a", "h/z": "h>h/a", "h/o": "f644 0:0 =other"},
		},
		{
			name: "a hard link outside the copied set is a file",
			ctx:  []fsEnt{f("h/m", "same"), hl("elsewhere", "h/m")},
			spec: CopySpec{Sources: []string{"h/m"}, Dest: "/m"},
			want: map[string]string{"m": "f644 0:0 =same"},
		},
		{
			name:  "directory over a file of lower",
			lower: []fsEnt{f("x", "")},
			spec:  CopySpec{Sources: []string{"dir"}, Dest: "/x"},
			err:   "cannot copy to non-directory: /x",
		},
		{
			name:  "nested directory over a symlink of lower",
			lower: []fsEnt{sl("x/sub", "/usr")},
			spec:  CopySpec{Sources: []string{"dir"}, Dest: "/x"},
			err:   "cannot copy to non-directory: /x/sub",
		},
		{
			name:  "file over a directory of lower",
			lower: []fsEnt{d("x/a")},
			spec:  CopySpec{Sources: []string{"dir"}, Dest: "/x"},
			err:   "cannot replace to directory /x/a with file",
		},
		{
			name:  "file source onto a directory of lower goes inside",
			lower: []fsEnt{d("x/a.txt")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/x/"},
			err:   "cannot replace to directory /x/a.txt with file",
		},
		{
			name:  "parent is a file of lower",
			lower: []fsEnt{f("x", "")},
			spec:  CopySpec{Sources: []string{"a.txt"}, Dest: "/x/y"},
			err:   "destination /x/y",
		},
		{
			name:   "directory onto a directory of lower keeps the top's metadata",
			lower:  []fsEnt{dm("app", 0o700), dm("app/sub", 0o700)},
			owners: []owned{{"app", 1000, 1000}, {"app/sub", 5, 5}},
			spec:   CopySpec{Sources: []string{"dir"}, Dest: "/app"},
			want:   map[string]string{"app": "d700 1000:1000", "app/a": "f644 0:0 =dA", "app/sub": "d755 0:0", "app/sub/b": "f644 0:0 =dB"},
		},
		{
			name: "exclude",
			ctx: []fsEnt{
				f("e/a.md", ""), f("e/b.txt", "b"), f("e/sub/c.md", ""), f("e/sub/d.txt", "d"),
				f("e/sub/e.txt", ""), d("e/keep"), f("e/keep/x.md", ""),
			},
			spec: CopySpec{Sources: []string{"e"}, Dest: "/e", Exclude: []string{"**/*.md", "sub", "!sub/d.txt"}},
			want: map[string]string{"e": "d755 0:0", "e/b.txt": "f644 0:0 =b", "e/keep": "d755 0:0", "e/sub": "d755 0:0", "e/sub/d.txt": "f644 0:0 =d"},
		},
		{
			name: "exclude does not apply to the source itself",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/x", Exclude: []string{"*.txt"}},
			want: map[string]string{"x": "f644 0:0 =A"},
		},
		{
			name: "ignored files are not copied",
			ctx: []fsEnt{
				f(".dockerignore", "secret\n!secret/pub\n*.log\nDockerfile\n"), f("Dockerfile", ""),
				f("secret/key", "k"), f("secret/pub", "p"), f("x.log", ""), f("sub/y.log", "y"),
			},
			spec: CopySpec{Sources: []string{"."}, Dest: "/app"},
			want: map[string]string{
				"app": "d755 0:0", "app/.dockerignore": "f644 0:0 =secret\n!secret/pub\n*.log\nDockerfile\n",
				"app/a.txt": "f644 0:0 =A", "app/b.txt": "f644 0:0 =B",
				"app/dir": "d755 0:0", "app/dir/a": "f644 0:0 =dA", "app/dir/sub": "d755 0:0", "app/dir/sub/b": "f644 0:0 =dB",
				"app/secret": "d755 0:0", "app/secret/pub": "f644 0:0 =p", "app/sub": "d755 0:0", "app/sub/y.log": "f644 0:0 =y",
			},
		},
		{
			name: "whiteout names are refused",
			ctx:  []fsEnt{f("w/.wh.x", "")},
			spec: CopySpec{Sources: []string{"w"}, Dest: "/w"},
			err:  `names starting with ".wh." cannot be stored`,
		},
		{
			name: "whiteout names are refused in the destination too",
			spec: CopySpec{Sources: []string{"a.txt"}, Dest: "/.wh.dir/x"},
			err:  `names starting with ".wh." cannot be stored`,
		},
		{
			name: "fifo",
			ctx:  []fsEnt{fifo("fifo")},
			spec: CopySpec{Sources: []string{"fifo"}, Dest: "/fifo", Chown: owner(3, 4)},
			want: map[string]string{"fifo": "p644 3:4"},
		},
		{
			name: "empty wildcard",
			spec: CopySpec{Sources: []string{"nomatch*"}, Dest: "/x/", AllowEmptyWildcard: true},
			want: map[string]string{},
		},
		{
			name: "missing source",
			spec: CopySpec{Sources: []string{"nosuch"}, Dest: "/x/"},
			err:  `"/nosuch": not found`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCtx(t, append(append([]fsEnt{}, baseCtx...), tt.ctx...)...)
			lower := newLower(t, tt.lower, tt.owners...)
			if tt.err != "" {
				_, err := c.WriteLayer(discard{}, tt.spec, lower)
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			ents, _ := layer(t, c, tt.spec, lower)
			got := map[string]string{}
			for name, e := range ents {
				got[name] = describe(e)
				h := e.hdr
				if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || h.ModTime.Nanosecond() != 0 {
					t.Errorf("%s: header has names, atime, ctime or sub-second mtime: %+v", name, h)
				}
			}
			for name, w := range tt.want {
				if got[name] != w {
					t.Errorf("%s = %q, want %q", name, got[name], w)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("unexpected entry %s (%s)", name, got[name])
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func TestLayerTimes(t *testing.T) {
	c := newCtx(t, append([]fsEnt{d("dir")}, baseCtx...)...)
	lowerDir := t.TempDir()
	mkTree(t, lowerDir, d("old"))
	lower := DirLower(lowerDir)
	before := time.Now().Truncate(time.Second)
	ents, _ := layer(t, c, CopySpec{Sources: []string{"a.txt"}, Dest: "/old/new/"}, lower)
	after := time.Now()
	if got := ents["old"].hdr.ModTime; !got.Equal(fileTime) {
		t.Errorf("lower directory mtime %v, want lower's %v", got, fileTime)
	}
	if got := ents["old/new"].hdr.ModTime; got.Before(before) || got.After(after) {
		t.Errorf("made directory mtime %v, want now", got)
	}
	if got := ents["old/new/a.txt"].hdr.ModTime; !got.Equal(fileTime) {
		t.Errorf("file mtime %v, want the source's %v", got, fileTime)
	}

	// The directory made for a directory source's contents gets its mtime.
	ents, _ = layer(t, c, CopySpec{Sources: []string{"dir"}, Dest: "/made/dst"}, lower)
	if got := ents["made/dst"].hdr.ModTime; !got.Equal(fileTime) {
		t.Errorf("destination directory mtime %v, want the source directory's %v", got, fileTime)
	}
	if got := ents["made"].hdr.ModTime; got.Before(before) {
		t.Errorf("made parent mtime %v, want now", got)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	epoch := time.Unix(1_600_000_000, 0)
	late := epoch.Add(48 * time.Hour)
	early := epoch.Add(-48 * time.Hour)
	mk := func() *Context {
		c := newCtx(t, f("dir/late", "L"), f("dir/early", "E"), sl("dir/link", "late"))
		for name, tm := range map[string]time.Time{"dir/late": late, "dir/early": early, "dir": late} {
			if err := os.Chtimes(filepath.Join(c.Dir(), name), tm, tm); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	spec := CopySpec{Sources: []string{"dir"}, Dest: "/a/b/", Time: &epoch}
	c1, c2 := mk(), mk()
	ents, d1 := layer(t, c1, spec, nil)
	for name, e := range ents {
		want := epoch
		if name == "a/b/early" {
			want = early
		}
		if !e.hdr.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", name, e.hdr.ModTime, want)
		}
	}
	// Another context with the same files, another run: the same bytes.
	time.Sleep(1100 * time.Millisecond)
	_, d2 := layer(t, c2, spec, nil)
	if d1 != d2 {
		t.Errorf("layers differ between runs: %s, %s", d1, d2)
	}
	// Content matters, though.
	os.WriteFile(filepath.Join(c2.Dir(), "dir/late"), []byte("M"), 0o644)
	os.Chtimes(filepath.Join(c2.Dir(), "dir/late"), late, late)
	if _, d3 := layer(t, c2, spec, nil); d3 == d1 {
		t.Error("a changed file gave the same layer")
	}
}

func TestSpecialNames(t *testing.T) {
	long := strings.Repeat("n", 200)
	names := []string{"with space", "new\nline", "ünïcödé", "-dash", `back\slash`, "tab\there", "q\"uote", long, "d/" + long}
	var ents []fsEnt
	for _, n := range names {
		ents = append(ents, f("s/"+n, n))
	}
	c := newCtx(t, ents...)
	got, _ := layer(t, c, CopySpec{Sources: []string{"s"}, Dest: "/s"}, nil)
	for _, n := range names {
		if e, ok := got["s/"+n]; !ok || e.body != n {
			t.Errorf("%q: got %+v", n, e)
		}
	}
	if len(got) != len(names)+2 { // s and s/d
		t.Errorf("got %d entries: %q", len(got), keys(got))
	}
}

func TestParseChmod(t *testing.T) {
	tests := []struct {
		in   string
		want os.FileMode
		err  bool
	}{
		{"644", 0o644, false},
		{"0755", 0o755, false},
		{"4755", 0o755 | os.ModeSetuid, false},
		{"7777", 0o777 | os.ModeSetuid | os.ModeSetgid | os.ModeSticky, false},
		{"0", 0, false},
		{"10000", 0, true},
		{"64a", 0, true},
		{"u+x", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseChmod(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseChmod(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid chmod parameter: '"+tt.in+"'. it should be octal string and between 0 and 07777") {
			t.Errorf("ParseChmod(%q) error %q", tt.in, err)
		}
	}
	// Unix special bits given directly are taken too.
	raw := os.FileMode(0o4750)
	if m, _ := (&CopySpec{Chmod: &raw}).unixMode(); m != 0o4750 {
		t.Errorf("unixMode(0o4750) = %o", m)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newCtx(t, append(append([]fsEnt{}, baseCtx...), f(".dockerignore", "b.txt\n"))...)
	epoch := time.Unix(1e9, 0)
	spec := CopySpec{Sources: []string{"."}, Dest: "/app/", Time: &epoch}
	want, err := c.Checksum(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, wantLayer := layer(t, c, spec, nil)
	done := make(chan error, 16)
	for i := range 16 {
		go func() {
			if i%2 == 0 {
				d, err := c.Checksum(spec)
				if err == nil && d != want {
					err = fmt.Errorf("checksum %s, want %s", d, want)
				}
				done <- err
				return
			}
			var buf strings.Builder
			_, err := c.WriteLayer(&buf, spec, nil)
			if d := digest.FromString(buf.String()); err == nil && d != wantLayer {
				err = fmt.Errorf("layer %s, want %s", d, wantLayer)
			}
			done <- err
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkWriteLayer200(b *testing.B) {
	dir := b.TempDir()
	var ents []fsEnt
	for i := range 200 {
		ents = append(ents, f(fmt.Sprintf("src/d%d/f%03d", i%10, i), fmt.Sprintf("%d%s", i, make([]byte, 16<<10))))
	}
	mkTree(b, dir, ents...)
	c, _ := FromDir(dir, "")
	defer c.Close()
	spec := CopySpec{Sources: []string{"src"}, Dest: "/src"}
	for b.Loop() {
		if _, err := c.WriteLayer(discard{}, spec, nil); err != nil {
			b.Fatal(err)
		}
	}
}
