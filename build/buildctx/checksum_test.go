package buildctx

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sumCtx is the context of the checksum tests.
var sumCtx = []fsEnt{
	f(".dockerignore", "dir/ignored*\ndir/secret\n!dir/secret/shown\n"),
	f("a.txt", "A"), f("b.txt", "B"),
	f("dir/x", "X"), f("dir/y", "Y"), sl("dir/link", "x"),
	f("dir/ignored.log", "I"), f("dir/secret/hidden", "H"), f("dir/secret/shown", "S"),
}

func TestChecksumChanges(t *testing.T) {
	spec := CopySpec{Sources: []string{"dir", "a.txt"}, Dest: "/x/"}
	at := func(p string) func(dir string) string {
		return func(dir string) string { return filepath.Join(dir, p) }
	}
	tests := []struct {
		name    string
		spec    *CopySpec
		mutate  func(t *testing.T, dir string)
		changes bool
	}{
		{"nothing", nil, func(t *testing.T, dir string) {}, false},
		{"ignored file changed", nil, func(t *testing.T, dir string) { os.WriteFile(at("dir/ignored.log")(dir), []byte("new"), 0o644) }, false},
		{"ignored file added", nil, func(t *testing.T, dir string) { os.WriteFile(at("dir/ignored2")(dir), nil, 0o644) }, false},
		{"hidden file in an ignored dir changed", nil, func(t *testing.T, dir string) { os.WriteFile(at("dir/secret/hidden")(dir), []byte("h2"), 0o644) }, false},
		{"unselected file changed", nil, func(t *testing.T, dir string) { os.WriteFile(at("b.txt")(dir), []byte("B2"), 0o644) }, false},
		{"mtime only", nil, func(t *testing.T, dir string) {
			os.Chtimes(at("dir/x")(dir), time.Now(), time.Now())
		}, false},
		{"owner only", nil, func(t *testing.T, dir string) { os.Chown(at("dir/x")(dir), 5, 5) }, false},
		{"one byte, same size and mtime", nil, func(t *testing.T, dir string) {
			os.WriteFile(at("dir/x")(dir), []byte("Z"), 0o644)
			os.Chtimes(at("dir/x")(dir), fileTime, fileTime)
		}, true},
		{"top file content", nil, func(t *testing.T, dir string) { os.WriteFile(at("a.txt")(dir), []byte("AA"), 0o644) }, true},
		{"mode", nil, func(t *testing.T, dir string) { os.Chmod(at("dir/x")(dir), 0o600) }, true},
		{"mode under --chmod", &CopySpec{Sources: []string{"dir"}, Dest: "/x/", Chmod: mode(0o644)}, func(t *testing.T, dir string) { os.Chmod(at("dir/x")(dir), 0o600) }, false},
		{"directory mode", nil, func(t *testing.T, dir string) { os.Chmod(at("dir/secret")(dir), 0o700) }, true},
		{"file added", nil, func(t *testing.T, dir string) { os.WriteFile(at("dir/new")(dir), nil, 0o644) }, true},
		{"file removed", nil, func(t *testing.T, dir string) { os.Remove(at("dir/y")(dir)) }, true},
		{"file renamed", nil, func(t *testing.T, dir string) { os.Rename(at("dir/y")(dir), at("dir/z")(dir)) }, true},
		{"symlink target", nil, func(t *testing.T, dir string) {
			os.Remove(at("dir/link")(dir))
			os.Symlink("y", at("dir/link")(dir))
		}, true},
		{"files become hard links", nil, func(t *testing.T, dir string) {
			os.WriteFile(at("dir/y")(dir), []byte("X"), 0o644)
			c1 := sumOf(t, dir, spec)
			os.Remove(at("dir/y")(dir))
			os.Link(at("dir/x")(dir), at("dir/y")(dir))
			if sumOf(t, dir, spec) == c1 {
				t.Error("hard link made no difference")
			}
		}, true},
		{"file an exception shows", nil, func(t *testing.T, dir string) { os.WriteFile(at("dir/secret/shown")(dir), []byte("S2"), 0o644) }, true},
		{"glob gains a match", &CopySpec{Sources: []string{"*.txt"}, Dest: "/x/"}, func(t *testing.T, dir string) { os.WriteFile(at("c.txt")(dir), nil, 0o644) }, true},
		{"excluded file changed", &CopySpec{Sources: []string{"dir"}, Dest: "/x/", Exclude: []string{"y"}}, func(t *testing.T, dir string) { os.WriteFile(at("dir/y")(dir), []byte("Y2"), 0o644) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec
			if tt.spec != nil {
				s = *tt.spec
			}
			c := newCtx(t, sumCtx...)
			before, err := c.Checksum(s)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(t, c.Dir())
			after, err := c.Checksum(s)
			if err != nil {
				t.Fatal(err)
			}
			if changed := before != after; changed != tt.changes {
				t.Errorf("checksum changed = %v, want %v", changed, tt.changes)
			}
			// A fresh context (no cached digests) agrees.
			if fresh := sumOf(t, c.Dir(), s); fresh != after.String() {
				t.Errorf("fresh context: %s, cached: %s", fresh, after)
			}
		})
	}
}

