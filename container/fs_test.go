package container

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostileRoot makes a container-like root with symlinks that lead out of
// it if followed on the host, and opens it as a RootFS.
func hostileRoot(t *testing.T) (string, *RootFS) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc", "tmp", "data"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"escape":       "/",
		"rel":          "../../../../../../..",
		"data/etclink": "/etc",
		"data/tmpdir":  "../../tmp",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &RootFS{fd: fd}
	t.Cleanup(func() { r.Close() })
	return root, r
}

// archiveBody archives p of r and returns the body of its single file.
func archiveBody(t *testing.T, r *RootFS, p string) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Archive(&b, p, "f"); err != nil {
		t.Fatalf("archive %s: %v", p, err)
	}
	tr := tar.NewReader(&b)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Typeflag != tar.TypeReg {
		t.Fatalf("archive %s: entry %q of type %c", p, hdr.Name, hdr.Typeflag)
	}
	body, _ := io.ReadAll(tr)
	return string(body)
}

func TestRootFSResolvesInside(t *testing.T) {
	t.Run("openat2", testRootFSResolvesInside)
	t.Run("securejoin", func(t *testing.T) {
		saved := haveOpenat2
		haveOpenat2 = func() bool { return false }
		defer func() { haveOpenat2 = saved }()
		testRootFSResolvesInside(t)
	})
}

func testRootFSResolvesInside(t *testing.T) {
	root, r := hostileRoot(t)
	for _, p := range []string{"/escape/etc/passwd", "/rel/etc/passwd", "/data/etclink/passwd", "escape/../../etc/passwd", "/../../etc/passwd"} {
		if got := archiveBody(t, r, p); got != "inside\n" {
			t.Errorf("%s: read %q, want the container's file", p, got)
		}
	}
	for p, want := range map[string]string{"/escape": "/", "/rel": "/", "/data/etclink": "/etc", "/data/tmpdir": "/tmp"} {
		st, err := r.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if st.Mode&fs.ModeSymlink == 0 || st.LinkTarget != want {
			t.Errorf("stat %s: mode %v, link target %q, want %q", p, st.Mode, st.LinkTarget, want)
		}
	}
	if st, err := r.Stat("/data/etclink/"); err != nil || !st.Mode.IsDir() {
		t.Errorf("a trailing slash follows the symlink: %v %v", st.Mode, err)
	}
	var nf *PathNotFoundError
	if _, err := r.Stat("/escape" + root + "/etc/passwd"); !errors.As(err, &nf) {
		t.Errorf("the host path of the root is not inside it: %v", err)
	}

	// Extracting through symlinks lands inside the root.
	name := "hull-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, dir := range []string{"/escape/tmp", "/rel/tmp", "/data/tmpdir"} {
		tarball := tarOf(t, file(name, "x"))
		if err := r.Extract(dir, bytes.NewReader(tarball), ExtractOptions{KeepOwner: true}); err != nil {
			t.Fatalf("extract into %s: %v", dir, err)
		}
		if _, err := os.Stat(filepath.Join(root, "tmp", name)); err != nil {
			t.Errorf("extract into %s: %v", dir, err)
		}
		os.Remove(filepath.Join(root, "tmp", name))
	}
	// Entries that go through a symlink or climb out are refused.
	for _, entry := range []string{"escape/tmp/" + name, "data/tmpdir/" + name, "../../../tmp/" + name} {
		err := r.Extract("/", bytes.NewReader(tarOf(t, file(entry, "x"))), ExtractOptions{KeepOwner: true})
		if err == nil {
			t.Errorf("extract of %q succeeded", entry)
		}
	}
	if _, err := os.Lstat(filepath.Join("/tmp", name)); err == nil {
		os.Remove(filepath.Join("/tmp", name))
		t.Fatalf("a file was written to the host's /tmp")
	}
	if err := r.Extract("/etc/passwd", bytes.NewReader(tarOf(t, file("x", ""))), ExtractOptions{}); !errors.Is(err, ErrExtractPointNotDirectory) {
		t.Errorf("extract into a file: %v", err)
	}
	if err := r.Extract("/nonexistent", bytes.NewReader(tarOf(t, file("x", ""))), ExtractOptions{}); !errors.As(err, &nf) {
		t.Errorf("extract into a missing directory: %v", err)
	}
}

func TestExtractOwnersAndOverwrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	root, r := hostileRoot(t)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "owned", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 1234, Gid: 5678},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	for _, keep := range []bool{false, true} {
		if err := r.Extract("/tmp", bytes.NewReader(b.Bytes()), ExtractOptions{KeepOwner: keep}); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, "tmp/owned"), &st); err != nil {
			t.Fatal(err)
		}
		want := uint32(0)
		if keep {
			want = 1234
		}
		if st.Uid != want {
			t.Errorf("KeepOwner %v: uid %d, want %d", keep, st.Uid, want)
		}
	}
	// Docker's NoOverwriteDirNonDir.
	if err := r.Extract("/", bytes.NewReader(tarOf(t, file("etc", "x"))), ExtractOptions{}); err == nil {
		t.Error("a file replaced a directory")
	}
	if err := r.Extract("/etc", bytes.NewReader(tarOf(t, dir("passwd"))), ExtractOptions{}); err == nil {
		t.Error("a directory replaced a file")
	}
}

