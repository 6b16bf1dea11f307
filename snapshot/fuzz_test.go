package snapshot

import (
	"archive/tar"
	"bytes"
	"os"
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
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		sb := newSandboxIn(t, parent)
		st, err := Extract(sb.dst, bytes.NewReader(data), ExtractOptions{})
		sb.check(t)
		if got := names(t, sb.parent); !slices.Equal(got, []string{"dst", "outside"}) {
			t.Fatalf("parent holds %q", got)
		}
		// Content comes from the archive: nothing may be amplified.
		if st.Size > int64(len(data)) {
			t.Fatalf("wrote %d bytes from a %d-byte archive (err %v)", st.Size, len(data), err)
		}
	})
}

// FuzzEntries builds well-formed archives from the fuzz input (so
// the fuzzer explores entry sequences rather than tar checksums): names,
// link targets and types come from a small hostile vocabulary. Nothing may
// appear outside dst.
func FuzzEntries(f *testing.F) {
	f.Add([]byte{0x40, 0x10, 0x01, 0x02, 0x03, 0x00, 0x21, 0x32})
	f.Add([]byte("\x02\x07\x00\x00\x01\x00\x07\x13\x05\x00\x00\x06"))
	f.Add([]byte("\x03\x01\x00\x08\x00\x05\x01\x00\x00\x09\x00\x00\x04\x01\x21\x00\x00\x01\x0b"))
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		sb := newSandboxIn(t, parent)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range fuzzEntries(data, sb.outside) {
			e.h.Size, e.h.Format = int64(len(e.body)), tar.FormatPAX
			if tw.WriteHeader(&e.h) != nil {
				return // not encodable
			}
			tw.Write([]byte(e.body))
		}
		tw.Close()
		_, _ = Extract(sb.dst, &buf, ExtractOptions{})
		sb.check(t)
	})
}

// fuzzEntries decodes data as entries: a type byte, then name components
// and link target components from a vocabulary, each list ended by 0.
func fuzzEntries(data []byte, outside string) []ent {
	words := []string{"", "a", "b", "c", "..", ".", ".wh.a", ".wh..wh..opq", ".wh...", ".wh.", "secret", "sub",
		"/", outside, "../outside", "../../outside/secret", ".wh.secret", "d/"}
	types := []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar, tar.TypeBlock, tar.TypeReg}
	next := func() (byte, bool) {
		if len(data) == 0 {
			return 0, false
		}
		b := data[0]
		data = data[1:]
		return b, true
	}
	path := func() string {
		var parts []string
		for range 6 {
			b, ok := next()
			if !ok || b == 0 {
				break
			}
			parts = append(parts, words[int(b)%len(words)])
		}
		p := ""
		for i, w := range parts {
			if i > 0 {
				p += "/"
			}
			p += w
		}
		return p
	}
	var ents []ent
	for len(data) > 0 && len(ents) < 32 {
		tb, _ := next()
		e := ent{h: tar.Header{Typeflag: types[int(tb)%len(types)], Mode: int64(tb) << 3 & 0o7777}}
		e.h.Name = path()
		if e.h.Name == "" || e.h.Name == "/" {
			e.h.Name = "x"
		}
		switch e.h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			e.h.Linkname = path()
		case tar.TypeReg:
			e.body = "data"
		case tar.TypeDir:
			e.h.Name += "/"
		}
		ents = append(ents, e)
	}
	return ents
}
