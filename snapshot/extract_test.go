package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func extract(t *testing.T, dst string, opts ExtractOptions, ents ...ent) Stats {
	t.Helper()
	st, err := Extract(dst, bytes.NewReader(mkTar(t, ents...)), opts)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return st
}

func TestExtractTypes(t *testing.T) {
	requireRoot(t)
	bothResolvers(t, testExtractTypes)
}

func testExtractTypes(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "dst")
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	atime := time.Date(2022, 6, 7, 8, 9, 10, 42, time.UTC)
	xattr := map[string]string{"SCHILY.xattr.user.color": "blue", "SCHILY.xattr.trusted.note": "t"}
	st := extract(t, dst, ExtractOptions{},
		dir("etc/").with(func(h *tar.Header) { h.ModTime = mtime; h.PAXRecords = map[string]string{"SCHILY.xattr.user.d": "1"} }),
		file("etc/hosts", "127.0.0.1 localhost\n").with(func(h *tar.Header) {
			h.ModTime, h.AccessTime = mtime, atime
			h.PAXRecords = xattr
		}),
		file("bin/su", "su").with(func(h *tar.Header) { h.Mode, h.Uid, h.Gid = 0o4755, 1000, 1001 }),
		file("bin/wall", "wall").with(func(h *tar.Header) { h.Mode, h.Gid = 0o2755, 5 }),
		dir("tmp/").with(func(h *tar.Header) { h.Mode = 0o1777 }),
		file("home/u/f", "data").with(func(h *tar.Header) { h.Uid, h.Gid, h.Mode = 1234, 5678, 0o600 }),
		symlink("etc/localtime", "/usr/share/zoneinfo/UTC").with(func(h *tar.Header) { h.ModTime, h.Uid = mtime, 7 }),
		symlink("rel", "../../../etc"),
		hardlink("etc/hosts.link", "etc/hosts"),
		hardlink("abslink", "/bin/su"),
		device("dev/null", tar.TypeChar, 1, 3).with(func(h *tar.Header) { h.Mode = 0o666 }),
		device("dev/loop0", tar.TypeBlock, 7, 0),
		device("run/fifo", tar.TypeFifo, 0, 0).with(func(h *tar.Header) { h.Mode = 0o620 }),
		dir("ro/").with(func(h *tar.Header) { h.Mode = 0o555; h.ModTime = mtime }),
		file("ro/f", "x").with(func(h *tar.Header) { h.Mode = 0o444 }),
		file("./dotslash", "d"),
		file("/abs/file", "a"),
		ent{h: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}},
		dir("./"),
	)

	p := func(n string) string { return filepath.Join(dst, n) }
	s := lstat(t, p("etc/hosts")) // before reading it changes atime
	if got := readFile(t, p("etc/hosts")); got != "127.0.0.1 localhost\n" {
		t.Errorf("etc/hosts = %q", got)
	}
	if s.Mode != unix.S_IFREG|0o644 || s.Uid != 0 || s.Gid != 0 || s.Nlink != 2 {
		t.Errorf("etc/hosts: mode %o owner %d:%d nlink %d", s.Mode, s.Uid, s.Gid, s.Nlink)
	}
	if s.Mtim.Nano() != mtime.UnixNano() || s.Atim.Nano() != atime.UnixNano() {
		t.Errorf("etc/hosts times: m %v a %v", time.Unix(0, s.Mtim.Nano()), time.Unix(0, s.Atim.Nano()))
	}
	if getxattr(t, p("etc/hosts"), "user.color") != "blue" || getxattr(t, p("etc/hosts"), "trusted.note") != "t" {
		t.Error("etc/hosts xattrs missing")
	}
	if getxattr(t, p("etc"), "user.d") != "1" {
		t.Error("etc xattr missing")
	}
	if s := lstat(t, p("etc")); s.Mtim.Nano() != mtime.UnixNano() {
		t.Errorf("etc mtime %v, want %v (dir times must be set after its children)", time.Unix(0, s.Mtim.Nano()), mtime)
	}
	if s := lstat(t, p("bin/su")); s.Mode != unix.S_IFREG|0o4755 || s.Uid != 1000 || s.Gid != 1001 {
		t.Errorf("bin/su: mode %o owner %d:%d", s.Mode, s.Uid, s.Gid)
	}
	if s := lstat(t, p("bin/wall")); s.Mode != unix.S_IFREG|0o2755 || s.Gid != 5 {
		t.Errorf("bin/wall: mode %o gid %d", s.Mode, s.Gid)
	}
	if s := lstat(t, p("bin")); s.Mode != unix.S_IFDIR|0o755 {
		t.Errorf("implicit dir bin: mode %o", s.Mode)
	}
	if s := lstat(t, p("tmp")); s.Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("tmp: mode %o", s.Mode)
	}
	if s := lstat(t, p("home/u/f")); s.Mode != unix.S_IFREG|0o600 || s.Uid != 1234 || s.Gid != 5678 {
		t.Errorf("home/u/f: mode %o owner %d:%d", s.Mode, s.Uid, s.Gid)
	}
	if tgt, err := os.Readlink(p("etc/localtime")); err != nil || tgt != "/usr/share/zoneinfo/UTC" {
		t.Errorf("etc/localtime -> %q, %v", tgt, err)
	}
	if s := lstat(t, p("etc/localtime")); s.Uid != 7 || s.Mtim.Nano() != mtime.UnixNano() {
		t.Errorf("etc/localtime: uid %d mtime %v", s.Uid, time.Unix(0, s.Mtim.Nano()))
	}
	if tgt, _ := os.Readlink(p("rel")); tgt != "../../../etc" {
		t.Errorf("rel -> %q", tgt)
	}
	if a, b := lstat(t, p("abslink")), lstat(t, p("bin/su")); a.Ino != b.Ino {
		t.Error("abslink is not a hard link of bin/su")
	}
	if s := lstat(t, p("dev/null")); s.Mode != unix.S_IFCHR|0o666 || s.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: mode %o rdev %x", s.Mode, s.Rdev)
	}
	if s := lstat(t, p("dev/loop0")); s.Mode != unix.S_IFBLK|0o600 || s.Rdev != unix.Mkdev(7, 0) {
		t.Errorf("dev/loop0: mode %o rdev %x", s.Mode, s.Rdev)
	}
	if s := lstat(t, p("run/fifo")); s.Mode != unix.S_IFIFO|0o620 {
		t.Errorf("run/fifo: mode %o", s.Mode)
	}
	if s := lstat(t, p("ro")); s.Mode != unix.S_IFDIR|0o555 || s.Mtim.Nano() != mtime.UnixNano() {
		t.Errorf("ro: mode %o mtime %v", s.Mode, time.Unix(0, s.Mtim.Nano()))
	}
	if readFile(t, p("dotslash")) != "d" || readFile(t, p("abs/file")) != "a" {
		t.Error("./ or / prefixed names not extracted under dst")
	}
	if s := lstat(t, dst); s.Mode&0o7777 != 0o755 {
		t.Errorf("root entry changed dst mode to %o", s.Mode)
	}
	wantSize := int64(len("127.0.0.1 localhost\n")+len("su")+len("wall")+len("data")+len("x")+len("d")+len("a")) +
		int64(len("/usr/share/zoneinfo/UTC")+len("../../../etc"))
	if st.Size != wantSize || st.Files != 17 {
		t.Errorf("stats = %+v, want size %d files 17", st, wantSize)
	}
}

