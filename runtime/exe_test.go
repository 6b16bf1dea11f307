package runtime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// overlayOrSkip returns overlayExe's file, skipping the test where the
// overlay cannot be made (not root, old kernel, no overlayfs).
func overlayOrSkip(t *testing.T) *os.File {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	f, err := overlayExe(t.TempDir())
	if err != nil {
		t.Skipf("no overlay executable here: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestOverlayExe checks the CVE-2019-5736 protection of the overlay
// executable: it is this binary, it can be executed, and nothing can open
// it for writing, not even root, not even through a clone of its mount
// made writable.
func TestOverlayExe(t *testing.T) {
	f := overlayOrSkip(t)
	fd := int(f.Fd())
	if fd < minExeFd {
		t.Errorf("executable at fd %d, want >= %d", fd, minExeFd)
	}
	var self, st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Ino != self.Ino || st.Size != self.Size {
		t.Fatalf("overlay file ino %d size %d, executable ino %d size %d", st.Ino, st.Size, self.Ino, self.Size)
	}
	if st.Dev == self.Dev {
		t.Fatalf("overlay file is on the executable's own device %d", st.Dev)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil || sfs.Type != unix.OVERLAYFS_SUPER_MAGIC || sfs.Flags&unix.ST_RDONLY == 0 {
		t.Fatalf("statfs: type %#x flags %#x (%v), want a read-only overlayfs", sfs.Type, sfs.Flags, err)
	}
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_RDWR | os.O_APPEND} {
		w, err := os.OpenFile(fdPath(fd), flag, 0)
		if err == nil {
			w.Close()
			t.Fatalf("opened the overlay executable with flags %#x", flag)
		}
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("open with flags %#x: %v, want EROFS", flag, err)
		}
	}
	// Even the same overlay mounted without MOUNT_ATTR_RDONLY (which
	// only CAP_SYS_ADMIN in the host's namespaces could arrange) does not
	// help: an overlay without an upper layer cannot be written at all.
	exe := mustReadlink(t, "/proc/self/exe")
	mnt, err := lowerOnlyOverlay(filepath.Dir(exe), t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mnt)
	if w, err := unix.Openat(mnt, filepath.Base(exe), unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(w)
		t.Fatal("opened the executable for writing through a read-write mount of the overlay")
	} else if err != unix.EROFS {
		t.Errorf("open through a read-write mount of the overlay: %v, want EROFS", err)
	}
	// It runs (here: this test binary, running no test).
	out, err := exec.Command(fdPath(fd), "-test.run=^$").CombinedOutput()
	if err != nil {
		t.Fatalf("exec of the overlay executable: %v\n%s", err, out)
	}
}

// TestOverlayExeMountGone checks that the overlay lives only as long as
// something refers to it: nothing is left mounted anywhere.
func TestOverlayExeMountGone(t *testing.T) {
	f := overlayOrSkip(t)
	if l, err := os.Readlink(fdPath(int(f.Fd()))); err != nil || filepath.Base(l) != filepath.Base(mustReadlink(t, "/proc/self/exe")) {
		t.Fatalf("overlay file is %q (%v)", l, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, " - overlay ") && strings.Contains(line, filepath.Dir(mustReadlink(t, "/proc/self/exe"))) {
			t.Errorf("overlay attached to the mount table: %s", line)
		}
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOverlayExeNestedDir checks that a bottom layer inside the binary's
// directory (which overlayfs refuses) does not make create fall back to
// the 20 MB memfd copy.
func TestOverlayExeNestedDir(t *testing.T) {
	overlayOrSkip(t)
	sub, err := os.MkdirTemp(filepath.Dir(mustReadlink(t, "/proc/self/exe")), "state")
	if err != nil {
		t.Skip(err)
	}
	defer os.Remove(sub)
	f, err := overlayExe(sub)
	if err != nil {
		t.Fatalf("overlayExe with a state directory below the binary's: %v", err)
	}
	f.Close()
}

// TestProtectedExeFallback checks that protectedExe falls back to the
// sealed memfd when no overlay can be made (here: the binary is not
// executable by others).
func TestProtectedExeFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// A copy of this test binary, mode 0700, run as a child that reports
	// what protectedExe gave it.
	if os.Getenv("HULL_TEST_PROTECTED_EXE") != "" {
		f, err := protectedExe(os.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		l, _ := os.Readlink(fdPath(int(f.Fd())))
		os.Stdout.WriteString("EXE=" + l + "\n")
		return
	}
	src, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "runtime.test")
	if err := os.WriteFile(bin, src, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestProtectedExeFallback$")
	cmd.Env = append(os.Environ(), "HULL_TEST_PROTECTED_EXE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "EXE=/memfd:"+memfdName) {
		t.Fatalf("fallback executable of a mode 0700 binary: %s, want the sealed memfd", out)
	}
}

func TestEscapeLowerDir(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin":       "/usr/bin",
		"/a:b/c":         `/a\:b/c`,
		`/a\b`:           `/a\\b`,
		`/x\:y`:          `/x\\\:y`,
		"/with,comma/ok": "/with,comma/ok",
	} {
		if got := escapeLowerDir(in); got != want {
			t.Errorf("escapeLowerDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkProtectedExe measures the CVE-2019-5736 protection as create
// and exec pay it (the overlay where possible; compare
// BenchmarkSealedExe).
func BenchmarkProtectedExe(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		f, err := protectedExe(dir)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
