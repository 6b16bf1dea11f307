package build

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/archive"
	"github.com/hull-project/hull/build/buildctx"
	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/reference"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// env is a test's image store with busybox and a builder on it.
type env struct {
	t      *testing.T
	images *image.Store
	b      *Builder
	ctxDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t)
	root := t.TempDir()
	is, err := image.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(testutil.BusyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, _ := reference.Parse("busybox:latest")
	if _, err := archive.Import(context.Background(), is, f, ref, archive.ImportOptions{Changes: []string{`CMD ["sh"]`}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.UnmountUnder(root) })
	return &env{t: t, images: is, b: &Builder{Images: is, Dir: filepath.Join(root, "build")}, ctxDir: t.TempDir()}
}

// file writes a context file.
func (e *env) file(name, content string) {
	e.t.Helper()
	p := filepath.Join(e.ctxDir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// build builds a Dockerfile in the test's context; it returns the image
// and the progress output.
func (e *env) build(df string, mod func(*Options)) (*image.Image, string, error) {
	e.t.Helper()
	bctx, err := buildctx.FromDir(e.ctxDir, "Dockerfile")
	if err != nil {
		e.t.Fatal(err)
	}
	defer bctx.Close()
	var out bytes.Buffer
	o := Options{Dockerfile: []byte(df), Context: bctx, Out: &out, Network: "none"}
	if mod != nil {
		mod(&o)
	}
	img, err := e.b.Build(context.Background(), o)
	return img, out.String(), err
}

// readFile reads a file of an image's file system (top layer first).
func (e *env) readFile(img *image.Image, p string) (string, bool) {
	e.t.Helper()
	cfg, err := img.Config()
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []digest.Digest
	for _, d := range cfg.RootFS.DiffIDs {
		ids = append(ids, digest.Digest(d.String()))
	}
	l := newLowerFS(e.images.Snapshots(), ids)
	if _, err := l.Lstat(p); err != nil {
		return "", false
	}
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(readLower(l, p))
	return b.String(), true
}

const fullDockerfile = `# syntax is BuildKit's
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
ENV OUT=/out
WORKDIR /src
COPY app/ ./
RUN mkdir -p $OUT && cat *.txt > $OUT/joined && echo "$GREETING" > $OUT/greeting
RUN <<EOF
echo heredoc > /out/heredoc
EOF

FROM busybox AS unused
RUN false

FROM busybox
LABEL org.example.name="demo" version=1
ENV A=1 B="two words"
WORKDIR app
COPY --from=builder /out/ /app/
COPY --chown=1000:1000 --chmod=0600 app/a.txt /secret.txt
USER nobody
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/cat"]
CMD ["/app/joined"]
`

func TestBuildAndCache(t *testing.T) {
	e := newEnv(t)
	e.file("app/a.txt", "A\n")
	e.file("app/b.txt", "B\n")
	e.file("app/ignored.log", "no")
	e.file(".dockerignore", "app/*.log\n")
	tag, _ := reference.Parse("demo:1")
	img, out, err := e.build(fullDockerfile, func(o *Options) {
		o.Tags = []reference.Reference{tag}
		o.BuildArgs = map[string]string{"GREETING": "bonjour"}
	})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg, err := img.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	checks := []struct {
		name string
		ok   bool
	}{
		{"Env", slices.Contains(c.Env, "A=1") && slices.Contains(c.Env, "B=two words")},
		{"WorkingDir", c.WorkingDir == "/app"},
		{"User", c.User == "nobody"},
		{"Labels", c.Labels["org.example.name"] == "demo" && c.Labels["version"] == "1"},
		{"ExposedPorts", len(c.ExposedPorts) == 2 && hasKey(c.ExposedPorts, "8080/tcp") && hasKey(c.ExposedPorts, "53/udp")},
		{"Volumes", hasKey(c.Volumes, "/data")},
		{"StopSignal", c.StopSignal == "SIGTERM"},
		{"Healthcheck", c.Healthcheck != nil && c.Healthcheck.Interval == 5*time.Second && c.Healthcheck.Retries == 2},
		{"Shell", slices.Equal(c.Shell, []string{"/bin/sh", "-ec"})},
		{"OnBuild", slices.Equal(c.OnBuild, []string{"RUN echo child"})},
		{"Entrypoint", slices.Equal(c.Entrypoint, []string{"/bin/cat"})},
		{"Cmd", slices.Equal(c.Cmd, []string{"/app/joined"})},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("config %s wrong: %+v", ch.name, c)
		}
	}
	for p, want := range map[string]string{"/app/joined": "A\nB\n", "/app/greeting": "bonjour\n", "/app/heredoc": "heredoc\n", "/secret.txt": "A\n"} {
		if got, ok := e.readFile(img, p); !ok || got != want {
			t.Errorf("%s = %q (exists %v), want %q", p, got, ok, want)
		}
	}
	if _, ok := e.readFile(img, "/src"); ok {
		t.Error("the builder stage's /src is in the final image")
	}
	if strings.Contains(out, "RUN false") {
		t.Errorf("the unused stage was built:\n%s", out)
	}
	if got, err := e.images.Resolve("demo:1"); err != nil || got.ID != img.ID {
		t.Errorf("tag demo:1: %v", err)
	}
	// History: one entry per instruction of the final stage after the
	// base's, layers only for the file system steps.
	var hist []string
	for _, h := range cfg.History[len(cfg.History)-13:] {
		hist = append(hist, h.CreatedBy)
	}
	if !strings.HasPrefix(hist[0], "LABEL ") || hist[3] != "COPY /out/ /app/ # buildkit" || !cfg.History[len(cfg.History)-1].EmptyLayer {
		t.Errorf("history: %q", hist)
	}

	// A rebuild without changes: every step cached, the same image, no
	// container run.
	img2, out2, err := e.build(fullDockerfile, func(o *Options) { o.BuildArgs = map[string]string{"GREETING": "bonjour"} })
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out2)
	}
	if img2.ID != img.ID {
		t.Errorf("no-change rebuild gave %s, want %s\n%s", img2.ID, img.ID, out2)
	}
	if strings.Contains(out2, "DONE") || !strings.Contains(out2, "CACHED") {
		t.Errorf("no-change rebuild ran steps:\n%s", out2)
	}
	// Touching an ignored file changes nothing; one byte of a copied file
	// rebuilds from its COPY on.
	e.file("app/ignored.log", "still no")
	if img3, out3, err := e.build(fullDockerfile, func(o *Options) { o.BuildArgs = map[string]string{"GREETING": "bonjour"} }); err != nil || img3.ID != img.ID {
		t.Errorf("rebuild after an ignored file changed: %v\n%s", err, out3)
	}
	e.file("app/b.txt", "b\n")
	img4, out4, err := e.build(fullDockerfile, func(o *Options) { o.BuildArgs = map[string]string{"GREETING": "bonjour"} })
	if err != nil {
		t.Fatalf("rebuild after a change: %v\n%s", err, out4)
	}
	if got, _ := e.readFile(img4, "/app/joined"); got != "A\nb\n" {
		t.Errorf("after the change /app/joined = %q\n%s", got, out4)
	}
	if !strings.Contains(out4, "CACHED") || !strings.Contains(out4, "DONE") {
		t.Errorf("one-change rebuild should reuse the steps before the COPY and run the rest:\n%s", out4)
	}
	// Another build argument value is another key.
	img5, _, err := e.build(fullDockerfile, func(o *Options) { o.BuildArgs = map[string]string{"GREETING": "hi"} })
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.readFile(img5, "/app/greeting"); got != "hi\n" {
		t.Errorf("--build-arg GREETING=hi: %q", got)
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

func TestBuildErrors(t *testing.T) {
	e := newEnv(t)
	e.file("x", "x")
	for _, c := range []struct {
		df, want string
	}{
		{"FROM busybox\nRUN echo out; echo err >&2; exit 3\n", `Dockerfile:2: process "/bin/sh -c echo out; echo err >&2; exit 3" did not complete successfully: exit code: 3`},
		{"FROM busybox\nFOO bar\n", "Dockerfile:2"},
		{"FROM busybox\nCOPY nosuch /x\n", "not found"},
		{"RUN true\n", "no build stage"},
		{"FROM busybox\nRUN [\"/nonexistent\"]\n", "Dockerfile:2"},
		{"FROM busybox AS a\nFROM busybox\n", ""},
	} {
		img, out, err := e.build(c.df, nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.df, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v (image %v), want an error with %q\n%s", c.df, err, img, c.want, out)
		}
	}
	_, _, err := e.build("FROM busybox AS a\nRUN true\n", func(o *Options) { o.Target = "nosuch" })
	if err == nil || !strings.Contains(err.Error(), `target stage "nosuch" could not be found`) {
		t.Errorf("--target nosuch: %v", err)
	}
	// A failing RUN's output is shown and nothing is tagged.
	tag, _ := reference.Parse("fail:1")
	_, out, err := e.build("FROM busybox\nRUN echo visible-output && false\n", func(o *Options) { o.Tags = []reference.Reference{tag} })
	if err == nil || !strings.Contains(out, "visible-output") {
		t.Errorf("failing RUN: %v\n%s", err, out)
	}
	if _, err := e.images.Resolve("fail:1"); err == nil {
		t.Error("a failed build tagged its image")
	}
}

// Secrets are mounted for one RUN and end up in no layer and no history.
func TestBuildSecret(t *testing.T) {
	e := newEnv(t)
	sec := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(sec, []byte("s3cr3t-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	img, out, err := e.build("FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /len\n", func(o *Options) {
		o.Secrets = map[string]string{"tok": sec}
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, _ := e.readFile(img, "/len"); strings.TrimSpace(got) != "12" {
		t.Errorf("/len = %q", got)
	}
	if _, ok := e.readFile(img, "/run/secrets/tok"); ok {
		t.Error("the secret is in the image")
	}
	cb, _ := img.ConfigBytes()
	if bytes.Contains(cb, []byte("s3cr3t")) {
		t.Error("the secret is in the config")
	}
}

// With SOURCE_DATE_EPOCH two builds from scratch (no cache) give the
// same image, byte for byte: layer entries sorted, times clamped.
func TestBuildReproducible(t *testing.T) {
	e := newEnv(t)
	e.file("f.txt", "content\n")
	epoch := time.Unix(1700000000, 0).UTC()
	df := "FROM busybox\nCOPY f.txt /f.txt\nRUN mkdir /d && echo x > /d/x && touch /d/y\nWORKDIR /w\nENV A=b\n"
	var ids []digest.Digest
	for i := 0; i < 2; i++ {
		img, out, err := e.build(df, func(o *Options) { o.NoCache = true; o.SourceDateEpoch = &epoch })
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		ids = append(ids, img.ID)
		time.Sleep(1100 * time.Millisecond) // a later second for every new file
	}
	if ids[0] != ids[1] {
		t.Errorf("SOURCE_DATE_EPOCH builds differ: %s and %s", ids[0], ids[1])
	}
	img, _ := e.images.Get(ids[0])
	cfg, _ := img.Config()
	if !cfg.Created.Time.Equal(epoch) {
		t.Errorf("created %v, want %v", cfg.Created.Time, epoch)
	}
}

// A build killed with -9 leaves its scratch directory (and mounts under
// it); the next build sweeps them.
func TestBuildSweepsKilledScratch(t *testing.T) {
	e := newEnv(t)
	tmp := filepath.Join(e.b.Dir, "tmp")
	stale := filepath.Join(tmp, "bdeadbeef0000")
	// Not a build's: left alone (the CLI unpacks stdin contexts here).
	other := filepath.Join(tmp, "hull-context-1")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(stale, "m")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	// A RUN process of the killed build, in its cgroup.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	cgPath := cgroup.DefaultParent + "/build-test-" + newID()[:12]
	m, err := cgroup.New(cgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "cgroups"), []byte(cgPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, out, err := e.build("FROM busybox\nRUN true\n", nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the killed build's RUN process still runs")
	}
	if _, err := cgroup.Load(cgPath); err == nil {
		t.Error("the killed build's RUN cgroup is left")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale scratch directory left: %v", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 || ents[0].Name() != "hull-context-1" {
		t.Errorf("after a build the scratch directory has %v, want only hull-context-1", ents)
	}
}

// The image's file system as a step sees it honours overlayfs's opaque
// directories: a directory removed and made again hides what it held.
func TestBuildOpaqueLowerDirectory(t *testing.T) {
	e := newEnv(t)
	img, out, err := e.build("FROM busybox\nRUN mkdir -p /a/b\nRUN rm -rf /a && mkdir /a\nWORKDIR /a/b\n", nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg, _ := img.Config()
	last := cfg.History[len(cfg.History)-1]
	if last.CreatedBy != "WORKDIR /a/b" || last.EmptyLayer {
		t.Errorf("WORKDIR of a directory an opaque /a hides must make it (a layer): %+v", last)
	}
}
