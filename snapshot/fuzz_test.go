package snapshot

import (
	"archive/tar"
	"bytes"
	"slices"
	"testing"
)

// FuzzExtract extracts arbitrary bytes: it must never panic and never touch
// anything outside dst (a sibling sentinel dir must stay as it was).
func FuzzExtract(f *testing.F) {
	seeds := [][]ent{
		{dir("etc/"), file("etc/hosts", "h"), symlink("l", "/etc"), hardlink("h", "etc/hosts"), file(".wh.x", ""), file("etc/.wh..wh..opq", "")},
		{device("dev/null", tar.TypeChar, 1, 3), device("p", tar.TypeFifo, 0, 0), dir("ro/").withMode(0o555), file("ro/f", "x").withMode(0o4755)},
		{file("f", "x").with(func(h *tar.Header) {
			h.PAXRecords = map[string]string{"SCHILY.xattr.user.a": "b", "SCHILY.xattr.trusted.overlay.opaque": "y"}
		})},
		{file("../escape", "x")},
		{symlink("a", "../outside"), file("a/escape", "x")},
		{symlink("a", "b"), symlink("b", "../outside"), hardlink("c", "a/secret")},
		{hardlink("x", "../outside/secret")},
		{dir("a/"), file("a/f", "f"), symlink("a", "../outside"), file("a/g", "g")},
		{symlink("s", "../outside/secret"), file("s", "replaced"), symlink("d", "../outside"), dir("d/"), file(".wh.d", "")},
		{file("sl/../x", "x"), file(".wh...", "")},
	}
	for _, s := range seeds {
		f.Add(mkTar(f, s...))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		_, _ = Extract(sb.dst, bytes.NewReader(data), ExtractOptions{})
		sb.check(t)
		if got := names(t, sb.parent); !slices.Equal(got, []string{"dst", "outside"}) {
			t.Fatalf("parent holds %q", got)
		}
	})
}
