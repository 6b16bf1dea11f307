package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// readTar returns the entries of a tar in order, with their contents.
func readTar(t testing.TB, b []byte) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var hdrs []*tar.Header
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = body
	}
	return hdrs, files
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := newStore(t)
	img := importBusybox(t, a, "busybox:latest", ImportOptions{Changes: []string{`CMD ["sh"]`, "ENV A=b"}})
	requireBusyboxIn(t, a, img)
	arch := saveBytes(t, a, "busybox")

	// The archive is Docker 25's layout.
	hdrs, files := readTar(t, arch)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	for _, want := range []string{"blobs/", "blobs/sha256/", "index.json", "manifest.json", "oci-layout", "repositories", "blobs/sha256/" + img.ID.Encoded()} {
		if _, ok := files[want]; !ok {
			t.Errorf("archive lacks %s (has %v)", want, names)
		}
	}
	var items []dockerManifestItem
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.Config()
	if len(items) != 1 || items[0].Config != "blobs/sha256/"+img.ID.Encoded() || len(items[0].RepoTags) != 1 || items[0].RepoTags[0] != "busybox:latest" {
		t.Fatalf("manifest.json = %s", files["manifest.json"])
	}
	for i, l := range items[0].Layers {
		if l != "blobs/sha256/"+cfg.RootFS.DiffIDs[i].Hex {
			t.Errorf("layer %d path %s, want the diff_id", i, l)
		}
		if got := digest.FromBytes(files[l]); got.Encoded() != cfg.RootFS.DiffIDs[i].Hex {
			t.Errorf("layer %d content digest %s", i, got)
		}
	}
	if got := string(files["repositories"]); got != `{"busybox":{"latest":"`+cfg.RootFS.DiffIDs[0].Hex+`"}}`+"\n" {
		t.Errorf("repositories = %s", got)
	}
	var ix v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &ix); err != nil {
		t.Fatal(err)
	}
	if len(ix.Manifests) != 1 || ix.Manifests[0].Annotations[annotationImageName] != "docker.io/library/busybox:latest" || ix.Manifests[0].Annotations[annotationRefName] != "latest" {
		t.Errorf("index.json = %s", files["index.json"])
	}
	cb, _ := img.ConfigBytes()
	if !bytes.Equal(files["blobs/sha256/"+img.ID.Encoded()], cb) {
		t.Error("config blob changed")
	}
	if !bytes.Equal(arch, saveBytes(t, a, "busybox")) {
		t.Error("saving twice gave different archives")
	}

	b := newStore(t)
	var events []progress.Event
	res, err := Load(ctx, b, bytes.NewReader(arch), progress.Func(func(e progress.Event) { events = append(events, e) }))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Tag != "busybox:latest" || res[0].ID != img.ID || res[0].String() != "Loaded image: busybox:latest" {
		t.Fatalf("results = %+v", res)
	}
	if len(events) == 0 || events[0].Action != "Loading layer" {
		t.Errorf("progress events = %+v", events)
	}
	got, err := b.Resolve("busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != img.ID {
		t.Fatalf("loaded image ID %s, want %s", got.ID, img.ID)
	}
	requireBusyboxIn(t, b, got)
	gcfg, _ := got.Config()
	if strings.Join(gcfg.Config.Cmd, " ") != "sh" || gcfg.Config.Env[0] != "A=b" {
		t.Errorf("config not preserved: %+v", gcfg.Config)
	}
	m, err := got.ParsedManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.DockerManifestSchema2 || m.Layers[0].MediaType != types.MediaType(image.MediaTypeDockerLayerTar) {
		t.Errorf("manifest = %+v", m)
	}
	if left := tmpEntries(t, b); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	// Saving the loaded image gives the same archive.
	if !bytes.Equal(arch, saveBytes(t, b, "busybox:latest")) {
		t.Error("save of the loaded image differs from the original archive")
	}
	// Loading again is a no-op that still reports the image.
	if res := loadBytes(t, b, arch); len(res) != 1 || res[0].ID != img.ID {
		t.Errorf("second load = %+v", res)
	}
}

