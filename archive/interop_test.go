package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/opencontainers/go-digest"
)

// run runs a command and returns its combined output, failing t on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// podmanCmd returns a runner of podman with a private store under dir
// (removed with the test's temp dir), so tests never touch the host's
// podman images.
func podmanCmd(t *testing.T, dir string) func(args ...string) string {
	bin := testutil.RequireBinary(t, "podman")
	testutil.RequireRoot(t)
	global := []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs",
		"--events-backend", "none", "--cgroup-manager", "cgroupfs",
	}
	return func(args ...string) string {
		t.Helper()
		return run(t, bin, append(global, args...)...)
	}
}

// saveFile saves names from s into a file under dir.
func saveFile(t *testing.T, s *image.Store, dir, file string, names ...string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, saveBytes(t, s, names...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadFile loads an archive file into a fresh store.
func loadFile(t *testing.T, p string) (*image.Store, []LoadResult) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newStore(t)
	res, err := Load(context.Background(), s, f, nil)
	if err != nil {
		t.Fatalf("load %s: %v", filepath.Base(p), err)
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	return s, res
}

// archiveConfigDigest returns the config digest of the (single) image in a
// docker-archive or oci-archive file, read independently of Load.
func archiveConfigDigest(t *testing.T, p string) digest.Digest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	ix, err := indexTar(context.Background(), f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ix.readFile("manifest.json", 1<<20); err == nil {
		var items []dockerManifestItem
		if err := json.Unmarshal(b, &items); err != nil {
			t.Fatal(err)
		}
		cb, err := ix.readFile(items[0].Config, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return digest.FromBytes(cb)
	}
	ib, err := ix.readFile("index.json", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(ib, &idx); err != nil {
		t.Fatal(err)
	}
	mb, err := ix.readFile(blobPath(idx.Manifests[0].Digest), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	return digest.Digest(m.Config.Digest.String())
}

// sameImage checks that img has the original's diff_ids and run config.
func sameImage(t *testing.T, s *image.Store, img *image.Image, orig *v1.ConfigFile) {
	t.Helper()
	cfg, err := img.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.RootFS.DiffIDs, orig.RootFS.DiffIDs) || !reflect.DeepEqual(cfg.Config, orig.Config) || cfg.Architecture != orig.Architecture {
		t.Errorf("image changed: %+v vs %+v", cfg, orig)
	}
	requireBusyboxIn(t, s, img)
}

func TestInteropPodman(t *testing.T) {
	dir := t.TempDir()
	podman := podmanCmd(t, filepath.Join(dir, "podman"))
	a := newStore(t)
	orig := importBusybox(t, a, "busybox:latest", ImportOptions{Changes: []string{`CMD ["sh"]`, "ENV A=b"}})
	origCfg, _ := orig.Config()
	archive := saveFile(t, a, dir, "hull.tar", "busybox:latest")

	// podman load reads hull's archive and keeps the image ID.
	out := podman("load", "-i", archive)
	if !strings.Contains(out, "Loaded image: docker.io/library/busybox:latest") {
		t.Errorf("podman load output:\n%s", out)
	}
	if id := strings.TrimSpace(podman("image", "inspect", "--format", "{{.Id}}", "busybox:latest")); id != orig.ID.Encoded() {
		t.Fatalf("podman image ID %s, want %s", id, orig.ID.Encoded())
	}
	podman("tag", "busybox:latest", "other:v1")

	for _, format := range []string{"docker-archive", "oci-archive"} {
		t.Run(format, func(t *testing.T) {
			p := filepath.Join(dir, "podman-"+format+".tar")
			podman("save", "--format", format, "-o", p, "busybox:latest")
			s, res := loadFile(t, p)
			if len(res) != 1 || res[0].Tag != "busybox:latest" || res[0].ID != orig.ID {
				t.Fatalf("load results %+v, want busybox:latest %s", res, orig.ID)
			}
			img, err := s.Get(orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameImage(t, s, img, origCfg)
			// And back: hull's save of what podman wrote is hull's own archive.
			if !bytes.Equal(saveBytes(t, s, "busybox:latest"), saveBytes(t, a, "busybox:latest")) {
				t.Error("re-saved archive differs from the original")
			}
		})
	}

	t.Run("multi-image docker-archive", func(t *testing.T) {
		p := filepath.Join(dir, "podman-multi.tar")
		podman("save", "-m", "--format", "docker-archive", "-o", p, "busybox:latest", "other:v1")
		s, res := loadFile(t, p)
		var tags []string
		for _, r := range res {
			tags = append(tags, r.Tag)
			if r.ID != orig.ID {
				t.Errorf("%s has ID %s", r.Tag, r.ID)
			}
		}
		if strings.Join(tags, ",") != "busybox:latest,localhost/other:v1" {
			t.Errorf("tags %v", tags)
		}
		if _, err := s.Resolve("localhost/other:v1"); err != nil {
			t.Error(err)
		}
	})
}

func TestInteropSkopeo(t *testing.T) {
	skopeo := testutil.RequireBinary(t, "skopeo")
	dir := t.TempDir()
	a := newStore(t)
	orig := importBusybox(t, a, "busybox:latest", ImportOptions{Changes: []string{`ENTRYPOINT ["/bin/sh", "-c"]`, "WORKDIR /tmp"}})
	origCfg, _ := orig.Config()
	hullTar := saveFile(t, a, dir, "hull.tar", "busybox:latest")
	copyTo := func(t *testing.T, src, dst string, extra ...string) string {
		args := append([]string{"--insecure-policy", "copy", "--quiet"}, extra...)
		run(t, skopeo, append(args, src, dst)...)
		return strings.SplitN(strings.SplitN(dst, ":", 2)[1], ":", 2)[0]
	}
	cases := []struct {
		name, src, dst string
		extra          []string
		wantTag        string
		// sameID: skopeo keeps the config bytes (no manifest conversion).
		sameID bool
		zstd   bool
	}{
		{"docker-archive to oci-archive with name", "docker-archive:" + hullTar, "oci-archive:" + dir + "/named.tar:busybox:latest", nil, "busybox:latest", false, false},
		{"docker-archive to oci-archive with bare tag", "docker-archive:" + hullTar, "oci-archive:" + dir + "/bare.tar:latest", nil, "", false, false},
		{"docker-archive to oci-archive unnamed", "docker-archive:" + hullTar, "oci-archive:" + dir + "/unnamed.tar", nil, "", false, false},
		{"docker-archive to zstd oci-archive", "docker-archive:" + hullTar, "oci-archive:" + dir + "/zstd.tar:example.com/bb:z", []string{"--dest-compress-format", "zstd"}, "example.com/bb:z", false, true},
		{"hull archive read as oci-archive", "oci-archive:" + hullTar, "oci-archive:" + dir + "/fromoci.tar:busybox:oci", nil, "busybox:oci", true, false},
		{"docker-archive to docker-archive", "docker-archive:" + hullTar, "docker-archive:" + dir + "/docker.tar:busybox:copy", nil, "busybox:copy", true, false},
		{"oci-archive to docker-archive", "oci-archive:" + dir + "/named.tar", "docker-archive:" + dir + "/back.tar:busybox:back", nil, "busybox:back", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := copyTo(t, c.src, c.dst, c.extra...)
			want := archiveConfigDigest(t, p)
			if c.sameID && want != orig.ID {
				t.Errorf("skopeo changed the config: %s, want %s", want, orig.ID)
			}
			s, res := loadFile(t, p)
			if len(res) != 1 || res[0].ID != want || res[0].Tag != c.wantTag {
				t.Fatalf("results %+v, want tag %q ID %s", res, c.wantTag, want)
			}
			img, err := s.Get(want)
			if err != nil {
				t.Fatal(err)
			}
			sameImage(t, s, img, origCfg)
			if c.zstd {
				m, _ := img.ParsedManifest()
				if string(m.Layers[0].MediaType) != image.MediaTypeOCILayerZstd {
					t.Errorf("layer media type %s", m.Layers[0].MediaType)
				}
			}
		})
	}
}
