package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// cxTar reads a tar archive into name → entry (with the body of regular
// files).
type cxEntry struct {
	hdr  *tar.Header
	body string
}

func cxReadTar(t *testing.T, b []byte) (map[string]cxEntry, []string) {
	t.Helper()
	m := map[string]cxEntry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return m, order
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		m[hdr.Name] = cxEntry{hdr, string(body)}
		order = append(order, hdr.Name)
	}
}

func TestContainerExport(t *testing.T) {
	e := newCX(t)
	e.must("run", "--name", "c1", "busybox", "sh", "-c", cxChanges)
	out := filepath.Join(e.dir, "c1.tar")
	if r := e.must("export", "-o", out, "c1"); r.stdout != "" || r.stderr != "" {
		t.Errorf("export -o:\n%v", r)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte) {
		t.Helper()
		entries, order := cxReadTar(t, b)
		if bb, ok := entries["bin/busybox"]; !ok || bb.hdr.Typeflag != tar.TypeReg || bb.hdr.Mode&0o111 == 0 || len(bb.body) < 100000 {
			t.Errorf("%s: no executable bin/busybox", what)
		}
		if n, ok := entries["new"]; !ok || n.hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s: no /new", what)
		}
		if _, ok := entries["bin/ls"]; ok {
			t.Errorf("%s: the removed /bin/ls is there", what)
		}
		if p := entries["etc/passwd"].body; len(p) < 2 || p[len(p)-2:] != "x\n" {
			t.Errorf("%s: /etc/passwd without the change: %q", what, p)
		}
		if d, ok := entries["bin/"]; !ok || d.hdr.Typeflag != tar.TypeDir {
			t.Errorf("%s: no bin/ directory entry", what)
		}
		if len(order) > 0 && (order[0] == "./" || order[0] == "/") {
			t.Errorf("%s: the root is an entry: %q", what, order[0])
		}
	}
	check("export -o", b)
	if e.rootfsMounted("c1") {
		t.Error("the root file system stayed mounted after export")
	}
	r := e.must("container", "export", "c1")
	check("export to stdout", []byte(r.stdout))

	// A running container is exported as it is now.
	e.must("run", "-d", "--name", "r1", "busybox", "sh", "-c", "echo live > /live; sleep 1000")
	e.waitFor(10*time.Second, "/live", func() bool {
		entries, _ := cxReadTar(t, []byte(e.must("export", "r1").stdout))
		return entries["live"].body == "live\n"
	})
	if !e.rootfsMounted("r1") {
		t.Error("export unmounted a running container's root file system")
	}

	e.fails("No such container: nosuch", "export", "nosuch")
	if _, err := os.Stat(filepath.Join(e.dir, "bad.tar")); err == nil {
		t.Error("a failed export left a file")
	}
	e.fails("No such container", "export", "-o", filepath.Join(e.dir, "bad.tar"), "nosuch")
	if _, err := os.Stat(filepath.Join(e.dir, "bad.tar")); err == nil {
		t.Error("a failed export left a file")
	}
}

// TestContainerExportTerminal: like docker, export refuses to write a tar
// archive to a terminal.
func TestContainerExportTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var errb bytes.Buffer
	code := run(context.Background(), []string{"--root", t.TempDir(), "--runroot", t.TempDir(), "export", "whatever"}, strings.NewReader(""), tty, &errb)
	if code == 0 || !strings.Contains(errb.String(), "cowardly refusing to save to a terminal. Use the -o flag or redirect") {
		t.Errorf("export to a terminal: exit %d, stderr %q", code, errb.String())
	}
}