func TestSaveSeveralImagesTagsAndIDs(t *testing.T) {
	a := newStore(t)
	bb := importBusybox(t, a, "busybox:latest", ImportOptions{})
	if err := a.Tag("busybox:latest", mustRef(t, "busybox:1.36")); err != nil {
		t.Fatal(err)
	}
	other := importBusybox(t, a, "", ImportOptions{Changes: []string{"USER nobody"}, Message: "second"})
	if other.ID == bb.ID {
		t.Fatal("expected a different image")
	}

	arch := saveBytes(t, a, "busybox:latest", "busybox:1.36", other.ID.Encoded()[:12])
	_, files := readTar(t, arch)
	if !strings.Contains(string(files["manifest.json"]), `"RepoTags":null`) {
		t.Errorf("image saved by ID should have RepoTags null: %s", files["manifest.json"])
	}
	var items []dockerManifestItem
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || strings.Join(items[0].RepoTags, ",") != "busybox:latest,busybox:1.36" || items[1].RepoTags != nil {
		t.Fatalf("manifest.json = %s", files["manifest.json"])
	}
	// The shared layer is stored once.
	if items[0].Layers[0] != items[1].Layers[0] {
		t.Errorf("images should share their layer: %v %v", items[0].Layers, items[1].Layers)
	}

	b := newStore(t)
	res := loadBytes(t, b, arch)
	var lines []string
	for _, r := range res {
		lines = append(lines, r.String())
	}
	want := "Loaded image: busybox:latest\nLoaded image: busybox:1.36\nLoaded image ID: " + other.ID.String()
	if strings.Join(lines, "\n") != want {
		t.Errorf("load output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), want)
	}
	if got := storeState(t, b); got != storeState(t, a) {
		t.Errorf("stores differ:\n%s\nvs\n%s", got, storeState(t, a))
	}

	// A bare repository name saves all its tags.
	_, files = readTar(t, saveBytes(t, a, "busybox"))
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || strings.Join(items[0].RepoTags, ",") != "busybox:1.36,busybox:latest" {
		t.Errorf("save busybox: manifest.json = %s", files["manifest.json"])
	}

	var buf bytes.Buffer
	if err := Save(context.Background(), a, []string{"nosuch:image"}, &buf); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("save of a missing image: %v", err)
	}
	if err := Save(context.Background(), a, nil, &buf); err == nil {
		t.Error("save of nothing succeeded")
	}
}

func TestLoadCompressedArchives(t *testing.T) {
	a := newStore(t)
	img := importBusybox(t, a, "busybox:latest", ImportOptions{})
	arch := saveBytes(t, a, "busybox:latest")
	variants := map[string][]byte{"gzip": gzipBytes(t, arch), "zstd": zstdBytes(t, arch)}
	if bz, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command(bz, "-c")
		cmd.Stdin = bytes.NewReader(arch)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		variants["bzip2"] = out
	}
	for name, b := range variants {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			res := loadBytes(t, s, b)
			if len(res) != 1 || res[0].ID != img.ID {
				t.Fatalf("results %+v", res)
			}
			if left := tmpEntries(t, s); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
	// From a file, used in place.
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, arch, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newStore(t)
	if res, err := Load(context.Background(), s, f, nil); err != nil || len(res) != 1 || res[0].ID != img.ID {
		t.Fatalf("load from file: %+v, %v", res, err)
	}
}

func TestLoadLegacyLayoutCompressedLayers(t *testing.T) {
	l1 := layerTar(t, "one", "1")
	l2 := layerTar(t, "two", "22")
	l3 := layerTar(t, "three", "333")
	arch := legacyArchive(t, [][]byte{l1, gzipBytes(t, l2), zstdBytes(t, l3)},
		[]digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2), digest.FromBytes(l3)}, []string{"example.com/x/y:v1"})
	s := newStore(t)
	res := loadBytes(t, s, arch)
	if len(res) != 1 || res[0].Tag != "example.com/x/y:v1" {
		t.Fatalf("results %+v", res)
	}
	img, err := s.Resolve("example.com/x/y:v1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.ParsedManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{image.MediaTypeDockerLayerTar, image.MediaTypeDockerLayer, image.MediaTypeOCILayerZstd}
	for i, l := range m.Layers {
		if string(l.MediaType) != want[i] {
			t.Errorf("layer %d media type %s, want %s", i, l.MediaType, want[i])
		}
	}
	for _, f := range []string{"one", "two", "three"} {
		found := false
		cfg, _ := img.Config()
		for _, d := range cfg.RootFS.DiffIDs {
			if _, err := os.Stat(filepath.Join(s.Snapshots().Path(digest.Digest(d.String())), f)); err == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("file %s not unpacked", f)
		}
	}
	// Saving decompresses the layers back to their diff_ids.
	_, files := readTar(t, saveBytes(t, s, "example.com/x/y:v1"))
	for _, l := range [][]byte{l1, l2, l3} {
		if !bytes.Equal(files["blobs/sha256/"+digest.FromBytes(l).Encoded()], l) {
			t.Errorf("saved layer %s differs", digest.FromBytes(l))
		}
	}
}

