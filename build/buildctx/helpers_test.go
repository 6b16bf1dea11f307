package buildctx

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// fileTime is the mtime of every test file.
var fileTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// fsEnt is one node of a test tree.
type fsEnt struct {
	path   string
	kind   byte // 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'p' fifo
	body   string
	mode   os.FileMode
	target string // symlink target or hard link target (tree path)
}

func f(p, body string) fsEnt                 { return fsEnt{path: p, kind: 'f', body: body, mode: 0o644} }
func fm(p, body string, m os.FileMode) fsEnt { return fsEnt{path: p, kind: 'f', body: body, mode: m} }
func d(p string) fsEnt                       { return fsEnt{path: p, kind: 'd', mode: 0o755} }
func dm(p string, m os.FileMode) fsEnt       { return fsEnt{path: p, kind: 'd', mode: m} }
func sl(p, target string) fsEnt              { return fsEnt{path: p, kind: 'l', target: target} }
func hl(p, target string) fsEnt              { return fsEnt{path: p, kind: 'h', target: target} }

// mkTree makes the tree ents under dir (parents made as needed) with
// fixed mtimes.
func mkTree(t testing.TB, dir string, ents ...fsEnt) {
	t.Helper()
	for _, e := range ents {
		p := filepath.Join(dir, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch e.kind {
		case 'f':
			if err = os.WriteFile(p, []byte(e.body), e.mode); err == nil {
				err = os.Chmod(p, e.mode)
			}
		case 'd':
			if err = os.MkdirAll(p, e.mode); err == nil {
				err = os.Chmod(p, e.mode)
			}
		case 'l':
			err = os.Symlink(e.target, p)
		case 'h':
			err = os.Link(filepath.Join(dir, e.target), p)
		case 'p':
			err = mkfifo(p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Times last: making entries changes their parents' mtimes.
	for _, e := range ents {
		if e.kind != 'l' {
			_ = os.Chtimes(filepath.Join(dir, e.path), fileTime, fileTime)
		}
	}
}

// newCtx makes a context directory holding ents and opens it.
func newCtx(t testing.TB, ents ...fsEnt) *Context {
	t.Helper()
	dir := t.TempDir()
	mkTree(t, dir, ents...)
	c, err := FromDir(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tarEnt is one entry of a layer tar.
type tarEnt struct {
	hdr  tar.Header
	body string
}

// layer writes the layer of spec and returns its entries by name (no
// trailing slashes), checking they are sorted and the size is right.
func layer(t testing.TB, c *Context, spec CopySpec, lower Lower) (map[string]tarEnt, digest.Digest) {
	t.Helper()
	var buf bytes.Buffer
	n, err := c.WriteLayer(&buf, spec, lower)
	if err != nil {
		t.Fatalf("WriteLayer: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteLayer returned %d, wrote %d bytes", n, buf.Len())
	}
	ents, names := readTar(t, buf.Bytes())
	if !slices.IsSortedFunc(names, comparePaths) {
		t.Errorf("entries not sorted: %q", names)
	}
	return ents, digest.FromBytes(buf.Bytes())
}

// readTar reads a tar's entries by name (no trailing slash), and the
// names in order.
func readTar(t testing.TB, b []byte) (map[string]tarEnt, []string) {
	t.Helper()
	ents := map[string]tarEnt{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if _, dup := ents[name]; dup {
			t.Errorf("duplicate entry %q", name)
		}
		ents[name] = tarEnt{hdr: *h, body: string(body)}
		names = append(names, name)
	}
	return ents, names
}

// keys lists a map's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// tarBytes builds a tar of headers and bodies (Size is set from bodies).
func tarBytes(t testing.TB, ents ...tarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = fileTime
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func treg(name, body string) tarEnt {
	return tarEnt{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, body: body}
}

func tdir(name string) tarEnt {
	return tarEnt{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func tsym(name, target string) tarEnt {
	return tarEnt{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func mkfifo(p string) error { return unix.Mkfifo(p, 0o644) }

func fifo(p string) fsEnt { return fsEnt{path: p, kind: 'p'} }

// bzip2Bytes compresses b with the bzip2 command (Go has no writer).
func bzip2Bytes(t testing.TB, b []byte) []byte { return compressWith(t, "bzip2", b) }

// xzBytes compresses b with the xz command.
func xzBytes(t testing.TB, b []byte) []byte { return compressWith(t, "xz", b) }

func compressWith(t testing.TB, command string, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath(command); err != nil {
		t.Skip("no " + command + " command")
	}
	cmd := exec.Command(command, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
