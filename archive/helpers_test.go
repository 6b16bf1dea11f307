package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

func newStore(t testing.TB) *image.Store {
	t.Helper()
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRef(t testing.TB, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// importBusybox imports testutil's busybox rootfs tar as tag (or untagged
// if tag is "").
func importBusybox(t testing.TB, s *image.Store, tag string, opts ImportOptions) *image.Image {
	t.Helper()
	f, err := os.Open(testutil.BusyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ref reference.Reference
	if tag != "" {
		ref = mustRef(t, tag)
	}
	img, err := Import(context.Background(), s, f, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func saveBytes(t testing.TB, s *image.Store, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Save(context.Background(), s, names, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func loadBytes(t testing.TB, s *image.Store, b []byte) []LoadResult {
	t.Helper()
	res, err := Load(context.Background(), s, bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// storeState summarises a store's images and tags for "unchanged" checks.
func storeState(t testing.TB, s *image.Store) string {
	t.Helper()
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, img := range imgs {
		lines = append(lines, img.ID.String()+" "+img.Manifest.String()+" "+strings.Join(img.Tags, ","))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// tmpEntries lists what is left in the store's tmp directory.
func tmpEntries(t testing.TB, s *image.Store) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// requireBusyboxIn checks that img's last layer is unpacked with
// bin/busybox in it.
func requireBusyboxIn(t testing.TB, s *image.Store, img *image.Image) {
	t.Helper()
	cfg, err := img.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) == 0 {
		t.Fatal("image has no layers")
	}
	d := digest.Digest(cfg.RootFS.DiffIDs[0].String())
	if _, err := os.Stat(filepath.Join(s.Snapshots().Path(d), "bin", "busybox")); err != nil {
		t.Fatalf("unpacked layer lacks bin/busybox: %v", err)
	}
}

// tfile is one entry of a test tar.
type tfile struct {
	name string
	body []byte
	typ  byte
	link string
}

func tarBytes(t testing.TB, files ...tfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Mode: 0o644, Linkname: f.link, ModTime: time.Unix(1e9, 0)}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerTar is a small layer holding one file.
func layerTar(t testing.TB, name, content string) []byte {
	t.Helper()
	return tarBytes(t, tfile{name: name, body: []byte(content)})
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// configFor is a minimal image config with the given diff_ids.
func configFor(t testing.TB, diffIDs ...digest.Digest) []byte {
	t.Helper()
	cf := v1.ConfigFile{
		Architecture: image.DefaultPlatform().Architecture,
		OS:           "linux",
		Created:      v1.Time{Time: time.Unix(1e9, 0).UTC()},
		RootFS:       v1.RootFS{Type: "layers"},
		Config:       v1.Config{Cmd: []string{"/hello"}},
	}
	for _, d := range diffIDs {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: d.Encoded()})
	}
	b, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacyArchive builds a Docker <25 style docker-archive: "<hex>.json"
// config and "<n>/layer.tar" layer files, each layer stored as given
// (possibly compressed); diffIDs are of the uncompressed tars.
func legacyArchive(t testing.TB, layers [][]byte, diffIDs []digest.Digest, tags []string) []byte {
	t.Helper()
	cfg := configFor(t, diffIDs...)
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	item := dockerManifestItem{Config: cfgName, RepoTags: tags}
	files := []tfile{{name: cfgName, body: cfg}}
	for i, l := range layers {
		dir := strings.Repeat(string(rune('a'+i)), 64)
		files = append(files, tfile{name: dir + "/", typ: tar.TypeDir}, tfile{name: dir + "/layer.tar", body: l})
		item.Layers = append(item.Layers, dir+"/layer.tar")
	}
	files = append(files, tfile{name: "manifest.json", body: mustJSON(t, []dockerManifestItem{item})})
	return tarBytes(t, files...)
}

// smallArchive is a valid one-layer docker-archive tagged hello:latest.
func smallArchive(t testing.TB) []byte {
	t.Helper()
	l := layerTar(t, "hello", "hello world\n")
	return legacyArchive(t, [][]byte{l}, []digest.Digest{digest.FromBytes(l)}, []string{"hello:latest"})
}
