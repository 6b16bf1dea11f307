package testutil

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// BusyboxPath is the statically linked busybox that Debian's busybox-static
// package installs; BusyboxRootfs and BusyboxTar build on it.
const BusyboxPath = "/bin/busybox"

// BusyboxModTime is the modification time of every entry in BusyboxTar.
var BusyboxModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// fsEntry is one file, directory or symlink of the busybox rootfs.
type fsEntry struct {
	name     string      // slash-separated, relative, no leading "./"
	mode     fs.FileMode // type bits plus permissions (and sticky)
	linkname string      // symlink target
	data     []byte      // regular file contents
}

const (
	etcPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	etcGroup = "root:x:0:\n" +
		"nobody:x:65534:\n"
)

// busyboxFailure skips t when busybox is missing (fails it under CI) and
// fails it on any other error.
func busyboxFailure(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, fs.ErrNotExist) {
		skipOrFail(t, "test needs %s: %v (apt-get install busybox-static)", BusyboxPath, err)
		return
	}
	t.Fatal(err)
}

// busyboxEntriesErr lists the rootfs, sorted by name (so directories come
// before their contents).
func busyboxEntriesErr() ([]fsEntry, error) {
	if err := checkStatic(BusyboxPath); err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", BusyboxPath, err)
	}
	entries := []fsEntry{
		{name: "bin", mode: fs.ModeDir | 0o755},
		{name: "bin/busybox", mode: 0o755, data: bin},
		{name: "dev", mode: fs.ModeDir | 0o755},
		{name: "etc", mode: fs.ModeDir | 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(etcGroup)},
		{name: "etc/passwd", mode: 0o644, data: []byte(etcPasswd)},
		{name: "proc", mode: fs.ModeDir | 0o555},
		{name: "root", mode: fs.ModeDir | 0o700},
		{name: "sys", mode: fs.ModeDir | 0o555},
		{name: "tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{name: "var", mode: fs.ModeDir | 0o755},
	}
	seen := map[string]bool{"busybox": true}
	for _, applet := range strings.Fields(string(out)) {
		if seen[applet] || applet == "." || applet == ".." || strings.Contains(applet, "/") {
			continue
		}
		seen[applet] = true
		entries = append(entries, fsEntry{name: "bin/" + applet, mode: fs.ModeSymlink | 0o777, linkname: "busybox"})
	}
	if !seen["sh"] {
		return nil, fmt.Errorf("%s --list has no sh applet", BusyboxPath)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries, nil
}

// checkStatic returns an error unless file is a statically linked ELF
// executable (a dynamic busybox, from Debian's busybox package, cannot run in
// a rootfs without its libraries).
func checkStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install Debian's busybox-static package", file)
		}
	}
	return nil
}

// BusyboxRootfs writes a minimal root filesystem into dir (created if needed):
// /bin/busybox (a copy of BusyboxPath) with a /bin symlink for every applet
// that `busybox --list` names (sh, ls, cat, ...), /etc/passwd (root and
// nobody), /etc/group, /tmp (mode 1777), /root (0700) and empty /var, /proc,
// /sys and /dev directories. It skips the test if busybox-static is not
// installed (fails it under CI).
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	entries, err := busyboxEntriesErr()
	if err != nil {
		busyboxFailure(t, err)
		return
	}
	if err := writeEntries(dir, entries); err != nil {
		t.Fatalf("BusyboxRootfs: %v", err)
	}
}

func writeEntries(dir string, entries []fsEntry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		switch {
		case e.mode.IsDir():
			if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
				return err
			}
		case e.mode&fs.ModeSymlink != 0:
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return err
			}
			if err := os.Symlink(e.linkname, p); err != nil {
				return err
			}
			continue
		default:
			if err := os.WriteFile(p, e.data, 0o600); err != nil {
				return err
			}
		}
		// Chmod, not the create mode, so the umask does not interfere.
		if err := os.Chmod(p, e.mode&(fs.ModePerm|fs.ModeSticky)); err != nil {
			return err
		}
	}
	return nil
}

// tarEntries writes entries as an uncompressed tar: entries in the given
// (sorted) order, fixed mtimes, uid/gid 0.
func tarEntries(entries []fsEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    int64(e.mode.Perm()),
			ModTime: BusyboxModTime,
			Uname:   "root",
			Gname:   "root",
		}
		if e.mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000 // c_ISVTX
		}
		switch {
		case e.mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.linkname
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var busyboxTar struct {
	once sync.Once
	path string
	err  error
}

// BusyboxTar returns the path of an uncompressed tar of the BusyboxRootfs
// tree, as `docker import` or `hull import` take it. The tar is
// deterministic (entries sorted by name, directories before their contents,
// every mtime BusyboxModTime, uid/gid 0) so its digest depends only on the
// installed busybox; it is built once per test process and shared through a
// per-user cache directory under os.TempDir(). Callers must not modify it.
// It skips the test if busybox-static is not installed (fails it under CI).
func BusyboxTar(t testing.TB) string {
	t.Helper()
	busyboxTar.once.Do(func() {
		entries, err := busyboxEntriesErr()
		if err != nil {
			busyboxTar.err = err
			return
		}
		busyboxTar.path, busyboxTar.err = writeBusyboxTar(entries)
	})
	if busyboxTar.err != nil {
		busyboxFailure(t, busyboxTar.err)
		return ""
	}
	return busyboxTar.path
}

func writeBusyboxTar(entries []fsEntry) (string, error) {
	b, err := tarEntries(entries)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "busybox-"+hex.EncodeToString(sum[:8])+".tar")
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
		return p, nil
	}
	return p, writeFileAtomic(p, b, 0o644)
}

// cacheDir returns a per-user directory under os.TempDir() for artifacts that
// test processes share (the busybox tar, the hull binary). Files in it are
// replaced atomically, so concurrent test processes can share it; its size
// stays bounded as names are keyed by content or module.
func cacheDir() (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("hull-testutil-%d", os.Geteuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ownedByMe(fi) {
		return "", fmt.Errorf("cache dir %s is not a directory of mode 0700 owned by uid %d; remove it", dir, os.Geteuid())
	}
	return dir, nil
}

// writeFileAtomic writes b to a temporary file next to name and renames it
// into place.
func writeFileAtomic(name string, b []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), path.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
