package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (name → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The Docker "getting started" flow: build an image that serves a page,
// run it with the page from the build, and the build CLI's flags.
func TestBuildCLI(t *testing.T) {
	e := newLC(t)
	ctxDir := filepath.Join(e.dir, "ctx")
	writeTree(t, ctxDir, map[string]string{
		"Dockerfile":       "FROM busybox\nARG MSG=default\nCOPY site/ /www/\nRUN echo \"$MSG\" > /www/msg.txt\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
		"site/index.html":  "<h1>hello from a hull build</h1>\n",
		"other.Dockerfile": "FROM busybox\nRUN echo other > /other\n",
	})
	iid := filepath.Join(e.dir, "iid")
	r := e.must("build", "-t", "site:1", "-t", "site:latest", "--build-arg", "MSG=built", "--iidfile", iid, "--label", "k=v", "--progress", "plain", ctxDir)
	if !strings.Contains(r.stderr, "naming to docker.io/library/site:1") {
		t.Errorf("build output:\n%s", r.stderr)
	}
	id, err := os.ReadFile(iid)
	if err != nil || !strings.HasPrefix(string(id), "sha256:") {
		t.Fatalf("--iidfile: %q %v", id, err)
	}
	out := e.must("image", "inspect", "-f", "{{.Id}} {{.Config.Labels.k}} {{.Config.Cmd}}", "site:latest").stdout
	if strings.TrimSpace(out) != string(id)+" v [httpd -f -p 80 -h /www]" {
		t.Errorf("inspect: %q", out)
	}
	r = e.must("run", "--rm", "site:1", "cat", "/www/index.html", "/www/msg.txt")
	if r.stdout != "<h1>hello from a hull build</h1>\nbuilt\n" {
		t.Errorf("run of the built image: %q", r.stdout)
	}
	// -q prints the ID only; a rebuild is the same image.
	r = e.must("build", "-q", "--build-arg", "MSG=built", "--label", "k=v", ctxDir)
	if strings.TrimSpace(r.stdout) != string(id) || r.stderr != "" {
		t.Errorf("build -q: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// -f with another Dockerfile; the aliases.
	e.must("image", "build", "-q", "-f", filepath.Join(ctxDir, "other.Dockerfile"), "-t", "other", ctxDir)
	e.must("buildx", "build", "-q", "-f", filepath.Join(ctxDir, "other.Dockerfile"), ctxDir)
	if got := e.must("run", "--rm", "other", "cat", "/other").stdout; got != "other\n" {
		t.Errorf("-f other.Dockerfile: %q", got)
	}
	// A Dockerfile on stdin, no context.
	r = e.hullIn("FROM busybox\nRUN echo piped > /p\n", "build", "-q", "-t", "piped", "-")
	if r.code != 0 {
		t.Fatalf("build - < Dockerfile:\n%v", r)
	}
	if got := e.must("run", "--rm", "piped", "cat", "/p").stdout; got != "piped\n" {
		t.Errorf("Dockerfile from stdin: %q", got)
	}
	// A context tar on stdin.
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, content := range map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "from tar\n"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))})
		_, _ = tw.Write([]byte(content))
	}
	tw.Close()
	r = e.hullIn(ctxTar.String(), "build", "-q", "-t", "fromtar", "-")
	if r.code != 0 {
		t.Fatalf("build - < context.tar:\n%v", r)
	}
	if got := e.must("run", "--rm", "fromtar", "cat", "/f").stdout; got != "from tar\n" {
		t.Errorf("context from a tar on stdin: %q", got)
	}
	// --output type=tar: the file system as a tar.
	outTar := filepath.Join(e.dir, "fs.tar")
	e.must("build", "-q", "--build-arg", "MSG=built", "--output", "type=tar,dest="+outTar, ctxDir)
	if names := tarNames(t, outTar); !strings.Contains(names, "www/index.html") || !strings.Contains(names, "bin/busybox") {
		t.Errorf("--output type=tar has: %s", names)
	}
	// Errors: a missing context, a missing Dockerfile, a failing RUN.
	if r := e.fails("build", filepath.Join(e.dir, "nosuch")); !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing context: %v", r)
	}
	writeTree(t, filepath.Join(e.dir, "bad"), map[string]string{"Dockerfile": "FROM busybox\nRUN exit 7\n"})
	if r := e.fails("build", "-t", "bad", filepath.Join(e.dir, "bad")); !strings.Contains(r.stderr, "exit code: 7") || !strings.Contains(r.stderr, "Dockerfile:2") {
		t.Errorf("failing RUN: %v", r)
	}
	e.fails("image", "inspect", "bad")
	// builder prune empties the cache: the next build runs its steps.
	r = e.must("builder", "prune", "-f")
	if !strings.Contains(r.stdout, "Deleted build cache objects:") {
		t.Errorf("builder prune: %q", r.stdout)
	}
	r = e.must("build", "--progress", "plain", "--build-arg", "MSG=built", ctxDir)
	if strings.Contains(r.stderr, "CACHED") {
		t.Errorf("build after builder prune used the cache:\n%s", r.stderr)
	}
}

func tarNames(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}

// The build cache's layers survive the image store's GC (rmi, image
// prune) until builder prune: a rebuild after rmi is all cached.
func TestBuildCacheSurvivesGC(t *testing.T) {
	e := newLC(t)
	ctxDir := filepath.Join(e.dir, "ctx")
	writeTree(t, ctxDir, map[string]string{
		"Dockerfile": "FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nCOPY --from=a /a /a\nRUN echo b > /b\n",
	})
	e.must("build", "-q", "-t", "gc:1", ctxDir)
	e.must("rmi", "gc:1")
	e.must("image", "prune", "-f")
	r := e.must("build", "--progress", "plain", "-t", "gc:1", ctxDir)
	if strings.Count(r.stderr, "CACHED") != 3 || strings.Contains(r.stderr, "DONE") {
		t.Errorf("rebuild after rmi and image prune:\n%s", r.stderr)
	}
	e.must("rmi", "gc:1")
	e.must("builder", "prune", "-f")
	e.must("image", "prune", "-f")
	r = e.must("build", "--progress", "plain", "-t", "gc:1", ctxDir)
	if strings.Contains(r.stderr, "CACHED") {
		t.Errorf("rebuild after builder prune used the cache:\n%s", r.stderr)
	}
	if got := e.must("run", "--rm", "gc:1", "cat", "/a", "/b").stdout; got != "a\nb\n" {
		t.Errorf("run: %q", got)
	}
}
