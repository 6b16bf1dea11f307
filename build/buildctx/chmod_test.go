package buildctx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSymbolicMode(t *testing.T) {
	tests := []struct {
		mode string
		from uint32
		dir  bool
		want uint32
	}{
		{"a+x,g-r", 0o644, false, 0o715}, // BuildKit's own test case
		{"u+x", 0o644, false, 0o744},
		{"go-w", 0o666, false, 0o644},
		{"=r", 0o777, false, 0o444},
		{"u=rwx,g=rx,o=", 0o000, false, 0o750},
		{"a+X", 0o644, false, 0o644},
		{"a+X", 0o744, false, 0o755},
		{"a+X", 0o644, true, 0o755},
		{"a-X", 0o755, false, 0o644},
		{"u+s,g+s", 0o755, false, 0o6755},
		{"+s", 0o755, false, 0o6755},
		{"o+s", 0o755, false, 0o755},
		{"+t", 0o777, true, 0o1777},
		{"u+t", 0o777, true, 0o777},
		{"g=u", 0o640, false, 0o660},
		{"o=g", 0o750, false, 0o755},
		{"u-x+w=r", 0o755, false, 0o455},
		{"a=", 0o4777, false, 0o000},
		{"u=", 0o4755, false, 0o055},
		{"ug+w,o-rwx", 0o444, false, 0o660},
		{"u+", 0o644, false, 0o644},
	}
	for _, tt := range tests {
		m, err := parseSymbolicMode(tt.mode)
		if err != nil {
			t.Errorf("parse %q: %v", tt.mode, err)
			continue
		}
		if got := m.apply(tt.from, tt.dir); got != tt.want {
			t.Errorf("%q on %04o (dir %v) = %04o, want %04o", tt.mode, tt.from, tt.dir, got, tt.want)
		}
	}
	for _, bad := range []string{"", "u", "ugo", "u+x,", ",u+x", "u+q", "x+u", "g=uo", "u+ru", "644", "u+x g-w", "a=r,,o+w"} {
		if _, err := parseSymbolicMode(bad); !errors.Is(err, errSymbolicMode) {
			t.Errorf("parse %q: %v, want an error", bad, err)
		}
	}
}

func TestSetChmod(t *testing.T) {
	tests := []struct {
		in       string
		octal    string // "" for none
		symbolic string
		err      string
	}{
		{in: "0644", octal: "644"},
		{in: "4755", octal: "4755"},
		{in: "0", octal: "0"},
		{in: "a+x,g-r", symbolic: "a+x,g-r"},
		{in: "10000", err: "invalid chmod parameter: '10000'. it should be octal string and between 0 and 07777"},
		{in: "64a", err: "invalid chmod parameter: '64a'. it should be octal string and between 0 and 07777"},
		{in: "", err: "invalid chmod parameter: ''"},
		{in: "u+q", err: "invalid chmod parameter: 'u+q'"},
	}
	for _, tt := range tests {
		s := CopySpec{ChmodSymbolic: "stale"}
		err := s.SetChmod(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SetChmod(%q) = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SetChmod(%q): %v", tt.in, err)
			continue
		}
		c, err := s.chmod()
		if err != nil {
			t.Fatal(err)
		}
		want := tt.octal
		if want == "" {
			want = tt.symbolic
		}
		if c.text != want || s.ChmodSymbolic != tt.symbolic {
			t.Errorf("SetChmod(%q): text %q symbolic %q", tt.in, c.text, s.ChmodSymbolic)
		}
	}
}

func TestSymbolicChmodLayer(t *testing.T) {
	c := newCtx(t, f("file.txt", "f\n"), fm("tree/run", "r", 0o700), f("tree/data", "d"), dm("tree/sub", 0o750))
	ents, _ := layer(t, c, CopySpec{Sources: []string{"file.txt"}, Dest: "/mode/symbolic", ChmodSymbolic: "a+x,g-r"}, nil)
	if got := describe(ents["mode"]); got != "d755 0:0" {
		t.Errorf("made parent: %s", got)
	}
	if got := describe(ents["mode/symbolic"]); got != "f715 0:0 =f\n" {
		t.Errorf("file: %s", got)
	}
	ents, _ = layer(t, c, CopySpec{Sources: []string{"tree"}, Dest: "/t/", ChmodSymbolic: "go=u-w,a+X"}, nil)
	for name, want := range map[string]string{"t": "d755 0:0", "t/run": "f755 0:0 =r", "t/data": "f644 0:0 =d", "t/sub": "d755 0:0"} {
		if got := describe(ents[name]); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if _, err := c.WriteLayer(discard{}, CopySpec{Sources: []string{"file.txt"}, Dest: "/x", ChmodSymbolic: "u+q"}, nil); err == nil {
		t.Error("a bad symbolic mode was accepted")
	}
	if _, err := c.Checksum(CopySpec{Sources: []string{"file.txt"}, Dest: "/x", ChmodSymbolic: "u+q"}); err == nil {
		t.Error("a bad symbolic mode was accepted")
	}
}

// FuzzSymbolicChmod checks symbolic modes against GNU chmod on a regular
// file (umask 0, as BuildKit applies them), where both accept the mode.
func FuzzSymbolicChmod(f *testing.F) {
	if _, err := exec.LookPath("chmod"); err != nil {
		f.Skip("no chmod command")
	}
	for _, s := range []string{
		"a+x,g-r", "u=rwX,go=rX", "+s", "o=u", "ug-s,+t", "a=", "=rw,u+x", "g+u-w", "u+x", "go-w", "=r",
		"u=rwx,g=rx,o=", "a+X", "a-X", "u+s,g+s", "o+s", "+t", "u+t", "g=u", "o=g", "u-x+w=r", "u=", "ug+w,o-rwx", "u+",
	} {
		f.Add(s, uint16(0o644))
		f.Add(s, uint16(0o4711))
	}
	dir := f.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mode string, from uint16) {
		m, err := parseSymbolicMode(mode)
		if err != nil || strings.ContainsAny(mode, "\x00\n'") {
			return
		}
		start := uint32(from) & 0o7777
		if err := os.Chmod(file, fileMode(start)); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", "umask 0 && chmod -- '"+mode+"' "+file).CombinedOutput()
		if err != nil {
			return // GNU chmod refuses it
		}
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		got := unixBits(fi.Mode())
		if want := m.apply(start, false); got != want {
			t.Errorf("%q on %04o: chmod gives %04o, we give %04o (%s)", mode, start, got, want, out)
		}
	})
}

func fileMode(u uint32) os.FileMode {
	m := os.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func unixBits(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
