package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// unpackLayers stores each tar as a snapshot and returns their paths, top
// first, as a container's lowerdir list.
func unpackLayers(t *testing.T, s *Store, tars ...[]byte) []string {
	t.Helper()
	var lower []string
	for _, b := range tars {
		d := digest.FromBytes(b)
		if _, err := s.Unpack(context.Background(), d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		lower = append([]string{s.Path(d)}, lower...)
	}
	return lower
}

func TestOverlayMergesLayers(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	lower := unpackLayers(t, s,
		mkTar(t, dir("etc"), file("etc/a", "base"), file("etc/keep", "k"), dir("data"), file("data/old", "o")),
		mkTar(t, file("etc/.wh.a", ""), dir("data"), file("data/.wh..wh..opq", ""), file("data/new", "n")),
		mkTar(t, file("etc/b", "top")),
	)
	for _, mode := range []string{"new", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			c := t.TempDir()
			o := Overlay{Lower: lower, Upper: filepath.Join(c, "upper"), Work: filepath.Join(c, "work")}
			os.Mkdir(o.Upper, 0o755)
			os.Mkdir(o.Work, 0o755)
			target := filepath.Join(c, "merged")
			os.Mkdir(target, 0o755)
			var err error
			if mode == "new" {
				err = o.Mount(target)
			} else {
				err = o.mountLegacy(target)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer Unmount(target)
			if _, err := os.Stat(filepath.Join(target, "etc/a")); !os.IsNotExist(err) {
				t.Errorf("whited-out etc/a is visible: %v", err)
			}
			if got := readFile(t, filepath.Join(target, "etc/b")); got != "top" {
				t.Errorf("etc/b = %q", got)
			}
			if got := readFile(t, filepath.Join(target, "etc/keep")); got != "k" {
				t.Errorf("etc/keep = %q", got)
			}
			if got := names(t, filepath.Join(target, "data")); fmt.Sprint(got) != "[new]" {
				t.Errorf("opaque data/ shows %v, want [new]", got)
			}
			if err := os.WriteFile(filepath.Join(target, "etc/c"), []byte("w"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(o.Upper, "etc/c")); got != "w" {
				t.Errorf("write did not land in the upper dir: %q", got)
			}
			// The snapshots themselves stay untouched.
			for _, l := range lower {
				if _, err := os.Stat(filepath.Join(l, "etc/c")); err == nil {
					t.Errorf("write leaked into snapshot %s", l)
				}
			}
		})
	}
}

func TestOverlayManyLayers(t *testing.T) {
	requireRoot(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var tars [][]byte
	for i := 0; i < 120; i++ {
		tars = append(tars, mkTar(t, file(fmt.Sprintf("f%03d", i), fmt.Sprint(i))))
	}
	lower := unpackLayers(t, s, tars...)
	for _, mode := range []string{"new", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			c := t.TempDir()
			target := filepath.Join(c, "merged")
			os.Mkdir(target, 0o755)
			o := Overlay{Lower: lower}
			var err error
			if mode == "new" {
				err = o.Mount(target)
			} else {
				err = o.mountLegacy(target)
			}
			if err != nil {
				t.Fatalf("%d layers: %v", len(lower), err)
			}
			defer Unmount(target)
			if n := len(names(t, target)); n != 120 {
				t.Fatalf("merged view has %d files, want 120", n)
			}
			if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
				t.Fatal("a read-only overlay accepted a write")
			}
		})
	}
}

func TestOverlayBadInput(t *testing.T) {
	if err := (Overlay{}).Mount(t.TempDir()); err == nil {
		t.Fatal("mount with no layers succeeded")
	}
	if err := (Overlay{Lower: []string{"/a"}, Upper: "/u"}).Mount(t.TempDir()); err == nil {
		t.Fatal("mount with an upper but no work dir succeeded")
	}
}

// An image with the same layer twice (two steps that made the same
// change) mounts: overlayfs refuses a directory twice, so the lower copy
// is dropped, which shows the same files.
func TestOverlayDuplicateLayer(t *testing.T) {
	requireRoot(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := mkTar(t, file("a", "1"))
	b := mkTar(t, file("a", "2"), file("b", "b"))
	lower := unpackLayers(t, s, a, b, a) // a, then b, then a again
	target := filepath.Join(t.TempDir(), "m")
	os.Mkdir(target, 0o755)
	if err := (Overlay{Lower: lower}).Mount(target); err != nil {
		t.Fatalf("mount with a duplicate layer: %v", err)
	}
	defer Unmount(target)
	if got, _ := os.ReadFile(filepath.Join(target, "a")); string(got) != "1" {
		t.Errorf("a = %q, want the top layer's 1", got)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "b")); string(got) != "b" {
		t.Errorf("b = %q", got)
	}
}