func sumOf(t *testing.T, dir string, spec CopySpec) string {
	t.Helper()
	c, err := FromDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Checksum(spec)
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestChecksumSpec(t *testing.T) {
	c := newCtx(t, sumCtx...)
	epoch := time.Unix(1e9, 0)
	base := CopySpec{Sources: []string{"dir"}, Dest: "/x/"}
	variants := []CopySpec{
		base,
		{Sources: []string{"dir"}, Dest: "/y/"},
		{Sources: []string{"dir"}, Dest: "/x"},
		{Sources: []string{"dir"}, Dest: "/x/", Chown: owner(0, 0)}, // explicit 0:0 is the default
		{Sources: []string{"dir"}, Dest: "/x/", Chown: owner(1, 0)},
		{Sources: []string{"dir"}, Dest: "/x/", Chmod: mode(0o644)},
		{Sources: []string{"dir"}, Dest: "/x/", Extract: true},
		{Sources: []string{"dir"}, Dest: "/x/", Exclude: []string{"nomatch"}},
		{Sources: []string{"dir"}, Dest: "/x/", Time: &epoch},
		{Sources: []string{"dir", "a.txt"}, Dest: "/x/"},
		{Sources: []string{"a.txt", "dir"}, Dest: "/x/"},
		{Sources: []string{"a.txt"}, Dest: "/x/"},
		{Sources: []string{"b.txt"}, Dest: "/x/"},
	}
	seen := map[string]int{}
	for i, s := range variants {
		d, err := c.Checksum(s)
		if err != nil {
			t.Fatal(err)
		}
		if j, ok := seen[d.String()]; ok && !(i == 3 && j == 0) {
			t.Errorf("variants %d and %d have the same checksum", j, i)
		}
		if i == 3 && seen[d.String()] != 0 {
			t.Error("explicit 0:0 differs from the default owner")
		}
		seen[d.String()] = i
	}
	if _, err := c.Checksum(CopySpec{Sources: []string{"nosuch"}, Dest: "/"}); !isNotFound(err, "/nosuch") {
		t.Errorf("missing source: %v", err)
	}
}

func TestChecksumDeterministic(t *testing.T) {
	c1 := newCtx(t, sumCtx...)
	c2 := newCtx(t, sumCtx...)
	os.Chtimes(filepath.Join(c2.Dir(), "dir/x"), time.Now(), time.Now())
	spec := CopySpec{Sources: []string{"."}, Dest: "/"}
	d1, err1 := c1.Checksum(spec)
	d2, err2 := c2.Checksum(spec)
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Errorf("same files, different contexts: %s %v, %s %v", d1, err1, d2, err2)
	}
	// Golden: the digest of given files is the same in every run and on
	// every host; change checksumVersion when the layout changes.
	c3 := newCtx(t, f("f", "content"), d("d"), fm("d/x", "x", 0o755), sl("d/l", "x"))
	d3, err := c3.Checksum(CopySpec{Sources: []string{"f", "d"}, Dest: "/f/"})
	if err != nil {
		t.Fatal(err)
	}
	if d3.String() != goldenChecksum {
		t.Errorf("checksum %s, want %s", d3, goldenChecksum)
	}
}

const goldenChecksum = "sha256:67ae2059ea4cdb128e0422f82b283a5c6ed9e502ad0e362a8cffaf74d72a237d"

func TestChecksumCache(t *testing.T) {
	ents := []fsEnt{}
	for i := range 200 {
		ents = append(ents, f(fmt.Sprintf("src/d%d/f%03d", i%10, i), fmt.Sprintf("content %d %s", i, string(make([]byte, 4096)))))
	}
	c := newCtx(t, ents...)
	spec := CopySpec{Sources: []string{"src"}, Dest: "/src"}
	start := time.Now()
	d1, err := c.Checksum(spec)
	cold := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.hashed.Load(); n != 200 {
		t.Errorf("cold: hashed %d files, want 200", n)
	}
	start = time.Now()
	d2, err := c.Checksum(spec)
	warm := time.Since(start)
	if err != nil || d1 != d2 {
		t.Fatalf("warm: %s %v, want %s", d2, err, d1)
	}
	if n := c.hashed.Load(); n != 200 {
		t.Errorf("warm: hashed %d more files", n-200)
	}
	t.Logf("200 files of 4 KiB: cold %v, warm %v", cold, warm)

	os.WriteFile(filepath.Join(c.Dir(), "src/d3/f013"), []byte("changed"), 0o644)
	d3, err := c.Checksum(spec)
	if err != nil || d3 == d1 {
		t.Fatalf("after a change: %s %v", d3, err)
	}
	if n := c.hashed.Load(); n != 201 {
		t.Errorf("after a change: hashed %d files, want 1", n-200)
	}
}

func BenchmarkChecksum200(b *testing.B) {
	dir := b.TempDir()
	var ents []fsEnt
	for i := range 200 {
		ents = append(ents, f(fmt.Sprintf("src/d%d/f%03d", i%10, i), fmt.Sprintf("%d%s", i, make([]byte, 16<<10))))
	}
	mkTree(b, dir, ents...)
	spec := CopySpec{Sources: []string{"src"}, Dest: "/src"}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			c, _ := FromDir(dir, "")
			if _, err := c.Checksum(spec); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("warm", func(b *testing.B) {
		c, _ := FromDir(dir, "")
		defer c.Close()
		c.Checksum(spec)
		for b.Loop() {
			if _, err := c.Checksum(spec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
