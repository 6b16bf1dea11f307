package buildctx

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hull-project/hull/snapshot"
	"golang.org/x/sys/unix"
)

// unpack writes spec's layer and extracts it with hull's extractor.
func unpack(t *testing.T, c *Context, spec CopySpec, lower Lower) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.WriteLayer(&buf, spec, lower); err != nil {
		t.Fatalf("WriteLayer: %v", err)
	}
	dir := t.TempDir()
	if _, err := snapshot.Extract(dir, bytes.NewReader(buf.Bytes()), snapshot.ExtractOptions{}); err != nil {
		t.Fatalf("extract the layer: %v", err)
	}
	return dir, buf.Bytes()
}

func TestSymlinkEscapes(t *testing.T) {
	host, err := os.ReadFile("/etc/passwd")
	if err != nil || len(host) < 8 {
		t.Skip("no /etc/passwd")
	}
	c := newCtx(t,
		f("app/main", "main"), sl("app/passwd", "/etc/passwd"), sl("app/up", "../../../../etc/passwd"),
		sl("app/etc", "/etc"), sl("top", "/etc/passwd"), sl("topdir", "/etc"),
	)
	// Copied directory: the links are copied as links.
	dir, layerBytes := unpack(t, c, CopySpec{Sources: []string{"app"}, Dest: "/app"}, nil)
	for name, want := range map[string]string{"passwd": "/etc/passwd", "up": "../../../../etc/passwd", "etc": "/etc"} {
		got, err := os.Readlink(filepath.Join(dir, "app", name))
		if err != nil || got != want {
			t.Errorf("app/%s: link %q, %v; want %q", name, got, err, want)
		}
	}
	if bytes.Contains(layerBytes, host[:min(len(host), 64)]) {
		t.Error("the layer holds the host's /etc/passwd")
	}

	// Named sources: followed inside the context, where there is no
	// etc/passwd.
	for _, src := range []string{"top", "topdir", "../../etc/passwd", "/etc/passwd", "app/etc/passwd", "app/up"} {
		_, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{src}, Dest: "/x"}, nil)
		if !isNotFound(err, "/"+cleanRel(src)) {
			t.Errorf("COPY %s: %v, want not found", src, err)
		}
	}
	// With an etc/passwd in the context, they all reach that one.
	os.Mkdir(filepath.Join(c.Dir(), "etc"), 0o755)
	os.WriteFile(filepath.Join(c.Dir(), "etc/passwd"), []byte("context passwd"), 0o644)
	for _, src := range []string{"top", "../../etc/passwd", "app/passwd", "app/up"} {
		dir, _ := unpack(t, c, CopySpec{Sources: []string{src}, Dest: "/x"}, nil)
		if b, err := os.ReadFile(filepath.Join(dir, "x")); err != nil || string(b) != "context passwd" {
			t.Errorf("COPY %s: %q, %v", src, b, err)
		}
	}
}

func TestLayerOnDisk(t *testing.T) {
	c := newCtx(t,
		fm("bin/tool", "#!/bin/sh\n", 0o755), f("bin/data", "d"), hl("bin/alias", "bin/tool"),
		dm("bin/private", 0o700), f("bin/private/key", "k"), sl("bin/sh", "tool"),
	)
	dir, _ := unpack(t, c, CopySpec{Sources: []string{"bin"}, Dest: "/usr/local/bin/", Chown: owner(1000, 100)}, nil)
	root := filepath.Join(dir, "usr/local/bin")
	check := func(name string, mode os.FileMode, uid, gid uint32) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", name, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	check(".", os.ModeDir|0o755, 1000, 100)
	check("tool", 0o755, 1000, 100)
	check("data", 0o644, 1000, 100)
	check("private", os.ModeDir|0o700, 1000, 100)
	check("private/key", 0o644, 1000, 100)
	check("sh", os.ModeSymlink|0o777, 1000, 100)
	for _, p := range []string{"usr", "usr/local"} {
		fi, _ := os.Lstat(filepath.Join(dir, p))
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != os.ModeDir|0o755 || st.Uid != 1000 {
			t.Errorf("%s: %v %d", p, fi.Mode(), st.Uid)
		}
	}
	a, _ := os.Stat(filepath.Join(root, "alias"))
	b, _ := os.Stat(filepath.Join(root, "tool"))
	if !os.SameFile(a, b) {
		t.Error("alias and tool are not hard linked")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "alias")); string(got) != "#!/bin/sh\n" {
		t.Errorf("alias: %q", got)
	}
}

func TestFileCapabilities(t *testing.T) {
	c := newCtx(t, fm("ping", "binary", 0o755))
	p := filepath.Join(c.Dir(), "ping")
	spec := CopySpec{Sources: []string{"ping"}, Dest: "/bin/ping"}
	before, err := c.Checksum(spec)
	if err != nil {
		t.Fatal(err)
	}
	// vfs_cap_data revision 2, effective, CAP_NET_RAW (13) permitted.
	caps := []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Setxattr(p, "security.capability", caps, 0); err != nil {
		t.Skipf("cannot set file capabilities here: %v", err)
	}
	after, err := c.Checksum(spec)
	if err != nil || after == before {
		t.Errorf("checksum with capabilities %s %v, without %s", after, err, before)
	}
	ents, _ := layer(t, c, spec, nil)
	if got := ents["bin/ping"].hdr.PAXRecords["SCHILY.xattr.security.capability"]; got != string(caps) {
		t.Errorf("layer capabilities %q", got)
	}
	dir, _ := unpack(t, c, spec, nil)
	buf := make([]byte, 64)
	n, err := unix.Getxattr(filepath.Join(dir, "bin/ping"), "security.capability", buf)
	if err != nil || !bytes.Equal(buf[:n], caps) {
		t.Errorf("unpacked capabilities %x, %v", buf[:max(n, 0)], err)
	}
}
