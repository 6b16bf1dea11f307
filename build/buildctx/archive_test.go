package buildctx

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hull-project/hull/snapshot"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// testArchive is the tar most ADD tests unpack.
func testArchive(t *testing.T) []byte {
	own := func(e tarEnt, uid, gid int) tarEnt { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }
	x := own(treg("app/x", "X"), 1234, 5678)
	x.hdr.Mode = 0o750
	return tarBytes(t,
		tdir("app/"), x,
		tsym("app/l", "/etc/passwd"),
		tarEnt{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "app/h", Linkname: "app/x"}},
		treg("/abs", "absolute names are relative"),
		treg("deep/er/file", "implicit parents"),
	)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zstdBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestAddArchive(t *testing.T) {
	plain := testArchive(t)
	unpacked := map[string]string{
		"opt": "d755 0:0", "opt/app": "d755 0:0", "opt/app/h": "f750 1234:5678 =X",
		"opt/app/l": "l>/etc/passwd 0:0", "opt/app/x": "h>opt/app/h", // sorted: h first
		"opt/abs":  "f644 0:0 =absolute names are relative",
		"opt/deep": "d755 0:0", "opt/deep/er": "d755 0:0", "opt/deep/er/file": "f644 0:0 =implicit parents",
	}
	tests := []struct {
		name  string
		data  []byte
		spec  CopySpec
		lower []fsEnt
		want  map[string]string
	}{
		{name: "plain", data: plain, spec: CopySpec{Dest: "/opt", Extract: true}, want: unpacked},
		{name: "gzip", data: gzipBytes(plain), spec: CopySpec{Dest: "/opt/", Extract: true}, want: unpacked},
		{name: "bzip2", data: bzip2Bytes(t, plain), spec: CopySpec{Dest: "/opt", Extract: true}, want: unpacked},
		{name: "zstd", data: zstdBytes(plain), spec: CopySpec{Dest: "/opt", Extract: true}, want: unpacked},
		{name: "xz", data: xzBytes(t, plain), spec: CopySpec{Dest: "/opt", Extract: true}, want: unpacked},
		{
			name: "corrupt xz is not an archive",
			data: append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 600)...),
			spec: CopySpec{Dest: "/opt/", Extract: true},
			want: map[string]string{"opt": "d755 0:0", "opt/src": "f644 0:0 ="},
		},
		{
			name: "chown applies, chmod does not",
			data: gzipBytes(tarBytes(t, treg("f", "F"))),
			spec: CopySpec{Dest: "/opt", Extract: true, Chown: owner(7, 8), Chmod: mode(0o600)},
			want: map[string]string{"opt": "d755 7:8", "opt/f": "f644 7:8 =F"},
		},
		{
			name: "COPY copies archives",
			data: gzipBytes(tarBytes(t, treg("f", "F"))),
			spec: CopySpec{Dest: "/opt/"},
			want: map[string]string{"opt": "d755 0:0", "opt/src": "f644 0:0 ="},
		},
		{
			name: "not a tar",
			data: gzipBytes([]byte(strings.Repeat("log line\n", 100))),
			spec: CopySpec{Dest: "/opt/", Extract: true},
			want: map[string]string{"opt": "d755 0:0", "opt/src": "f644 0:0 ="},
		},
		{
			name: "empty tar is not an archive",
			data: tarBytes(t),
			spec: CopySpec{Dest: "/opt/", Extract: true},
			want: map[string]string{"opt": "d755 0:0", "opt/src": "f644 0:0 ="},
		},
		{
			name:  "archive entries replace what lower has",
			data:  tarBytes(t, treg("app", "now a file"), tdir("bin/")),
			spec:  CopySpec{Dest: "/opt", Extract: true},
			lower: []fsEnt{f("opt/app/x", ""), sl("opt/bin", "/usr/bin")},
			want:  map[string]string{"opt": "d755 0:0", "opt/app": "f644 0:0 =now a file", "opt/bin": "d755 0:0"},
		},
		{
			name: "a later archive replaces a directory of an earlier one",
			data: tarBytes(t, tdir("d/"), treg("d/x", "x")),
			spec: CopySpec{Sources: []string{"src", "second.tar"}, Dest: "/opt/", Extract: true},
			want: map[string]string{"opt": "d755 0:0", "opt/d": "f644 0:0 =second"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCtx(t, f("second.tar", string(tarBytes(t, treg("d", "second")))))
			os.WriteFile(filepath.Join(c.Dir(), "src"), tt.data, 0o644)
			c.TempDir = t.TempDir()
			spec := tt.spec
			if spec.Sources == nil {
				spec.Sources = []string{"src"}
			}
			ents, _ := layer(t, c, spec, newLower(t, tt.lower))
			got := map[string]string{}
			for name, e := range ents {
				got[name] = describe(e)
				if strings.HasPrefix(got[name], "f") && name == "opt/src" {
					got[name] = "f644 0:0 =" // content checked below
					if e.body != string(tt.data) {
						t.Error("copied archive content differs")
					}
				}
			}
			for name, w := range tt.want {
				if got[name] != w {
					t.Errorf("%s = %q, want %q", name, got[name], w)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("unexpected entry %s (%s)", name, got[name])
				}
			}
			if left, _ := os.ReadDir(c.TempDir); len(left) != 0 {
				t.Errorf("left %v in TempDir", left)
			}
		})
	}
}

func TestAddHostileArchive(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"dot-dot", tarBytes(t, treg("../../escape", "x")), snapshot.ErrBreakout},
		{"hard link out", tarBytes(t, tarEnt{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "../../etc/passwd"}}), snapshot.ErrBreakout},
		{"write through an absolute symlink", tarBytes(t, tsym("etc", "/etc"), treg("etc/evil", "x")), snapshot.ErrSymlinkParent},
		{"write through a relative symlink", tarBytes(t, tsym("up", "../../.."), treg("up/evil", "x")), snapshot.ErrSymlinkParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCtx(t)
			os.WriteFile(filepath.Join(c.Dir(), "evil.tar"), gzipBytes(tt.data), 0o644)
			c.TempDir = t.TempDir()
			_, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{"evil.tar"}, Dest: "/x", Extract: true}, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if left, _ := os.ReadDir(c.TempDir); len(left) != 0 {
				t.Errorf("left %v in TempDir", left)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(c.TempDir), "escape")); err == nil {
				t.Error("escaped")
			}
		})
	}
}

func TestIsArchiveTruncated(t *testing.T) {
	c := newCtx(t)
	full := gzipBytes(testArchive(t))
	os.WriteFile(filepath.Join(c.Dir(), "cut.tgz"), full[:len(full)-20], 0o644)
	c.TempDir = t.TempDir()
	if _, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{"cut.tgz"}, Dest: "/x", Extract: true}, nil); err == nil {
		t.Error("a truncated archive was unpacked")
	}
}

func TestAddXZWithoutCommand(t *testing.T) {
	data := xzBytes(t, testArchive(t))
	old := xzCommand
	xzCommand = []string{"/nonexistent/xz"}
	defer func() { xzCommand = old }()
	c := newCtx(t)
	os.WriteFile(filepath.Join(c.Dir(), "a.tar.xz"), data, 0o644)
	_, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{"a.tar.xz"}, Dest: "/x/", Extract: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "xz") {
		t.Errorf("err = %v, want the missing xz command", err)
	}
	// COPY does not need it.
	if _, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{"a.tar.xz"}, Dest: "/x/"}, nil); err != nil {
		t.Error(err)
	}
}
