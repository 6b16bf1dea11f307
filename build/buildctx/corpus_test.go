package buildctx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hull-project/hull/snapshot"
)

// corpusDir holds the Dockerfile corpus with the images BuildKit built
// (see its README): the reference these tests compare COPY and ADD with.
const corpusDir = "../testdata/dockerfiles"

// corpusFile is one file of a reference image.
type corpusFile struct {
	Path    string  `json:"path"`
	Type    string  `json:"type"`
	Mode    string  `json:"mode"`
	UID     int     `json:"uid"`
	GID     int     `json:"gid"`
	Size    *int64  `json:"size"`
	Content *string `json:"content"`
	Target  string  `json:"target"`
}

// corpusStep is one COPY or ADD of a corpus Dockerfile, written out: the
// builder's part (parsing, WORKDIR, user names) done by hand.
type corpusStep struct {
	spec  CopySpec
	chmod string // --chmod, through SetChmod
}

func cp(dest string, srcs ...string) corpusStep {
	return corpusStep{spec: CopySpec{Sources: srcs, Dest: dest}}
}

func add(dest string, srcs ...string) corpusStep {
	return corpusStep{spec: CopySpec{Sources: srcs, Dest: dest, Extract: true}}
}

func (s corpusStep) own(uid, gid int) corpusStep { s.spec.Chown = &Owner{uid, gid}; return s }
func (s corpusStep) mod(m string) corpusStep     { s.chmod = m; return s }

func TestCorpus(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		base       []string // directories of the base image (and WORKDIRs)
		steps      []corpusStep
		skip       []string // reference paths other instructions make
	}{
		{
			name: "copy-basic", base: []string{"bin", "etc", "app"},
			steps: []corpusStep{
				cp("/single/renamed.txt", "a.txt"), cp("/multi/", "a.txt", "b.txt"), cp("/glob/", "*.txt"),
				cp("/glob-dirs/", "src/*/f.c"), cp("/glob-char/", "src/one/f.?"), cp("/dircopy", "dir"),
				cp("/dircopy-slash/", "dir/"), cp("/dircopy-into/dir", "dir"), cp("/bin/", "script.sh"),
				cp("/linkcopy", "link-to-a"), cp("/spaced dest/", "with space.txt"),
				cp("/app/", "notes.md"), cp("/app/rel/", "notes.md"), cp("/app/sub/", "dir/sub"),
			},
		},
		{
			name: "copy-chown-chmod", base: []string{"etc"},
			steps: []corpusStep{
				cp("/own/numeric", "file.txt").own(1000, 1000), cp("/own/uid-only", "file.txt").own(2000, 2000),
				cp("/own/name-only", "file.txt").own(1234, 5678), cp("/own/name-group", "file.txt").own(1234, 50),
				cp("/own/nobody", "file.txt").own(65534, 65534), cp("/own/name-gid", "file.txt").own(1234, 50),
				cp("/own/tree/", "tree").own(1234, 1234), cp("/new/parents/file", "file.txt").own(1234, 5678),
				add("/own/added", "file.txt").own(1000, 1000),
				cp("/mode/file-0600", "file.txt").mod("0600"), cp("/mode/file-755", "file.txt").mod("755"),
				cp("/mode/run-not-exec", "run.sh").mod("0644"), cp("/mode/tree/", "tree").mod("0700"),
				cp("/mode/both", "file.txt").own(1000, 1000).mod("0640"), add("/mode/added", "file.txt").mod("0444"),
				cp("/mode/symbolic", "file.txt").mod("a+x,g-r"),
			},
			skip: []string{"/etc", "/etc/group", "/etc/passwd"},
		},
		{
			name: "add-tar", base: []string{"bin", "etc"},
			steps: []corpusStep{
				add("/extracted/", "archive.tar.gz"), add("/extracted-xz", "archive.tar.xz"), add("/", "plain.tar"),
				add("/chowned/", "plain.tar").own(1000, 1000), add("/notes/", "note.txt.gz"),
				add("/regular.txt", "regular.txt"), cp("/copied/", "archive.tar.gz"),
			},
		},
		{
			name: "dockerignore", base: []string{"bin"},
			steps: []corpusStep{cp("/ctx/", ".")},
			skip:  []string{"/bind-listing"},
		},
		{
			name: "dockerfile-flag", dockerfile: "build/app.Dockerfile", base: []string{"bin"},
			steps: []corpusStep{cp("/files/", "*.txt")},
		},
		{
			name: "scratch", base: []string{"srv"},
			steps: []corpusStep{cp("/", "rootfs/"), add("/", "files.tar")},
			skip:  []string{"/bin", "/bin/busybox"},
		},
		{
			name: "copy-link", base: []string{"bin"},
			steps: []corpusStep{
				cp("/linked/file.txt", "file.txt"), cp("/linked/owned", "file.txt").own(1000, 1000).mod("0640"),
				cp("/linked/dir/", "d"), add("/linked/added", "file.txt"),
			},
			skip: []string{"/linked/combined", "/linked/from-stage"},
		},
		{
			name: "escape", base: []string{"bin"},
			steps: []corpusStep{cp(`/dest\name`, "file.txt")},
			skip:  []string{"/escaped", "/env-values"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(corpusDir, tt.name)
			raw, err := os.ReadFile(filepath.Join(dir, "expect.json"))
			if err != nil {
				t.Skipf("no reference: %v", err)
			}
			var ref struct {
				Files  []corpusFile `json:"files"`
				Absent []string     `json:"absent"`
			}
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			df := tt.dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			c, err := FromDir(dir, df)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.TempDir = t.TempDir()
			root := t.TempDir()
			for _, d := range tt.base {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			for i, s := range tt.steps {
				spec := s.spec
				if s.chmod != "" {
					if err := spec.SetChmod(s.chmod); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := c.Checksum(spec); err != nil {
					t.Fatalf("step %d: Checksum: %v", i, err)
				}
				var buf bytes.Buffer
				if _, err := c.WriteLayer(&buf, spec, DirLower(root)); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if _, err := snapshot.Extract(root, &buf, snapshot.ExtractOptions{}); err != nil {
					t.Fatalf("step %d: extract: %v", i, err)
				}
			}
			skip := map[string]bool{}
			for _, p := range tt.skip {
				skip[p] = true
			}
			for _, want := range ref.Files {
				if skip[want.Path] {
					continue
				}
				if got, err := describeFile(root, want.Path, want.Content != nil); err != nil {
					t.Errorf("%s: %v", want.Path, err)
				} else if w := want.String(); got != w {
					t.Errorf("%s: got %s, BuildKit made %s", want.Path, got, w)
				}
			}
			for _, p := range ref.Absent {
				if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
					t.Errorf("%s exists; BuildKit left it out", p)
				}
			}
		})
	}
}

