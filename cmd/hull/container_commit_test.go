package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/image"
	digest "github.com/opencontainers/go-digest"
)

var cxImageID = regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

func TestContainerCommit(t *testing.T) {
	e := newCX(t)
	base := strings.TrimSpace(e.must("image", "inspect", "-f", "{{.Id}}", "busybox").stdout)
	e.must("run", "--name", "c1", "-e", "FROM_RUN=1", "-w", "/tmp", "busybox", "sh", "-c", cxChanges)
	r := e.must("commit", "-a", "A. U. Thor <a@example.com>", "-m", "my message",
		"-c", "ENV FOO=bar", "-c", `CMD ["cat", "/etc/passwd"]`, "-c", "LABEL kind=committed",
		"c1", "committed:v1")
	if !cxImageID.MatchString(r.stdout) {
		t.Fatalf("commit printed %q", r.stdout)
	}
	id := strings.TrimSpace(r.stdout)

	// The committed image has the changes.
	if out := e.must("run", "--rm", "committed:v1").stdout; !strings.HasSuffix(out, "\nx\n") {
		t.Errorf("CMD of the committed image:\n%s", out)
	}
	out := e.must("run", "--rm", "committed:v1", "sh", "-c", `test -e /new && ! test -e /bin/ls && echo "$FOO $FROM_RUN $(pwd)"`).stdout
	if out != "bar 1 /tmp\n" {
		t.Errorf("committed image: %q", out)
	}

	// Config, parent, layers and history.
	var inspect []struct {
		ID, Parent, Author, Comment string
		Config                      struct {
			Env, Cmd   []string
			WorkingDir string
			Labels     map[string]string
		}
		RootFS struct{ Layers []string }
	}
	if err := json.Unmarshal([]byte(e.must("image", "inspect", "committed:v1").stdout), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	img := inspect[0]
	if img.ID != id || img.Parent != base || img.Author != "A. U. Thor <a@example.com>" {
		t.Errorf("id %s parent %s author %q; want %s, %s", img.ID, img.Parent, img.Author, id, base)
	}
	if !slices.Contains(img.Config.Env, "FOO=bar") || !slices.Contains(img.Config.Env, "FROM_RUN=1") ||
		!slices.Equal(img.Config.Cmd, []string{"cat", "/etc/passwd"}) || img.Config.WorkingDir != "/tmp" ||
		img.Config.Labels["kind"] != "committed" {
		t.Errorf("config: %+v", img.Config)
	}
	if len(img.RootFS.Layers) != 2 {
		t.Fatalf("layers: %v", img.RootFS.Layers)
	}
	hist := e.must("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:v1").stdout
	if first := strings.Split(hist, "\n")[0]; first != "sh -c "+cxChanges+"|my message" {
		t.Errorf("history:\n%s", hist)
	}

	// The layer: the changes only, with an OCI whiteout.
	s, err := image.Open(e.root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Content().Open(digest.Digest(img.RootFS.Layers[1]))
	if err != nil {
		t.Fatal(err)
	}
	var layer strings.Builder
	if _, err := f.WriteTo(&layer); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, names := cxReadTar(t, []byte(layer.String()))
	if want := []string{"bin/", "bin/.wh.ls", "etc/", "etc/passwd", "new"}; !slices.Equal(names, want) {
		t.Errorf("layer entries %q, want %q", names, want)
	}

	// An untouched container adds no layer, only a history entry (as
	// Docker does), and an untagged image.
	e.must("run", "--name", "idle", "busybox", "true")
	r = e.must("container", "commit", "idle")
	if !cxImageID.MatchString(r.stdout) {
		t.Fatalf("commit printed %q", r.stdout)
	}
	layers := e.must("image", "inspect", "-f", "{{len .RootFS.Layers}}", strings.TrimSpace(r.stdout)).stdout
	if layers != "1\n" {
		t.Errorf("empty commit has %s layers", layers)
	}
	hist = e.must("history", "--format", "{{.Size}}", strings.TrimSpace(r.stdout)).stdout
	if lines := strings.Split(strings.TrimSpace(hist), "\n"); len(lines) != 2 || lines[0] != "0B" {
		t.Errorf("history of an empty commit:\n%s", hist)
	}

	// A running container is paused during the commit and runs on.
	e.must("run", "-d", "--name", "r1", "busybox", "sh", "-c", "echo live > /live; sleep 1000")
	e.waitFor(10*time.Second, "/live", func() bool {
		return strings.Contains(e.must("diff", "r1").stdout, "A /live")
	})
	e.must("commit", "r1", "live:v1")
	if out := e.must("run", "--rm", "live:v1", "cat", "/live").stdout; out != "live\n" {
		t.Errorf("committed running container: %q", out)
	}
	if st := e.must("ps", "--format", "{{.Names}} {{.State}}").stdout; !strings.Contains(st, "r1 running") {
		t.Errorf("after commit: %s", st)
	}
	e.must("commit", "--pause=false", "r1", "live:v2")

	e.fails("No such container: nosuch", "commit", "nosuch")
	e.fails("refusing to create a tag with a digest reference", "commit", "c1", "x@sha256:"+strings.Repeat("a", 64))
	e.fails("not a valid change command", "commit", "-c", "RUN true", "c1")
	e.fails("requires at least 1 and at most 2 arguments", "commit", "c1", "a", "b")
}
