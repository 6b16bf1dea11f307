package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// saveImage is one image to save and the tags to save it under.
type saveImage struct {
	img    *image.Image
	config []byte
	cfg    *v1.ConfigFile
	tags   []reference.Reference
	layers []*saveLayer
	// manifest is the OCI manifest written for the archive's layout.
	manifest   []byte
	manifestID digest.Digest
}

// saveLayer is one distinct layer (by diffID) of the saved images.
type saveLayer struct {
	diffID digest.Digest
	// blob is the stored blob the uncompressed tar is read from.
	blob digest.Digest
	comp image.Compression
	// size is the uncompressed size, found before writing.
	size int64
}

// entry is one file or directory of the archive being written.
type entry struct {
	dir   bool
	data  []byte
	layer *saveLayer
}

// Save writes a docker-archive of the named images to w. Names are as the
// user typed them: tags ("busybox", "busybox:1.36"), image IDs (full or
// short) or digest references. A repository name without a tag saves every
// tag of that repository, as docker does; images named by ID or digest are
// saved without tags (RepoTags null).
//
// The archive is the layout Docker 25 and later write, which old and new
// docker load and podman load read: an OCI image layout (oci-layout,
// index.json, blobs/sha256/…) plus manifest.json and the legacy
// repositories file. Layers are written uncompressed so their digests are
// the config's diff_ids; compressed stored layers are decompressed and
// verified against their diff_id. The output is deterministic (sorted
// entries, fixed times) and streamed: no layer is held in memory.
func Save(ctx context.Context, s *image.Store, names []string, w io.Writer) error {
	if err := save(ctx, s, names, w); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

func save(ctx context.Context, s *image.Store, names []string, w io.Writer) error {
	if len(names) == 0 {
		return errors.New("no image names given")
	}
	release, err := s.Lease()
	if err != nil {
		return err
	}
	defer release()
	imgs, err := resolveSaveNames(s, names)
	if err != nil {
		return err
	}
	layers := map[digest.Digest]*saveLayer{}
	for _, si := range imgs {
		if err := si.prepare(s, layers); err != nil {
			return err
		}
	}
	// Find every layer's uncompressed size (needed for its tar header) and
	// verify that its content matches its diff_id.
	diffIDs := make([]digest.Digest, 0, len(layers))
	for d := range layers {
		diffIDs = append(diffIDs, d)
	}
	sort.Slice(diffIDs, func(i, j int) bool { return diffIDs[i] < diffIDs[j] })
	for _, d := range diffIDs {
		if err := layers[d].measure(ctx, s); err != nil {
			return err
		}
	}
	files, err := layoutFiles(imgs)
	if err != nil {
		return err
	}
	for _, l := range layers {
		files[blobName(l.diffID)] = &entry{layer: l}
	}
	return writeTar(ctx, s, w, files)
}

// resolveSaveNames maps the user's names to images, in order of first
// mention, with the tags each was named by.
func resolveSaveNames(s *image.Store, names []string) ([]*saveImage, error) {
	var out []*saveImage
	byID := map[digest.Digest]*saveImage{}
	add := func(img *image.Image, tag *reference.Reference) {
		si := byID[img.ID]
		if si == nil {
			si = &saveImage{img: img}
			byID[img.ID] = si
			out = append(out, si)
		}
		if tag != nil {
			si.tags = appendTags(si.tags, []reference.Reference{*tag})
		}
	}
	var all []*image.Image
	for _, name := range names {
		if repo, err := reference.ParseRepository(name); err == nil {
			if all == nil {
				if all, err = s.List(); err != nil {
					return nil, err
				}
			}
			type pair struct {
				img *image.Image
				ref reference.Reference
			}
			var found []pair
			for _, img := range all {
				for _, t := range img.Tags {
					if ref, err := reference.Parse(t); err == nil && ref.Repository() == repo.Repository() {
						found = append(found, pair{img, ref})
					}
				}
			}
			sort.Slice(found, func(i, j int) bool { return found[i].ref.String() < found[j].ref.String() })
			for _, f := range found {
				add(f.img, &f.ref)
			}
			if len(found) > 0 {
				continue
			}
		}
		img, err := s.Resolve(name)
		if err != nil {
			return nil, err
		}
		var tag *reference.Reference
		if ref, err := reference.Parse(name); err == nil && ref.Digest() == "" {
			for _, t := range img.Tags {
				if t == ref.String() {
					tag = &ref
				}
			}
		}
		add(img, tag)
	}
	return out, nil
}

// prepare reads the image's manifest and config and registers its layers.
func (si *saveImage) prepare(s *image.Store, layers map[digest.Digest]*saveLayer) error {
	what := "image " + si.img.ID.String()
	m, err := si.img.ParsedManifest()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if si.config, err = si.img.ConfigBytes(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if si.cfg, err = image.ParseConfig(si.config); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(si.cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("%s: manifest has %d layers but config lists %d diff_ids", what, len(m.Layers), len(si.cfg.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		diffID := digest.Digest(si.cfg.RootFS.DiffIDs[i].String())
		if sl := layers[diffID]; sl != nil {
			si.layers = append(si.layers, sl)
			continue
		}
		sl := &saveLayer{diffID: diffID, blob: digest.Digest(l.Digest.String())}
		if sl.comp, err = image.LayerCompression(string(l.MediaType)); err != nil {
			return fmt.Errorf("%s: layer %d: %w", what, i+1, err)
		}
		if sl.comp != image.Uncompressed && s.Content().Has(diffID) {
			// The uncompressed tar is stored too (an imported or loaded
			// layer): copy it rather than decompress.
			sl.blob, sl.comp = diffID, image.Uncompressed
		}
		layers[diffID] = sl
		si.layers = append(si.layers, sl)
	}
	return nil
}

// open returns a reader of the layer's uncompressed tar.
func (l *saveLayer) open(s *image.Store) (io.Reader, func(), error) {
	f, err := s.Content().Open(l.blob)
	if err != nil {
		return nil, nil, fmt.Errorf("layer %s: %w", l.diffID, err)
	}
	c := compNone
	switch l.comp {
	case image.Gzip:
		c = compGzip
	case image.Zstd:
		c = compZstd
	}
	r, done, err := decompress(f, c)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("layer %s: blob %s: %w", l.diffID, l.blob, err)
	}
	return r, func() { done(); f.Close() }, nil
}

// measure finds the layer's uncompressed size, verifying that the
// uncompressed content hashes to the diff_id.
func (l *saveLayer) measure(ctx context.Context, s *image.Store) error {
	if l.comp == image.Uncompressed {
		if l.blob != l.diffID {
			return fmt.Errorf("layer %s: stored uncompressed blob %s does not match its diff_id", l.diffID, l.blob)
		}
		n, err := s.Content().Size(l.blob)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.diffID, err)
		}
		l.size = n
		return nil
	}
	r, done, err := l.open(s)
	if err != nil {
		return err
	}
	defer done()
	h := newHashingReader(ctxReader{ctx: ctx, r: r})
	if _, err := io.Copy(io.Discard, h); err != nil {
		return fmt.Errorf("layer %s: decompress blob %s: %w", l.diffID, l.blob, err)
	}
	if got := h.d.Digest(); got != l.diffID {
		return fmt.Errorf("layer %s: diff_id mismatch: blob %s decompresses to content with digest %s", l.diffID, l.blob, got)
	}
	l.size = h.n
	return nil
}

func blobName(d digest.Digest) string { return "blobs/sha256/" + d.Encoded() }

// layoutFiles builds the small files of the archive: configs, OCI
// manifests, index.json, oci-layout, manifest.json and repositories.
func layoutFiles(imgs []*saveImage) (map[string]*entry, error) {
	files := map[string]*entry{"blobs": {dir: true}, "blobs/sha256": {dir: true}}
	var items []dockerManifestItem
	var index []v1.Descriptor
	repos := map[string]map[string]string{}
	for _, si := range imgs {
		if err := si.buildOCIManifest(); err != nil {
			return nil, err
		}
		files[blobName(si.img.ID)] = &entry{data: si.config}
		files[blobName(si.manifestID)] = &entry{data: si.manifest}
		item := dockerManifestItem{Config: blobName(si.img.ID), Layers: []string{}}
		for _, l := range si.layers {
			item.Layers = append(item.Layers, blobName(l.diffID))
		}
		mh, err := v1.NewHash(si.manifestID.String())
		if err != nil {
			return nil, err
		}
		desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(si.manifest)), Digest: mh}
		if p := si.cfg.Platform(); p != nil {
			desc.Platform = &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		}
		if len(si.tags) == 0 {
			index = append(index, desc)
		}
		for _, t := range si.tags {
			d := desc
			d.Annotations = map[string]string{annotationImageName: t.String(), annotationRefName: t.Tag()}
			index = append(index, d)
			item.RepoTags = append(item.RepoTags, t.Familiar())
			if len(si.layers) > 0 {
				repo := t.FamiliarRepository()
				if repos[repo] == nil {
					repos[repo] = map[string]string{}
				}
				repos[repo][t.Tag()] = si.layers[len(si.layers)-1].diffID.Encoded()
			}
		}
		items = append(items, item)
	}
	ib, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: index})
	if err != nil {
		return nil, fmt.Errorf("encode index.json: %w", err)
	}
	files[ociIndexFileName] = &entry{data: ib}
	files[ociLayoutFileName] = &entry{data: []byte(`{"imageLayoutVersion":"` + ociLayoutVersion + `"}`)}
	if files[manifestFileName], err = jsonEntry(items); err != nil {
		return nil, fmt.Errorf("encode manifest.json: %w", err)
	}
	if len(repos) > 0 {
		if files[repositoriesFileName], err = jsonEntry(repos); err != nil {
			return nil, fmt.Errorf("encode repositories: %w", err)
		}
	}
	return files, nil
}