func TestExtractWhiteouts(t *testing.T) {
	requireRoot(t)
	dst := filepath.Join(t.TempDir(), "dst")
	extract(t, dst, ExtractOptions{},
		dir("a/"),
		file("a/.wh.gone", ""),
		file(".wh.toplevel", "").with(func(h *tar.Header) { h.Uid = 3 }),
		file("a/.wh..wh..opq", ""),
		file("b/.wh..wh..opq", ""), // parent made implicitly
		file("a/.wh..wh.plnk", ""),
		file("a/.wh..wh.aufs", ""),
		file("c/keep", "k"),
		file("c/.wh.keep", ""), // whiteout replaces an entry of the same layer
	)
	for _, n := range []string{"a/gone", "toplevel", "c/keep"} {
		s := lstat(t, filepath.Join(dst, n))
		if s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want char device 0:0", n, s.Mode, s.Rdev)
		}
	}
	if s := lstat(t, filepath.Join(dst, "toplevel")); s.Uid != 3 {
		t.Errorf("whiteout owner %d", s.Uid)
	}
	for _, n := range []string{"a", "b"} {
		if v := getxattr(t, filepath.Join(dst, n), "trusted.overlay.opaque"); v != "y" {
			t.Errorf("%s opaque = %q", n, v)
		}
	}
	if got := names(t, filepath.Join(dst, "a")); !slices.Equal(got, []string{"gone"}) {
		t.Errorf("a holds %q (aufs metadata must be dropped)", got)
	}

	keep := filepath.Join(t.TempDir(), "keep")
	extract(t, keep, ExtractOptions{Whiteouts: WhiteoutKeep}, file("a/.wh.x", ""), file(".wh..wh..opq", ""))
	if s := lstat(t, filepath.Join(keep, "a/.wh.x")); s.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("WhiteoutKeep: mode %o", s.Mode)
	}
}

