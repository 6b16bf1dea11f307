package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExtractHostile feeds archives that try to write, link or change
// something outside dst: each must be refused and leave the outside alone.
func TestExtractHostile(t *testing.T) {
	requireRoot(t)
	bothResolvers(t, testExtractHostile)
}

func testExtractHostile(t *testing.T) {
	// out is the absolute path of the sentinel dir; rel reaches it from dst.
	tests := []struct {
		name string
		ents func(out string) []ent
		want error // nil: any error
		msg  string
	}{
		{"dotdot", func(string) []ent { return []ent{file("../escape", "x")} }, ErrBreakout, `layer entry "../escape": path escapes the layer root`},
		{"abs dotdot", func(string) []ent { return []ent{file("/abs/../../escape", "x")} }, ErrBreakout, ""},
		{"deep dotdot", func(string) []ent { return []ent{dir("a/"), file("a/b/../../../outside/escape", "x")} }, ErrBreakout, ""},
		{"dotdot dir", func(string) []ent { return []ent{dir("../outside/sub/d/")} }, ErrBreakout, ""},
		{"dotdot symlink", func(string) []ent { return []ent{symlink("../outside/sub/s", "/")} }, ErrBreakout, ""},
		{"dotdot device", func(string) []ent { return []ent{device("../outside/sub/n", tar.TypeChar, 1, 3)} }, ErrBreakout, ""},
		{"symlink to / then file", func(out string) []ent {
			return []ent{symlink("a", "/"), file("a"+out+"/escape", "x")}
		}, ErrSymlinkParent, ""},
		{"abs symlink then file", func(out string) []ent {
			return []ent{symlink("a", out), file("a/escape", "x")}
		}, ErrSymlinkParent, `layer entry "a/escape": directory "a": path goes through a symlink`},
		{"rel symlink then file", func(string) []ent { return []ent{symlink("a", "../outside"), file("a/escape", "x")} }, ErrSymlinkParent, ""},
		{"symlink then overwrite", func(string) []ent { return []ent{symlink("a", "../outside"), file("a/secret", "pwned")} }, ErrSymlinkParent, ""},
		{"symlink chain", func(string) []ent {
			return []ent{symlink("a", "b"), symlink("b", "../outside"), file("a/escape", "x")}
		}, ErrSymlinkParent, ""},
		{"nested symlink", func(string) []ent {
			return []ent{dir("c/"), symlink("c/d", "../../outside"), file("c/d/sub/escape", "x")}
		}, ErrSymlinkParent, ""},
		{"dir through symlink", func(out string) []ent { return []ent{symlink("a", out), dir("a/sub/new/")} }, ErrSymlinkParent, ""},
		{"symlink through symlink", func(out string) []ent { return []ent{symlink("a", out), symlink("a/s", "/")} }, ErrSymlinkParent, ""},
		{"device through symlink", func(out string) []ent {
			return []ent{symlink("a", out), device("a/sub/null", tar.TypeChar, 1, 3)}
		}, ErrSymlinkParent, ""},
		{"fifo through symlink", func(out string) []ent { return []ent{symlink("a", out), device("a/sub/p", tar.TypeFifo, 0, 0)} }, ErrSymlinkParent, ""},
		{"dir replaced by symlink", func(out string) []ent {
			return []ent{dir("a/"), file("a/f", "f"), symlink("a", out), file("a/escape", "x")}
		}, ErrSymlinkParent, ""},
		{"dir replaced by symlink, cached", func(out string) []ent {
			return []ent{dir("a/"), dir("a/b/"), file("a/b/f", "f"), symlink("a", out), file("a/b/escape", "x")}
		}, nil, ""},
		{"hardlink dotdot", func(string) []ent { return []ent{hardlink("x", "../../etc/passwd")} }, ErrBreakout, `hard link target "../../etc/passwd": path escapes the layer root`},
		{"hardlink to sentinel", func(string) []ent { return []ent{hardlink("x", "../outside/secret")} }, ErrBreakout, ""},
		{"hardlink through symlink dir", func(out string) []ent {
			return []ent{symlink("d", out), hardlink("x", "d/secret")}
		}, ErrSymlinkParent, ""},
		{"hardlink through rel symlink dir", func(string) []ent {
			return []ent{dir("z/"), symlink("z/d", "../../outside"), hardlink("x", "/z/d/secret")}
		}, ErrSymlinkParent, ""},
		{"hardlink via abs symlink to /", func(out string) []ent {
			return []ent{symlink("root", "/"), hardlink("x", "root"+out+"/secret")}
		}, ErrSymlinkParent, ""},
		{"hardlink named through symlink", func(out string) []ent {
			return []ent{file("f", "f"), symlink("a", out), hardlink("a/sub/x", "f")}
		}, ErrSymlinkParent, ""},
		{"whiteout through symlink", func(out string) []ent { return []ent{symlink("a", out), file("a/.wh.secret", "")} }, ErrSymlinkParent, ""},
		{"opaque through symlink", func(out string) []ent { return []ent{symlink("a", out), file("a/.wh..wh..opq", "")} }, ErrSymlinkParent, ""},
		{"whiteout dotdot", func(string) []ent { return []ent{file(".wh...", "")} }, nil, "invalid whiteout"},
		{"whiteout dot", func(string) []ent { return []ent{file("sub/.wh..", "")} }, nil, "invalid whiteout"},
		{"whiteout empty", func(string) []ent { return []ent{file(".wh.", "")} }, nil, "invalid whiteout"},
		{"whiteout escape", func(string) []ent { return []ent{file("../outside/.wh.secret", "")} }, ErrBreakout, ""},
		{"whiteout opaque escape", func(string) []ent { return []ent{file("../outside/.wh..wh..opq", "")} }, ErrBreakout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			_, err := Extract(sb.dst, bytes.NewReader(mkTar(t, tt.ents(sb.outside)...)), ExtractOptions{})
			switch {
			case err == nil:
				t.Errorf("hostile archive accepted")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			case tt.msg != "" && !strings.Contains(err.Error(), tt.msg):
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			sb.check(t)
		})
	}
}