func TestPrepareCopy(t *testing.T) {
	for _, c := range []struct {
		src, dst       CopyInfo
		dir, name, err string
	}{
		{src: CopyInfo{Path: "/a/file"}, dst: CopyInfo{Path: "/d", Exists: true, IsDir: true}, dir: "/d", name: "file"},
		{src: CopyInfo{Path: "/a/file"}, dst: CopyInfo{Path: "/d/new"}, dir: "/d", name: "new"},
		{src: CopyInfo{Path: "/a/file"}, dst: CopyInfo{Path: "/d/new/"}, err: "no such directory"},
		{src: CopyInfo{Path: "/a/file"}, dst: CopyInfo{Path: "/d/f", Exists: true}, dir: "/d", name: "f"},
		{src: CopyInfo{Path: "/a/dir", IsDir: true}, dst: CopyInfo{Path: "/d/f", Exists: true}, err: "cannot copy directory"},
		{src: CopyInfo{Path: "/a/dir", IsDir: true}, dst: CopyInfo{Path: "/d", Exists: true, IsDir: true}, dir: "/d", name: "dir"},
		{src: CopyInfo{Path: "/a/dir/.", IsDir: true}, dst: CopyInfo{Path: "/d", Exists: true, IsDir: true}, dir: "/d", name: "."},
		{src: CopyInfo{Path: "/a/dir/.", IsDir: true}, dst: CopyInfo{Path: "/d/new"}, dir: "/d", name: "new"},
		{src: CopyInfo{Path: "/a/dir", IsDir: true}, dst: CopyInfo{Path: "/d/new"}, dir: "/d", name: "new"},
		{src: CopyInfo{Path: "/a/target", RebaseName: "link"}, dst: CopyInfo{Path: "/d", Exists: true, IsDir: true}, dir: "/d", name: "link"},
		{src: CopyInfo{Path: "/", IsDir: true}, dst: CopyInfo{Path: "/d", Exists: true, IsDir: true}, dir: "/d", name: "."},
	} {
		dir, name, err := PrepareCopy(c.src, c.dst)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%+v → %+v: error %v, want %q", c.src, c.dst, err, c.err)
			}
			continue
		}
		if err != nil || dir != c.dir || name != c.name {
			t.Errorf("%+v → %+v: %q %q %v, want %q %q", c.src, c.dst, dir, name, err, c.dir, c.name)
		}
	}
	for _, c := range [][3]string{
		{"/a/link", "/x/target", "link"},
		{"/a/link/", "/x/target", "link"},
		{"/a/target", "/x/target", ""},
	} {
		if _, rebase := RebaseName(c[0], c[1]); rebase != c[2] {
			t.Errorf("RebaseName(%q, %q) = %q, want %q", c[0], c[1], rebase, c[2])
		}
	}
	for p, want := range map[string]string{"/etc": "etc", "/etc/": "etc", "/etc/.": ".", "/": ".", "a/b": "b"} {
		if got := ArchiveName(p); got != want {
			t.Errorf("ArchiveName(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestHostRoundTrip archives a host tree and extracts it elsewhere, as cp
// does on the host side.
func TestHostRoundTrip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "d/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d/sub/f"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "d/sub/f"), filepath.Join(src, "d/hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(src, "d/link")); err != nil {
		t.Fatal(err)
	}
	info, err := HostSourceInfo(filepath.Join(src, "d"), false)
	if err != nil || !info.IsDir {
		t.Fatalf("source info: %+v %v", info, err)
	}
	var b bytes.Buffer
	if err := ArchiveHost(&b, info, "copy"); err != nil {
		t.Fatal(err)
	}
	if got, want := tarNames(t, b.Bytes()), []string{"copy/", "copy/hard", "copy/link", "copy/sub/", "copy/sub/f"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	dst := t.TempDir()
	if err := ExtractHost(dst, bytes.NewReader(b.Bytes())); err != nil {
		t.Fatal(err)
	}
	if body, err := os.ReadFile(filepath.Join(dst, "copy/link")); err != nil || string(body) != "hello" {
		t.Errorf("copied tree: %q %v", body, err)
	}
	var a, h unix.Stat_t
	if unix.Stat(filepath.Join(dst, "copy/sub/f"), &a) != nil || unix.Stat(filepath.Join(dst, "copy/hard"), &h) != nil || a.Ino != h.Ino {
		t.Error("hard link not kept")
	}
	if _, err := HostDestInfo(filepath.Join(dst, "missing/x")); err == nil {
		t.Error("a destination whose parent is missing was accepted")
	}
	if di, err := HostDestInfo(filepath.Join(dst, "copy")); err != nil || !di.Exists || !di.IsDir {
		t.Errorf("destination info: %+v %v", di, err)
	}
}
