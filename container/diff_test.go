package container

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/snapshot"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// tent is one entry of a test tar.
type tent struct {
	name, body, link string
	typ              byte
}

func tarOf(t *testing.T, entries ...tent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mt := time.Unix(946684800, 0)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, ModTime: mt, Linkname: e.link}
		switch e.typ {
		case tar.TypeDir:
			hdr.Mode = 0o755
		case tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func dir(name string) tent        { return tent{name: name, typ: tar.TypeDir} }
func file(name, body string) tent { return tent{name: name, body: body, typ: tar.TypeReg} }

// unpack stores a layer made of entries and returns its diffID.
func unpack(t *testing.T, snaps *snapshot.Store, entries ...tent) digest.Digest {
	t.Helper()
	b := tarOf(t, entries...)
	d := digest.FromBytes(b)
	if _, err := snaps.Unpack(context.Background(), d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return d
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
}

// TestChanges builds a two-layer image and a writable layer by hand, the
// way overlayfs leaves it, and checks the changes and the layer tar that
// commit makes of it.
func TestChanges(t *testing.T) {
	testutil.RequireRoot(t) // whiteouts (mknod) and trusted.* xattrs
	root := t.TempDir()
	snaps, err := snapshot.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	bottom := unpack(t, snaps,
		dir("bin"), file("bin/ls", "ls"), file("bin/sh", "sh"),
		dir("etc"), file("etc/passwd", "root"), file("etc/group", "root"),
		dir("opt"), file("opt/a", "a"), file("opt/b", "b"), dir("opt/d"), file("opt/d/e", "e"),
		dir("usr"), dir("var"), file("var/x", "x"),
		tent{name: "link", link: "/etc", typ: tar.TypeSymlink},
	)
	top := unpack(t, snaps, dir("var"), file("var/.wh.x", ""), dir("srv"), file("srv/.wh..wh..opq", ""))
	s, err := Open(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{Image: "test", Layers: []digest.Digest{bottom, top}}
	if err := s.Create(rec); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(s.Dir(rec.ID), "diff")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(p string) { must(os.MkdirAll(filepath.Join(upper, p), 0o755)) }
	write := func(p, body string) { must(os.WriteFile(filepath.Join(upper, p), []byte(body), 0o644)) }
	for _, d := range []string{"bin", "etc", "opt", "usr", "var", "a/b"} {
		mkdir(d)
	}
	must(unix.Mknod(filepath.Join(upper, "bin/ls"), unix.S_IFCHR, 0)) // rm /bin/ls
	write("etc/passwd", "root\nx\n")                                  // echo x >> /etc/passwd
	write("etc/hosts", "")                                            // an init mount point: left out
	write("new", "")                                                  // touch /new
	write("opt/a", "A")                                               // rm -rf /opt; mkdir /opt; …
	write("opt/new", "")
	must(unix.Setxattr(filepath.Join(upper, "opt"), "trusted.overlay.opaque", []byte("y"), 0))
	write("var/x", "again") // whited out by the top layer: new again
	write("a/b/c", "")
	// /usr copied up without changes: same metadata as the image's.
	var st unix.Stat_t
	must(unix.Stat(filepath.Join(snaps.Path(bottom), "usr"), &st))
	must(unix.UtimesNano(filepath.Join(upper, "usr"), []unix.Timespec{st.Atim, st.Mtim}))

	changes, err := s.Changes(snaps, rec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.Kind.String()+" "+c.Path)
	}
	want := []string{
		"A /a", "A /a/b", "A /a/b/c",
		"C /bin", "D /bin/ls",
		"C /etc", "C /etc/passwd",
		"A /new",
		"C /opt", "C /opt/a", "D /opt/b", "D /opt/d", "A /opt/new",
		"C /var", "A /var/x",
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	d, err := s.diffLayer(snaps, rec)
	if err != nil {
		t.Fatal(err)
	}
	ufd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ufd)
	var b bytes.Buffer
	if _, err := d.writeLayer(ufd, &b); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, b.Bytes())
	wantNames := []string{
		"a/", "a/b/", "a/b/c",
		"bin/", "bin/.wh.ls",
		"etc/", "etc/passwd",
		"new",
		"opt/", "opt/.wh..wh..opq", "opt/a", "opt/new",
		"var/", "var/x",
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("layer entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
	}
	// The layer applies on top of the image as the container sees it.
	layer := digest.FromBytes(b.Bytes())
	if _, err := snaps.Unpack(context.Background(), layer, bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("unpack the committed layer: %v", err)
	}
	var wst unix.Stat_t
	if err := unix.Lstat(filepath.Join(snaps.Path(layer), "bin/ls"), &wst); err != nil || !isWhiteout(&wst) {
		t.Errorf("bin/ls is no whiteout in the committed layer: %v", err)
	}
}

func TestComparePaths(t *testing.T) {
	paths := []string{"/etc-x", "/etc/passwd", "/etc", "/a/b", "/a", "/etc/p"}
	slices.SortFunc(paths, comparePaths)
	want := []string{"/a", "/a/b", "/etc", "/etc/p", "/etc/passwd", "/etc-x"}
	if !slices.Equal(paths, want) {
		t.Errorf("sorted %q, want %q", paths, want)
	}
}

func TestChangeKind(t *testing.T) {
	if Modified.String() != "C" || Added.String() != "A" || Deleted.String() != "D" {
		t.Errorf("kinds: %s %s %s", Modified, Added, Deleted)
	}
}