// jsonEntry encodes v as docker save does: compact, with a newline.
func jsonEntry(v any) (*entry, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return &entry{data: buf.Bytes()}, nil
}

// buildOCIManifest writes the OCI manifest of the image as saved: its own
// config and uncompressed layers.
func (si *saveImage) buildOCIManifest() error {
	ch, err := v1.NewHash(si.img.ID.String())
	if err != nil {
		return fmt.Errorf("image %s: %w", si.img.ID, err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(si.config)), Digest: ch},
		Layers:        []v1.Descriptor{},
	}
	for _, l := range si.layers {
		lh, err := v1.NewHash(l.diffID.String())
		if err != nil {
			return fmt.Errorf("image %s: %w", si.img.ID, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Size: l.size, Digest: lh})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("image %s: encode manifest: %w", si.img.ID, err)
	}
	si.manifest, si.manifestID = b, digest.FromBytes(b)
	return nil
}

// epoch is the modification time of every archive entry, for
// reproducible output.
var epoch = time.Unix(0, 0)

// writeTar writes files to w in sorted order.
func writeTar(ctx context.Context, s *image.Store, w io.Writer, files map[string]*entry) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := files[n]
		hdr := &tar.Header{Name: n, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			hdr.Name, hdr.Mode, hdr.Typeflag = n+"/", 0o755, tar.TypeDir
		case e.layer != nil:
			hdr.Size = e.layer.size
		default:
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
		switch {
		case e.layer != nil:
			if err := writeLayer(ctx, s, tw, e.layer); err != nil {
				return err
			}
		case !e.dir:
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("write %s: %w", n, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// writeLayer streams the layer's uncompressed tar into tw, verifying it.
func writeLayer(ctx context.Context, s *image.Store, tw io.Writer, l *saveLayer) error {
	r, done, err := l.open(s)
	if err != nil {
		return err
	}
	defer done()
	h := newHashingReader(ctxReader{ctx: ctx, r: r})
	n, err := io.Copy(tw, h)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			err = fmt.Errorf("content is longer than the %d bytes measured", l.size)
		}
		return fmt.Errorf("layer %s: %w", l.diffID, err)
	}
	if n != l.size {
		return fmt.Errorf("layer %s: %d bytes, expected %d", l.diffID, n, l.size)
	}
	if got := h.d.Digest(); got != l.diffID {
		return fmt.Errorf("layer %s: diff_id mismatch: content has digest %s", l.diffID, got)
	}
	return nil
}
