package snapshot

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is one tar entry of a test archive.
type ent struct {
	h    tar.Header
	body string
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func file(name, body string) ent {
	return ent{h: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, body: body}
}

func dir(name string) ent {
	return ent{h: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func symlink(name, target string) ent {
	return ent{h: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) ent {
	return ent{h: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

func device(name string, typ byte, major, minor int64) ent {
	return ent{h: tar.Header{Typeflag: typ, Name: name, Mode: 0o600, Devmajor: major, Devminor: minor}}
}

// with returns e with its header changed by fn.
func (e ent) with(fn func(h *tar.Header)) ent {
	fn(&e.h)
	return e
}

// mkTar builds an uncompressed tar of ents (PAX format, so times keep
// their nanoseconds and xattrs survive).
func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Typeflag != tar.TypeXGlobalHeader {
			if h.ModTime.IsZero() {
				h.ModTime = testTime
			}
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("tar body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return &st
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getxattr(t *testing.T, p, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, name, err)
	}
	return string(buf[:n])
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// sandbox is a parent dir holding the extraction target dst and a sentinel
// directory outside it that hostile archives aim at.
type sandbox struct {
	parent, dst, outside string
}

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	return newSandboxIn(t, t.TempDir())
}

// newSandboxIn makes a sandbox in the empty directory parent.
func newSandboxIn(t *testing.T, parent string) sandbox {
	t.Helper()
	sb := sandbox{parent: parent, dst: filepath.Join(parent, "dst"), outside: filepath.Join(parent, "outside")}
	if err := os.MkdirAll(filepath.Join(sb.outside, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb.outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb
}

// check fails if anything outside dst was created, changed or removed.
func (sb sandbox) check(t *testing.T) {
	t.Helper()
	if got := names(t, sb.parent); !slices.Equal(got, []string{"dst", "outside"}) && !slices.Equal(got, []string{"outside"}) {
		t.Errorf("parent dir holds %q, want only dst and outside", got)
	}
	if got := names(t, sb.outside); !slices.Equal(got, []string{"secret", "sub"}) {
		t.Errorf("outside dir holds %q", got)
	}
	if got := names(t, filepath.Join(sb.outside, "sub")); len(got) != 0 {
		t.Errorf("outside/sub holds %q", got)
	}
	st := lstat(t, filepath.Join(sb.outside, "secret"))
	if st.Mode != unix.S_IFREG|0o600 || st.Uid != 0 || st.Nlink != 1 || readFile(t, filepath.Join(sb.outside, "secret")) != "secret" {
		t.Errorf("outside/secret changed: mode %o uid %d nlink %d", st.Mode, st.Uid, st.Nlink)
	}
	if st := lstat(t, sb.outside); st.Mode != unix.S_IFDIR|0o755 {
		t.Errorf("outside dir mode changed: %o", st.Mode)
	}
	buf := make([]byte, 64)
	if _, err := unix.Lgetxattr(sb.outside, "trusted.overlay.opaque", buf); err == nil {
		t.Errorf("outside dir got an opaque xattr")
	}
}

// bothResolvers runs fn with openat2 lookups and with the component walk.
func bothResolvers(t *testing.T, fn func(t *testing.T)) {
	t.Run("openat2", fn)
	t.Run("walk", func(t *testing.T) {
		old := noOpenat2.Swap(true)
		defer noOpenat2.Store(old)
		fn(t)
	})
}

func requireRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}
