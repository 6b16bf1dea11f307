package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// makeLayer returns an uncompressed layer tar holding one file.
func makeLayer(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// storeImage stores an image of the given uncompressed layers and returns
// its ID. cmd makes configs differ.
func storeImage(t *testing.T, s *Store, cmd string, layers [][]byte, tags ...string) *Image {
	t.Helper()
	ctx := context.Background()
	cfg := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}}
	cfg.Config.Cmd = []string{cmd}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.MediaType(MediaTypeDockerManifest)}
	for _, l := range layers {
		d := digest.FromBytes(l)
		if _, err := s.IngestLayer(ctx, bytes.NewReader(l), LayerDesc{Digest: d, Size: int64(len(l)), MediaType: MediaTypeDockerLayerTar, DiffID: d}, nil); err != nil {
			t.Fatal(err)
		}
		h, _ := v1.NewHash(d.String())
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, h)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(MediaTypeDockerLayerTar), Size: int64(len(l)), Digest: h})
	}
	cb, _ := json.Marshal(cfg)
	cd := digest.FromBytes(cb)
	if err := s.Content().Put(cd, cb); err != nil {
		t.Fatal(err)
	}
	ch, _ := v1.NewHash(cd.String())
	m.Config = v1.Descriptor{MediaType: types.MediaType(MediaTypeDockerConfig), Size: int64(len(cb)), Digest: ch}
	mb, _ := json.Marshal(m)
	md := digest.FromBytes(mb)
	if err := s.Content().Put(md, mb); err != nil {
		t.Fatal(err)
	}
	var refs []reference.Reference
	for _, tg := range tags {
		r, err := reference.Parse(tg)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	img, err := s.Commit(CommitRequest{Manifest: md, Tags: refs})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestResolve(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l1 := makeLayer(t, "a", "1")
	img := storeImage(t, s, "one", [][]byte{l1}, "busybox:latest", "example.com/x/y:2")
	if img.Size != 1 {
		t.Fatalf("size %d, want 1", img.Size)
	}
	for _, name := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "example.com/x/y:2", img.ID.String(), img.ID.Encoded(), img.ID.Encoded()[:12], img.ID.Encoded()[:4]} {
		got, err := s.Resolve(name)
		if err != nil || got.ID != img.ID {
			t.Fatalf("Resolve(%q) = %v, %v", name, got, err)
		}
	}
	for _, name := range []string{"busybox:1", "nosuch", "sha256:" + strings.Repeat("0", 64), "example.com/x/y"} {
		_, err := s.Resolve(name)
		var nf *NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("Resolve(%q) error %v, want NotFoundError", name, err)
		}
	}
	got, _ := s.Resolve("busybox")
	if want := []string{"docker.io/library/busybox:latest", "example.com/x/y:2"}; strings.Join(got.Tags, ",") != strings.Join(want, ",") {
		t.Fatalf("tags %v, want %v", got.Tags, want)
	}
}

func TestRemoveAndGC(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	shared := makeLayer(t, "shared", "s")
	a := storeImage(t, s, "a", [][]byte{shared, makeLayer(t, "a", "a")}, "a:1", "a:2")
	b := storeImage(t, s, "b", [][]byte{shared}, "b:1", "other/b:1")

	// Untag one of two tags: only untags.
	res, err := s.Remove("a:1", false, nil)
	if err != nil || len(res) != 1 || res[0].Untagged != "a:1" {
		t.Fatalf("rmi a:1 = %+v, %v", res, err)
	}
	// Last tag: untag and delete.
	res, err = s.Remove("a:2", false, nil)
	if err != nil || len(res) != 2 || res[1].Deleted != a.ID {
		t.Fatalf("rmi a:2 = %+v, %v", res, err)
	}
	// By ID with tags in two repositories needs force.
	var ce *ConflictError
	if _, err := s.Remove(b.ID.Encoded()[:12], false, nil); !errors.As(err, &ce) {
		t.Fatalf("rmi by ID of a multi-repo image: %v", err)
	}
	// In use by a container: refuse to delete by ID.
	inUse := func(id digest.Digest) []string { return []string{"c0ffee"} }
	if _, err := s.Remove("b:1", false, inUse); err != nil {
		t.Fatalf("untag of an image in use with another tag left: %v", err)
	}
	if _, err := s.Remove("other/b:1", false, inUse); !errors.As(err, &ce) {
		t.Fatalf("removing the last tag of an image in use: %v", err)
	}
	rep, err := s.GC(nil)
	if err != nil {
		t.Fatal(err)
	}
	// a's own layer, config and manifest go; the shared layer stays.
	if !s.Snapshots().Has(digest.FromBytes(shared)) {
		t.Fatal("GC removed a layer still in use")
	}
	if s.Snapshots().Has(digest.FromBytes(makeLayer(t, "a", "a"))) || s.Content().Has(a.ID) || s.Content().Has(a.Manifest) {
		t.Fatal("GC kept a deleted image's blobs")
	}
	if len(rep.Blobs) != 3 || len(rep.Snapshots) != 1 {
		t.Fatalf("GC report %+v, want 3 blobs and 1 snapshot", rep)
	}
	res, err = s.Remove(b.ID.String(), true, nil)
	if err != nil || res[len(res)-1].Deleted != b.ID {
		t.Fatalf("forced rmi = %+v, %v", res, err)
	}
	if _, err := s.GC(nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	s.Content().Walk(func(digest.Digest, int64) error { n++; return nil })
	snaps, _ := s.Snapshots().List()
	if n != 0 || len(snaps) != 0 {
		t.Fatalf("after removing everything: %d blobs, %d snapshots", n, len(snaps))
	}
}

func TestGCSkipsWhileLeased(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.Lease()
	if err != nil {
		t.Fatal(err)
	}
	// A blob written under a lease but not recorded yet survives GC.
	if err := s.Content().Put(digest.FromString("x"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	rep, err := s.GC(nil)
	if err != nil || !rep.Skipped || !s.Content().Has(digest.FromString("x")) {
		t.Fatalf("GC under lease: %+v %v", rep, err)
	}
	release()
	rep, err = s.GC(nil)
	if err != nil || rep.Skipped || s.Content().Has(digest.FromString("x")) {
		t.Fatalf("GC after lease: %+v %v", rep, err)
	}
}

func TestCorruptIndexIsReported(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "images.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("List on a corrupt index: %v", err)
	}
}

func TestCommitRejectsMissingParts(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(CommitRequest{Manifest: digest.FromString("nope")}); err == nil {
		t.Fatal("commit of a missing manifest succeeded")
	}
}

func TestIngestLayerRejectsMismatch(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := makeLayer(t, "f", "data")
	d := digest.FromBytes(l)
	wrong := digest.FromString("other")
	_, err = s.IngestLayer(context.Background(), bytes.NewReader(l), LayerDesc{Digest: wrong, Size: int64(len(l)), MediaType: MediaTypeDockerLayerTar, DiffID: d}, nil)
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("ingest with a wrong blob digest: %v", err)
	}
	if s.Content().Has(wrong) || s.Snapshots().Has(d) {
		t.Fatal("a mismatched layer left data behind")
	}
	_, err = s.IngestLayer(context.Background(), bytes.NewReader(l), LayerDesc{Digest: d, Size: int64(len(l)), MediaType: MediaTypeDockerLayerTar, DiffID: wrong}, nil)
	if err == nil {
		t.Fatal("ingest with a wrong diff ID succeeded")
	}
	if s.Content().Has(d) || s.Snapshots().Has(wrong) {
		t.Fatal("a mismatched diff ID left data behind")
	}
}