func TestExtractReplace(t *testing.T) {
	requireRoot(t)
	bothResolvers(t, func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "dst")
		extract(t, dst, ExtractOptions{},
			file("f2d", "file"),
			dir("f2d/"),
			file("f2d/child", "c"),
			dir("d2f/"),
			file("d2f/child", "c"),
			dir("d2f/sub/"),
			file("d2f/sub/x", "x"),
			file("d2f", "now a file"),
			dir("keep/").with(func(h *tar.Header) { h.Mode = 0o700 }),
			file("keep/child", "c"),
			dir("keep/").with(func(h *tar.Header) { h.Mode, h.Uid = 0o750, 9 }),
			file("twice", "first"),
			file("twice", "second"),
			symlink("s2f", "/etc/passwd"),
			file("s2f", "plain"),
			file("f2s", "plain"),
			symlink("f2s", "target"),
			dir("d2s/"),
			file("d2s/x", "x"),
			symlink("d2s", "elsewhere"),
			file("l2f", "l"),
			hardlink("l2f", "twice"),
			device("n2f", tar.TypeFifo, 0, 0),
			file("n2f", "n"),
		)
		p := func(n string) string { return filepath.Join(dst, n) }
		if readFile(t, p("f2d/child")) != "c" {
			t.Error("f2d not replaced by a dir")
		}
		if readFile(t, p("d2f")) != "now a file" {
			t.Error("d2f not replaced by a file")
		}
		if s := lstat(t, p("keep")); s.Mode != unix.S_IFDIR|0o750 || s.Uid != 9 || readFile(t, p("keep/child")) != "c" {
			t.Errorf("keep: mode %o uid %d", s.Mode, s.Uid)
		}
		if readFile(t, p("twice")) != "second" || readFile(t, p("s2f")) != "plain" {
			t.Error("later file entries must replace earlier ones")
		}
		if tgt, _ := os.Readlink(p("f2s")); tgt != "target" {
			t.Errorf("f2s -> %q", tgt)
		}
		if tgt, _ := os.Readlink(p("d2s")); tgt != "elsewhere" {
			t.Errorf("d2s -> %q", tgt)
		}
		if a, b := lstat(t, p("l2f")), lstat(t, p("twice")); a.Ino != b.Ino {
			t.Error("l2f not replaced by a hard link")
		}
		if readFile(t, p("n2f")) != "n" {
			t.Error("fifo not replaced")
		}
	})
}

func TestExtractOptions(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "dst")
	extract(t, dst, ExtractOptions{NoLchown: true, NoDevices: true},
		device("dev/null", tar.TypeChar, 1, 3),
		device("dev/sda", tar.TypeBlock, 8, 0),
		file("f", "x").with(func(h *tar.Header) { h.Uid, h.Gid = 4321, 4321 }),
	)
	if got := names(t, dst); !slices.Equal(got, []string{"f"}) {
		t.Errorf("NoDevices: dst holds %q", got)
	}
	if s := lstat(t, filepath.Join(dst, "f")); int(s.Uid) != os.Geteuid() {
		t.Errorf("NoLchown: uid %d", s.Uid)
	}
}

func TestExtractSetgidParent(t *testing.T) {
	requireRoot(t)
	dst := filepath.Join(t.TempDir(), "dst")
	extract(t, dst, ExtractOptions{},
		dir("g/").with(func(h *tar.Header) { h.Mode, h.Gid = 0o2775, 50 }),
		file("g/f", "x"),
		dir("g/d/"),
	)
	for _, n := range []string{"g/f", "g/d"} {
		if s := lstat(t, filepath.Join(dst, n)); s.Gid != 0 || s.Mode&unix.S_ISGID != 0 {
			t.Errorf("%s: gid %d mode %o, want the header's gid 0 and mode", n, s.Gid, s.Mode)
		}
	}
}

func TestExtractOverlayXattrsDropped(t *testing.T) {
	requireRoot(t)
	dst := filepath.Join(t.TempDir(), "dst")
	extract(t, dst, ExtractOptions{},
		dir("d/").with(func(h *tar.Header) {
			h.PAXRecords = map[string]string{
				"SCHILY.xattr.trusted.overlay.opaque":   "y",
				"SCHILY.xattr.trusted.overlay.redirect": "/etc",
				"SCHILY.xattr.user.overlay.opaque":      "y",
			}
		}),
	)
	buf := make([]byte, 16)
	for _, n := range []string{"trusted.overlay.opaque", "trusted.overlay.redirect", "user.overlay.opaque"} {
		if _, err := unix.Lgetxattr(filepath.Join(dst, "d"), n, buf); err == nil {
			t.Errorf("%s taken from the layer", n)
		}
	}
}