// ociLayout builds an oci-archive with one image (one uncompressed layer),
// index.json entries made by entry from the manifest descriptor.
func ociLayout(t testing.TB, entry func(m v1.Descriptor, blobs map[digest.Digest][]byte) []v1.Descriptor) ([]byte, digest.Digest) {
	t.Helper()
	l := layerTar(t, "hello", "oci")
	cfg := configFor(t, digest.FromBytes(l))
	blobs := map[digest.Digest][]byte{digest.FromBytes(l): l, digest.FromBytes(cfg): cfg}
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: v1.Hash{Algorithm: "sha256", Hex: digest.FromBytes(cfg).Encoded()}},
		Layers: []v1.Descriptor{{MediaType: types.OCIUncompressedLayer, Size: int64(len(l)), Digest: v1.Hash{Algorithm: "sha256", Hex: digest.FromBytes(l).Encoded()}}},
	}
	mb := mustJSON(t, m)
	blobs[digest.FromBytes(mb)] = mb
	md := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(mb)), Digest: v1.Hash{Algorithm: "sha256", Hex: digest.FromBytes(mb).Encoded()}}
	ix := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: entry(md, blobs)}
	files := []tfile{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: "index.json", body: mustJSON(t, ix)}}
	var ds []string
	for d := range blobs {
		ds = append(ds, string(d))
	}
	sort.Strings(ds)
	for _, d := range ds {
		files = append(files, tfile{name: "blobs/sha256/" + digest.Digest(d).Encoded(), body: blobs[digest.Digest(d)]})
	}
	return tarBytes(t, files...), digest.FromBytes(cfg)
}