// TestExtractSurprising covers archives that are legal but look like
// attacks: they must succeed, confined to dst.
func TestExtractSurprising(t *testing.T) {
	requireRoot(t)
	bothResolvers(t, testExtractSurprising)
}

func testExtractSurprising(t *testing.T) {
	sb := newSandbox(t)
	out := sb.outside
	extract(t, sb.dst, ExtractOptions{},
		file("/etc/x", "abs"),
		file("a/../b", "b"),
		file("./c/./d/../e", "e"),
		// A symlink replaced by a file, a dir, a device, a whiteout: the link
		// is removed, never written through.
		symlink("s2f", out+"/secret"),
		file("s2f", "mine"),
		symlink("s2d", out),
		dir("s2d/"),
		file("s2d/secret", "mine"),
		symlink("s2n", out+"/secret"),
		device("s2n", tar.TypeFifo, 0, 0),
		symlink("s2w", out),
		file(".wh.s2w", ""),
		// A hard link to a symlink links the symlink itself.
		symlink("esc", out+"/secret"),
		hardlink("esclink", "esc"),
		// Symlink targets are data, absolute or not.
		symlink("up", "../../../../.."),
		// Lexical ".." never goes through a symlink.
		symlink("sl", out),
		file("sl/../viaslash", "v"),
	)
	sb.check(t)
	p := func(n string) string { return filepath.Join(sb.dst, n) }
	if readFile(t, p("etc/x")) != "abs" || readFile(t, p("b")) != "b" || readFile(t, p("c/e")) != "e" || readFile(t, p("viaslash")) != "v" {
		t.Error("names not confined to dst as expected")
	}
	if readFile(t, p("s2f")) != "mine" || readFile(t, p("s2d/secret")) != "mine" {
		t.Error("symlink not replaced")
	}
	if s := lstat(t, p("s2n")); s.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("s2n: mode %o", s.Mode)
	}
	if s := lstat(t, p("s2w")); s.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("s2w: mode %o", s.Mode)
	}
	if a, b := lstat(t, p("esc")), lstat(t, p("esclink")); a.Ino != b.Ino || b.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Error("esclink is not a hard link of the symlink esc")
	}
	if tgt, _ := os.Readlink(p("up")); tgt != "../../../../.." {
		t.Errorf("up -> %q", tgt)
	}
}