func TestExtractTruncated(t *testing.T) {
	data := mkTar(t, file("a", "aaaa"), file("big", strings.Repeat("b", 100000)))
	for _, cut := range []int{len(data) - 1024 - 50000, 1024 + 100, 1024 + 512 + 300} {
		_, err := Extract(filepath.Join(t.TempDir(), "dst"), bytes.NewReader(data[:cut]), ExtractOptions{NoLchown: true})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: err = %v, want unexpected EOF", cut, err)
		}
	}
	_, err := Extract(filepath.Join(t.TempDir(), "dst"), bytes.NewReader(data[:len(data)-1024-50000]), ExtractOptions{NoLchown: true})
	if err == nil || !strings.Contains(err.Error(), `layer entry "big": unexpected EOF`) {
		t.Errorf("err = %v, want it to name the entry", err)
	}
}

func TestExtractRejects(t *testing.T) {
	long := strings.Repeat("a/", 2049) + "f"
	hdrOnly := func(h tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		h.ModTime = testTime
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"long name", mkTar(t, file(long, "")), "name longer than 4096"},
		{"long link", mkTar(t, symlink("s", long)), "link target longer"},
		{"volume header", hdrOnly(tar.Header{Typeflag: 'V', Name: "vol"}), "unsupported entry type"},
		{"unknown type", hdrOnly(tar.Header{Typeflag: 'Z', Name: "z"}), "unsupported entry type"},
		{"root as file", mkTar(t, file(".", "x")), "replace the layer root"},
		{"root as symlink", mkTar(t, symlink(".", "/")), "replace the layer root"},
		{"link to root", mkTar(t, hardlink("x", "/")), "invalid target"},
		{"link to self", mkTar(t, file("x", ""), hardlink("x", "./x")), "invalid target"},
		{"link to missing", mkTar(t, hardlink("x", "nope")), "no such file"},
		{"link to dir", mkTar(t, dir("d/"), hardlink("x", "d")), "hard link"},
		{"sparse pax", sparseTar(t), "sparse"},
		{"sparse gnu", withTypeflag(t, gnuTar(t, file("s", "")), 0, tar.TypeGNUSparse), "sparse"},
		{"negative uid", mkTar(t, file("u", "").with(func(h *tar.Header) { h.Uid = -5 })), "invalid owner"},
		{"file under file", mkTar(t, file("f", ""), file("f/x", "")), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(filepath.Join(t.TempDir(), "dst"), bytes.NewReader(tt.data), ExtractOptions{NoLchown: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestExtractContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ExtractContext(ctx, filepath.Join(t.TempDir(), "dst"), bytes.NewReader(mkTar(t, file("a", "a"))), ExtractOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"a": "a", "/a": "a", "./a": "a", "//a//b/": "a/b", "a/../b": "b", "/": "", ".": "", "./": "",
		"a/./b/.": "a/b", "": "",
	} {
		if got, err := cleanPath(in); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../a", "/abs/../../escape", "a/../../b", "./..", "a/b/../../.."} {
		if _, err := cleanPath(in); !errors.Is(err, ErrBreakout) {
			t.Errorf("cleanPath(%q) err = %v", in, err)
		}
	}
}

// withTypeflag patches the typeflag of the header block at offset off.
func withTypeflag(t *testing.T, data []byte, off int, typ byte) []byte {
	t.Helper()
	blk := data[off : off+512]
	blk[156] = typ
	copy(blk[148:156], "        ")
	sum := 0
	for _, b := range blk {
		sum += int(b)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return data
}

// gnuTar is mkTar in GNU format.
func gnuTar(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.h
		h.Size, h.Format = int64(len(e.body)), tar.FormatGNU
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// sparseTar is a GNU PAX 1.0 sparse file whose hole would expand a few
// bytes of archive into an exabyte.
func sparseTar(t *testing.T) []byte {
	t.Helper()
	rec := func(k, v string) string {
		s := " " + k + "=" + v + "\n"
		n := len(s)
		n += len(strconv.Itoa(n + len(strconv.Itoa(n))))
		return strconv.Itoa(n) + s
	}
	pax := rec("GNU.sparse.major", "1") + rec("GNU.sparse.minor", "0") + rec("GNU.sparse.name", "s") +
		rec("GNU.sparse.realsize", "1000000000000000000")
	body := "1\n999999999999999999\n1\n"
	body += strings.Repeat("\x00", 512-len(body)) + "x"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []ent{file("pax", pax), file("GNUSparseFile.0/s", body)} {
		h := e.h
		h.Size, h.Format = int64(len(e.body)), tar.FormatUSTAR
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return withTypeflag(t, buf.Bytes(), 0, tar.TypeXHeader)
}