func TestLoadOCIArchiveNames(t *testing.T) {
	withAnn := func(a map[string]string) func(v1.Descriptor, map[digest.Digest][]byte) []v1.Descriptor {
		return func(m v1.Descriptor, _ map[digest.Digest][]byte) []v1.Descriptor {
			m.Annotations = a
			return []v1.Descriptor{m}
		}
	}
	cases := []struct {
		name  string
		entry func(v1.Descriptor, map[digest.Digest][]byte) []v1.Descriptor
		want  string
	}{
		{"no annotation", withAnn(nil), ""},
		{"bare tag (skopeo oci-archive:x:latest)", withAnn(map[string]string{annotationRefName: "latest"}), ""},
		{"short name", withAnn(map[string]string{annotationRefName: "hello:v2"}), "hello:v2"},
		{"full name (podman)", withAnn(map[string]string{annotationRefName: "docker.io/library/hello:v3"}), "hello:v3"},
		{"localhost name", withAnn(map[string]string{annotationRefName: "localhost/hello:v4"}), "localhost/hello:v4"},
		{"containerd name wins", withAnn(map[string]string{annotationRefName: "latest", annotationImageName: "quay.io/a/b:c"}), "quay.io/a/b:c"},
		{"nested index", func(m v1.Descriptor, blobs map[digest.Digest][]byte) []v1.Descriptor {
			p := image.DefaultPlatform()
			m.Platform = &p
			other := m
			other.Platform = &v1.Platform{OS: "linux", Architecture: "s390x"}
			other.Digest.Hex = strings.Repeat("0", 64)
			nested := mustJSON(t, v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{other, m}})
			blobs[digest.FromBytes(nested)] = nested
			return []v1.Descriptor{{MediaType: types.OCIImageIndex, Size: int64(len(nested)),
				Digest: v1.Hash{Algorithm: "sha256", Hex: digest.FromBytes(nested).Encoded()}, Annotations: map[string]string{annotationRefName: "idx:1"}}}
		}, "idx:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			arch, id := ociLayout(t, c.entry)
			s := newStore(t)
			res := loadBytes(t, s, arch)
			if len(res) != 1 || res[0].Tag != c.want || res[0].ID != id {
				t.Fatalf("results %+v, want tag %q id %s", res, c.want, id)
			}
			img, err := s.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "nested index" && img.Index == "" {
				t.Error("nested index not recorded")
			}
		})
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	plain, err := os.ReadFile(testutil.BusyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	want := digest.FromBytes(plain)
	opts := ImportOptions{
		Changes:  []string{`ENTRYPOINT ["/bin/sh"]`, "WORKDIR /data", "EXPOSE 80", "LABEL a=b"},
		Message:  "hello",
		Platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
	for name, in := range map[string][]byte{"plain": plain, "gzip": gzipBytes(t, plain), "zstd": zstdBytes(t, plain)} {
		t.Run(name, func(t *testing.T) {
			img, err := Import(ctx, s, bytes.NewReader(in), mustRef(t, "imp:"+name), opts)
			if err != nil {
				t.Fatal(err)
			}
			if img.Tags[0] != "docker.io/library/imp:"+name {
				t.Errorf("tags %v", img.Tags)
			}
			cfg, err := img.Config()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RootFS.DiffIDs[0].String() != want.String() {
				t.Errorf("diff_id %s, want %s", cfg.RootFS.DiffIDs[0], want)
			}
			if cfg.Architecture != "arm64" || cfg.Variant != "v8" || cfg.OS != "linux" {
				t.Errorf("platform %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant)
			}
			if len(cfg.History) != 1 || cfg.History[0].Comment != "hello" || cfg.Created.IsZero() {
				t.Errorf("history %+v created %v", cfg.History, cfg.Created)
			}
			if cfg.Config.WorkingDir != "/data" || cfg.Config.Entrypoint[0] != "/bin/sh" || cfg.Config.Labels["a"] != "b" {
				t.Errorf("config %+v", cfg.Config)
			}
			m, _ := img.ParsedManifest()
			if m.MediaType != types.DockerManifestSchema2 || m.Layers[0].Digest.String() != want.String() || string(m.Layers[0].MediaType) != image.MediaTypeDockerLayerTar {
				t.Errorf("manifest %+v", m)
			}
			requireBusyboxIn(t, s, img)
		})
	}
	img, err := Import(ctx, s, bytes.NewReader(plain), reference.Reference{}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.Config()
	if !img.Dangling() || cfg.History[0].Comment != "Imported from -" || cfg.Architecture != image.DefaultPlatform().Architecture {
		t.Errorf("untagged import: tags %v history %+v arch %s", img.Tags, cfg.History, cfg.Architecture)
	}
	before := storeState(t, s)
	if _, err := Import(ctx, s, bytes.NewReader(plain), mustRef(t, "bad:1"), ImportOptions{Changes: []string{"RUN true"}}); err == nil || !strings.Contains(err.Error(), "run is not a valid change command") {
		t.Errorf("bad change: %v", err)
	}
	if _, err := Import(ctx, s, strings.NewReader(""), mustRef(t, "bad:3"), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "empty input") {
		t.Errorf("import of nothing: %v", err)
	}
	if _, err := Import(ctx, s, bytes.NewReader([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}), mustRef(t, "bad:4"), ImportOptions{}); err == nil || !strings.Contains(err.Error(), "xz-compressed input is not supported") {
		t.Errorf("import of xz: %v", err)
	}
	if _, err := Import(ctx, s, strings.NewReader("this is not a tar archive, not at all, no no no......"), mustRef(t, "bad:2"), ImportOptions{}); err == nil {
		t.Error("import of garbage succeeded")
	}
	if after := storeState(t, s); after != before {
		t.Errorf("failed imports changed the store:\n%s\n%s", before, after)
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}