// String sums a reference file up like describeFile.
func (f corpusFile) String() string {
	s := fmt.Sprintf("%s %s %d:%d", f.Type, f.Mode, f.UID, f.GID)
	if f.Type == "symlink" {
		return fmt.Sprintf("%s %d:%d ->%s", f.Type, f.UID, f.GID, f.Target)
	}
	if f.Size != nil && f.Type == "file" {
		s += fmt.Sprintf(" %d bytes", *f.Size)
	}
	if f.Content != nil {
		s += " " + strings.ReplaceAll(*f.Content, "\n", `\n`)
	}
	return s
}

// describeFile sums the file p of root up like a reference file, with its
// content if withContent.
func describeFile(root, p string, withContent bool) (string, error) {
	full := filepath.Join(root, p)
	fi, err := os.Lstat(full)
	if err != nil {
		return "", err
	}
	st := fi.Sys().(*syscall.Stat_t)
	f := corpusFile{Mode: fmt.Sprintf("%04o", unixBits(fi.Mode())), UID: int(st.Uid), GID: int(st.Gid)}
	switch {
	case fi.IsDir():
		f.Type = "dir"
	case fi.Mode()&os.ModeSymlink != 0:
		f.Type = "symlink"
		f.Target, _ = os.Readlink(full)
	default:
		f.Type = "file"
		size := fi.Size()
		f.Size = &size
		if withContent {
			b, _ := os.ReadFile(full)
			s := string(b)
			f.Content = &s
		}
	}
	return f.String(), nil
}
