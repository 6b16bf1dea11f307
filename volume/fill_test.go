package volume

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	"golang.org/x/sys/unix"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readMetaFile(t *testing.T, s *Store, name string) meta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(), name, metaFile))
	if err != nil {
		t.Fatal(err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestFillOnce covers when Fill copies, without needing root.
func TestFillOnce(t *testing.T) {
	s, root := openStore(t)
	rootfs := filepath.Join(root, "rootfs")
	writeFile(t, filepath.Join(rootfs, "data", "a"), "A", 0o644)
	writeFile(t, filepath.Join(rootfs, "data", "sub", "b"), "B", 0o600)

	v := mustCreate(t, s, "vol", CreateOptions{})
	if err := s.Fill("vol", rootfs, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, v.Mountpoint); !slices.Equal(got, []string{"a", "sub"}) {
		t.Errorf("filled with %v", got)
	}
	if m := readMetaFile(t, s, "vol"); !m.Filled || m.FillStarted {
		t.Errorf("meta after fill: %+v", m)
	}
	// Emptied by its user: not filled again.
	if err := emptyDir(v.Mountpoint); err != nil {
		t.Fatal(err)
	}
	if err := s.Fill("vol", rootfs, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, v.Mountpoint); len(got) != 0 {
		t.Errorf("refilled: %v", got)
	}

	// Not empty: left alone, and marked filled.
	v2 := mustCreate(t, s, "vol2", CreateOptions{})
	writeFile(t, filepath.Join(v2.Mountpoint, "mine"), "x", 0o644)
	if err := s.Fill("vol2", rootfs, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, v2.Mountpoint); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("non-empty volume filled: %v", got)
	}
	if m := readMetaFile(t, s, "vol2"); !m.Filled {
		t.Errorf("meta: %+v", m)
	}

	// Nothing at the path, or a file there: marked filled.
	for _, p := range []string{"/nosuch", "/data/a"} {
		v3 := mustCreate(t, s, "vol3", CreateOptions{})
		if err := s.Fill("vol3", rootfs, p); err != nil {
			t.Fatal(err)
		}
		if m := readMetaFile(t, s, "vol3"); !m.Filled || len(dirNames(t, v3.Mountpoint)) != 0 {
			t.Errorf("fill from %s: %+v", p, m)
		}
		if err := s.Remove("vol3", false, nil); err != nil {
			t.Fatal(err)
		}
	}

	// A fill a crash interrupted starts over.
	v4 := mustCreate(t, s, "vol4", CreateOptions{})
	m := readMetaFile(t, s, "vol4")
	m.FillStarted = true
	if err := s.writeMeta(filepath.Join(s.Dir(), "vol4"), &m); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(v4.Mountpoint, "partial"), "half", 0o644)
	if err := s.Fill("vol4", rootfs, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, v4.Mountpoint); !slices.Equal(got, []string{"a", "sub"}) {
		t.Errorf("interrupted fill redone as %v", got)
	}

	if err := s.Fill("nosuch", rootfs, "/data"); !errors.Is(err, ErrNotFound) {
		t.Errorf("fill missing volume: %v", err)
	}
}

