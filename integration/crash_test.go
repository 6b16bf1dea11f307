// Package integration runs the hull binary end to end against real
// registries and real peers (skopeo, podman): crash safety under kill -9,
// concurrent processes, and interoperability.
package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/opencontainers/go-digest"
)

// bigImage is a linux/amd64 image of n random layers of size bytes each,
// slow enough to pull that a kill lands in the middle.
func bigImage(t *testing.T, n, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, n)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pushTo(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// checkStore opens the store in-process and verifies every invariant a
// crash must not break: every blob matches its digest, every image's
// blobs and layers exist, and no temp file outlives the next open.
func checkStore(t *testing.T, root string) {
	t.Helper()
	s, err := image.Open(root)
	if err != nil {
		t.Fatalf("open store after crash: %v", err)
	}
	err = s.Content().Walk(func(d digest.Digest, size int64) error {
		if _, err := s.Content().Read(d); err != nil {
			t.Errorf("blob %s: %v", d, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := s.List()
	if err != nil {
		t.Fatalf("list after crash: %v", err)
	}
	for _, img := range imgs {
		m, err := img.ParsedManifest()
		if err != nil {
			t.Fatalf("image %s: %v", img.ID, err)
		}
		cfg, err := img.Config()
		if err != nil {
			t.Fatalf("image %s: %v", img.ID, err)
		}
		for i, l := range m.Layers {
			if !s.Content().Has(digest.Digest(l.Digest.String())) {
				t.Errorf("image %s: layer blob %s missing", img.ID, l.Digest)
			}
			if !s.Snapshots().Has(digest.Digest(cfg.RootFS.DiffIDs[i].String())) {
				t.Errorf("image %s: layer %s not unpacked", img.ID, cfg.RootFS.DiffIDs[i])
			}
		}
	}
	var leftovers []string
	filepath.WalkDir(filepath.Join(root, "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != filepath.Join(root, "tmp") {
			leftovers = append(leftovers, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Errorf("temp files left after reopening the store: %v", leftovers)
	}
}

// killDuring starts `hull args...`, kills it with SIGKILL after delay and
// reports whether it had already finished.
func killDuring(t *testing.T, root string, delay time.Duration, args ...string) bool {
	t.Helper()
	cmd := testutil.HullCmd(t, root, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return true
	case <-time.After(delay):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return false
}

func TestKill9DuringPullPushLoadRmi(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "docker-registry")
	reg := testutil.StartRegistry(t)
	img := bigImage(t, 4, 6<<20)
	src := reg + "/crash/big:1"
	pushTo(t, src, img)
	cn, _ := img.ConfigName()
	archive := filepath.Join(t.TempDir(), "big.tar")

	killed := 0
	for i, delay := range []time.Duration{30 * time.Millisecond, 120 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, 900 * time.Millisecond} {
		root := t.TempDir()
		if !killDuring(t, root, delay, "pull", "-q", src) {
			killed++
		}
		checkStore(t, root)
		// The next command works and completes the pull.
		testutil.MustHull(t, root, "images")
		testutil.MustHull(t, root, "pull", "-q", src)
		out := testutil.MustHull(t, root, "image", "inspect", "-f", "{{.Id}}", src)
		if strings.TrimSpace(out.Stdout) != cn.String() {
			t.Fatalf("round %d: image ID %q, want %s", i, out.Stdout, cn)
		}
		checkStore(t, root)

		if i == 0 {
			testutil.MustHull(t, root, "save", "-o", archive, src)
		}
		// Load, interrupted, into a fresh store.
		lroot := t.TempDir()
		if !killDuring(t, lroot, delay, "load", "-q", "-i", archive) {
			killed++
		}
		checkStore(t, lroot)
		testutil.MustHull(t, lroot, "load", "-q", "-i", archive)
		checkStore(t, lroot)

		// Push, interrupted, then completed.
		dst := reg + "/crash/pushed" + string(rune('a'+i)) + ":1"
		testutil.MustHull(t, root, "tag", src, dst)
		if !killDuring(t, root, delay/3, "push", "-q", dst) {
			killed++
		}
		checkStore(t, root)
		testutil.MustHull(t, root, "push", "-q", dst)

		// rmi, interrupted: the store stays consistent either way.
		killDuring(t, root, time.Duration(i)*5*time.Millisecond, "rmi", src)
		checkStore(t, root)
		testutil.Hull(t, root, "rmi", "-f", src, dst)
		testutil.MustHull(t, root, "image", "prune", "-a", "-f")
		checkStore(t, root)
		out = testutil.MustHull(t, root, "images", "-q")
		if strings.TrimSpace(out.Stdout) != "" {
			t.Fatalf("images left after removing everything: %q", out.Stdout)
		}
		blobs, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
		if len(blobs) != 0 {
			t.Fatalf("%d blobs left after removing everything", len(blobs))
		}
	}
	if killed == 0 {
		t.Fatal("no command was ever killed mid-way; the test image is too small to exercise crashes")
	}
	t.Logf("%d commands killed mid-way", killed)
}

func TestConcurrentPullProcesses(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "docker-registry")
	reg := testutil.StartRegistry(t)
	img := bigImage(t, 3, 2<<20)
	src := reg + "/conc/img:1"
	pushTo(t, src, img)
	root := t.TempDir()
	var wg sync.WaitGroup
	results := make([]testutil.Result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = testutil.Hull(t, root, "pull", src)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.ExitCode != 0 {
			t.Fatalf("concurrent pull %d failed: %s", i, r.Stderr)
		}
	}
	out := testutil.MustHull(t, root, "images", "-q", "--no-trunc")
	if n := len(strings.Fields(out.Stdout)); n != 1 {
		t.Fatalf("%d images after concurrent pulls, want 1", n)
	}
	checkStore(t, root)
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	// 3 layers + config + manifest, each stored once.
	if len(blobs) != 5 {
		t.Fatalf("%d blobs stored, want 5", len(blobs))
	}
}