// TestFill checks what Fill copies: every file type, owners, modes, times,
// hard links, xattrs, and that symlinks cannot take it out of the rootfs.
func TestFill(t *testing.T) {
	testutil.RequireRoot(t)
	s, root := openStore(t)
	rootfs := filepath.Join(root, "rootfs")
	outside := filepath.Join(root, "outside")
	writeFile(t, filepath.Join(outside, "secret"), "host secret", 0o600)
	data := filepath.Join(rootfs, "var", "lib", "db")
	writeFile(t, filepath.Join(data, "file"), "content", 0o640)
	writeFile(t, filepath.Join(data, "setuid"), "suid", os.ModeSetuid|0o755)
	writeFile(t, filepath.Join(data, "ro", "inner"), "in a read-only dir", 0o444)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(data, "ro"), 0o555))
	must(os.Chmod(data, 0o700))
	must(os.Chown(data, 999, 998))
	must(os.Lchown(filepath.Join(data, "file"), 1000, 1001))
	must(os.Link(filepath.Join(data, "file"), filepath.Join(data, "hardlink")))
	must(os.Symlink("/etc/passwd", filepath.Join(data, "abs-link")))
	must(os.Symlink("../../../../outside/secret", filepath.Join(data, "rel-link")))
	must(os.Lchown(filepath.Join(data, "abs-link"), 5, 6))
	must(unix.Mknod(filepath.Join(data, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mkfifo(filepath.Join(data, "fifo"), 0o620))
	must(os.Chmod(filepath.Join(data, "null"), 0o666)) // no umask
	must(os.Chmod(filepath.Join(data, "fifo"), 0o620))
	xattrOK := unix.Setxattr(filepath.Join(data, "file"), "user.test", []byte("value"), 0) == nil
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(os.Chtimes(filepath.Join(data, "file"), old, old))
	must(os.Chtimes(filepath.Join(data, "ro"), old, old))
	// Symlinks that try to lead the fill out of the rootfs.
	must(os.Symlink("/../../../outside", filepath.Join(rootfs, "escape")))
	must(os.Symlink("../../../outside", filepath.Join(rootfs, "escape2")))
	must(os.Symlink("/var/lib/db", filepath.Join(rootfs, "dblink")))

	v := mustCreate(t, s, "db", CreateOptions{})
	must(s.Fill("db", rootfs, "/var/lib/db"))
	dst := v.Mountpoint

	stat := func(name string) *unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, name), &st); err != nil {
			t.Fatalf("lstat %s: %v", name, err)
		}
		return &st
	}
	if st := stat(""); st.Mode&0o7777 != 0o700 || st.Uid != 999 || st.Gid != 998 {
		t.Errorf("data dir: mode %o owner %d:%d, want the image dir's 700 999:998", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "file")); err != nil || string(b) != "content" {
		t.Errorf("file: %q %v", b, err)
	}
	st := stat("file")
	if st.Mode&0o7777 != 0o640 || st.Uid != 1000 || st.Gid != 1001 || time.Unix(st.Mtim.Unix()).UTC() != old {
		t.Errorf("file: mode %o owner %d:%d mtime %v", st.Mode&0o7777, st.Uid, st.Gid, time.Unix(st.Mtim.Unix()).UTC())
	}
	if hl := stat("hardlink"); hl.Ino != st.Ino || st.Nlink != 2 {
		t.Errorf("hard link not kept: inode %d vs %d, nlink %d", hl.Ino, st.Ino, st.Nlink)
	}
	if st := stat("setuid"); st.Mode&0o7777 != 0o4755 {
		t.Errorf("setuid: mode %o", st.Mode&0o7777)
	}
	if st := stat("ro"); st.Mode&0o7777 != 0o555 || time.Unix(st.Mtim.Unix()).UTC() != old {
		t.Errorf("ro dir: mode %o mtime %v", st.Mode&0o7777, time.Unix(st.Mtim.Unix()).UTC())
	}
	if b, err := os.ReadFile(filepath.Join(dst, "ro", "inner")); err != nil || string(b) != "in a read-only dir" {
		t.Errorf("ro/inner: %q %v", b, err)
	}
	for link, target := range map[string]string{"abs-link": "/etc/passwd", "rel-link": "../../../../outside/secret"} {
		if got, err := os.Readlink(filepath.Join(dst, link)); err != nil || got != target {
			t.Errorf("%s -> %q %v", link, got, err)
		}
	}
	if st := stat("abs-link"); st.Uid != 5 || st.Gid != 6 {
		t.Errorf("symlink owner %d:%d", st.Uid, st.Gid)
	}
	if st := stat("null"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) || st.Mode&0o777 != 0o666 {
		t.Errorf("device node: mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := stat("fifo"); st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o777 != 0o620 {
		t.Errorf("fifo: mode %o", st.Mode)
	}
	if xattrOK {
		buf := make([]byte, 64)
		if n, err := unix.Getxattr(filepath.Join(dst, "file"), "user.test", buf); err != nil || string(buf[:n]) != "value" {
			t.Errorf("xattr: %q %v", buf[:n], err)
		}
	}

	// Through a symlink inside the rootfs: fine.
	v2 := mustCreate(t, s, "vialink", CreateOptions{})
	must(s.Fill("vialink", rootfs, "/dblink"))
	if _, err := os.Stat(filepath.Join(v2.Mountpoint, "file")); err != nil {
		t.Errorf("fill through an in-rootfs symlink: %v", err)
	}
	// Symlinks out of the rootfs resolve inside it, where there is
	// nothing: the host's directory is not copied.
	for _, p := range []string{"/escape", "/escape2", "/../../outside", "/escape/../outside"} {
		v3 := mustCreate(t, s, "escape", CreateOptions{})
		must(s.Fill("escape", rootfs, p))
		if got := dirNames(t, v3.Mountpoint); len(got) != 0 {
			t.Errorf("fill from %s copied %v from outside the rootfs", p, got)
		}
		must(s.Remove("escape", false, nil))
	}
}
