package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// loadConcurrency is how many layers Load ingests at once.
const loadConcurrency = 4

// LoadResult is one line of `load` output: "Loaded image: busybox:latest"
// for each tag of a loaded image, or "Loaded image ID: sha256:…" for a
// loaded image without tags.
type LoadResult struct {
	// Tag is the familiar tag ("busybox:latest"), or "" for an untagged
	// image.
	Tag string
	// ID is the image ID (config digest).
	ID digest.Digest
}

// String formats r as docker load prints it.
func (r LoadResult) String() string {
	if r.Tag != "" {
		return "Loaded image: " + r.Tag
	}
	return "Loaded image ID: " + r.ID.String()
}

// loadPlan is one image found in an archive, verified as far as possible
// before any layer is read.
type loadPlan struct {
	// what names the image in errors, e.g. "image 2 of manifest.json".
	what     string
	configID digest.Digest
	config   []byte
	// manifest is the manifest blob to store: the archive's own for
	// oci-archives, built after ingestion for docker-archives.
	manifestID digest.Digest
	manifest   []byte
	// index is the nested index the manifest was selected from, if any.
	indexID digest.Digest
	index   []byte
	layers  []*layerJob
	tags    []reference.Reference
}

// layerJob is one layer file of the archive to ingest.
type layerJob struct {
	path  string
	entry *tarEntry
	// desc's Digest, Size and MediaType come from the manifest for
	// oci-archives; for docker-archives they are found by reading the file.
	desc image.LayerDesc
	// namedDigest is the digest the file's path names (blobs/sha256/<hex>),
	// if any; the content must match it.
	namedDigest digest.Digest
	result      image.LayerResult
}

// jobKey deduplicates layers that several images share.
type jobKey struct {
	entry  *tarEntry
	diffID digest.Digest
}

// Load reads a docker-archive or oci-archive from r (plain or gzip, zstd or
// bzip2 compressed) and stores its images. The stream is spooled to a temp
// file under the store's tmp directory (removed afterwards) unless r is
// already a seekable uncompressed file. Every config, manifest and layer is
// verified before any image is recorded, so a bad archive changes no image
// or tag. Layers are ingested in parallel and reported to rep as
// "Loading layer" events.
func Load(ctx context.Context, s *image.Store, r io.Reader, rep progress.Reporter) ([]LoadResult, error) {
	res, err := load(ctx, s, r, progress.OrDiscard(rep))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return res, nil
}

func load(ctx context.Context, s *image.Store, r io.Reader, rep progress.Reporter) ([]LoadResult, error) {
	release, err := s.Lease()
	if err != nil {
		return nil, err
	}
	defer release()

	ra, size, cleanup, err := spool(ctx, s, r, "load-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ix, err := indexTar(ctx, ra, size)
	if err != nil {
		return nil, err
	}
	var plans []*loadPlan
	var jobs []*layerJob
	switch {
	case ix.entries[manifestFileName] != nil:
		plans, jobs, err = planDockerArchive(ix)
	case ix.entries[ociIndexFileName] != nil:
		plans, jobs, err = planOCIArchive(ix)
	case ix.entries[repositoriesFileName] != nil:
		err = errors.New("invalid archive: missing manifest.json: legacy archives of Docker before 1.10 (repositories and <id>/json only) are not supported")
	default:
		err = errors.New("invalid archive: neither a docker-archive (missing manifest.json) nor an oci-archive (missing index.json)")
	}
	if err != nil {
		return nil, err
	}
	if len(plans) == 0 {
		return nil, errors.New("invalid archive: it contains no images")
	}
	if err := ingestLayers(ctx, s, ix, jobs, rep); err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.manifest == nil {
			if err := p.buildDockerManifest(); err != nil {
				return nil, err
			}
		}
	}
	// Everything is verified: store the small blobs, then record.
	for _, p := range plans {
		if err := s.Content().Put(p.configID, p.config); err != nil {
			return nil, fmt.Errorf("%s: store config: %w", p.what, err)
		}
		if p.index != nil {
			if err := s.Content().Put(p.indexID, p.index); err != nil {
				return nil, fmt.Errorf("%s: store index: %w", p.what, err)
			}
		}
		if err := s.Content().Put(p.manifestID, p.manifest); err != nil {
			return nil, fmt.Errorf("%s: store manifest: %w", p.what, err)
		}
	}
	var out []LoadResult
	for _, p := range plans {
		sizes := map[digest.Digest]int64{}
		for _, l := range p.layers {
			if l.result.UnpackedSize > 0 {
				sizes[l.desc.DiffID] = l.result.UnpackedSize
			}
		}
		for _, t := range p.tags {
			if old, err := s.Resolve(t.String()); err == nil && old.ID != p.configID {
				rep.Report(progress.Event{Message: fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", t.Familiar(), old.ID)})
			}
		}
		img, err := s.Commit(image.CommitRequest{
			Manifest:   p.manifestID,
			Index:      p.indexID,
			Tags:       p.tags,
			LayerSizes: sizes,
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", p.what, err)
		}
		if len(p.tags) == 0 {
			out = append(out, LoadResult{ID: img.ID})
		}
		for _, t := range p.tags {
			out = append(out, LoadResult{Tag: t.Familiar(), ID: img.ID})
		}
	}
	return out, nil
}

// spool makes r randomly accessible: a seekable uncompressed regular file
// is used in place, anything else is decompressed into a temp file. The
// returned cleanup removes the temp file.
func spool(ctx context.Context, s *image.Store, r io.Reader, label string) (io.ReaderAt, int64, func(), error) {
	if f, ok := r.(*os.File); ok {
		if ra, n, ok := directFile(f); ok {
			return ra, n, func() {}, nil
		}
	}
	dr, _, done, err := sniffReader(r)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	defer done()
	tmp, err := s.Content().TempFile(label)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	cleanup := func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, ctxReader{ctx: ctx, r: dr})
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	return tmp, n, cleanup, nil
}

// directFile returns the rest of f as a section if f is a regular,
// uncompressed file, which then needs no spooling.
func directFile(f *os.File) (io.ReaderAt, int64, bool) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, 0, false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return nil, 0, false
	}
	magic := make([]byte, sniffLen)
	n, _ := f.ReadAt(magic, off)
	if sniffCompression(magic[:n]) != compNone {
		return nil, 0, false
	}
	return io.NewSectionReader(f, off, fi.Size()-off), fi.Size() - off, true
}

// ingestLayers stores and unpacks every layer, loadConcurrency at a time.
func ingestLayers(ctx context.Context, s *image.Store, ix *tarIndex, jobs []*layerJob, rep progress.Reporter) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for _, j := range jobs {
		g.Go(func() error { return ingestLayer(gctx, s, ix, j, rep) })
	}
	return g.Wait()
}

func ingestLayer(ctx context.Context, s *image.Store, ix *tarIndex, j *layerJob, rep progress.Reporter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if j.desc.Digest == "" {
		if err := j.identify(ctx, ix); err != nil {
			return err
		}
	}
	comp, err := image.LayerCompression(j.desc.MediaType)
	if err != nil {
		return fmt.Errorf("layer %s: %w", j.path, err)
	}
	id := short(j.desc.DiffID)
	if comp == image.Uncompressed {
		if j.desc.Digest != j.desc.DiffID {
			return fmt.Errorf("layer %s: diff_id mismatch: the image config says %s but the layer's content has digest %s", j.path, j.desc.DiffID, j.desc.Digest)
		}
		if s.HasLayer(j.desc) {
			rep.Report(progress.Event{ID: id, Action: "Loading layer", Current: j.desc.Size, Total: j.desc.Size})
			return nil
		}
	}
	var mu sync.Mutex
	var last int64
	report := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		if n-last >= 512<<10 || n == j.desc.Size {
			last = n
			rep.Report(progress.Event{ID: id, Action: "Loading layer", Current: n, Total: j.desc.Size})
		}
	}
	report(0)
	res, err := s.IngestLayer(ctx, ctxReader{ctx: ctx, r: ix.section(j.entry)}, j.desc, report)
	if err != nil {
		return fmt.Errorf("layer %s (diff_id %s): %w", j.path, j.desc.DiffID, err)
	}
	j.result = res
	return nil
}

// identify hashes a docker-archive layer file to find its digest and size
// and sniffs its compression for the manifest's media type.
func (j *layerJob) identify(ctx context.Context, ix *tarIndex) error {
	sec := ix.section(j.entry)
	h := newHashingReader(ctxReader{ctx: ctx, r: sec})
	if _, err := io.Copy(io.Discard, h); err != nil {
		return fmt.Errorf("layer %s: %w", j.path, err)
	}
	d := h.d.Digest()
	if j.namedDigest != "" && d != j.namedDigest {
		return fmt.Errorf("layer %s: digest mismatch: the file name says %s but its content has digest %s", j.path, j.namedDigest, d)
	}
	magic := make([]byte, sniffLen)
	n, _ := sec.ReadAt(magic, 0)
	var mt string
	switch c := sniffCompression(magic[:n]); c {
	case compNone:
		mt = image.MediaTypeDockerLayerTar
	case compGzip:
		mt = image.MediaTypeDockerLayer
	case compZstd:
		mt = image.MediaTypeOCILayerZstd
	default:
		return fmt.Errorf("layer %s: %s-compressed layers are not supported (only uncompressed, gzip and zstd)", j.path, c)
	}
	j.desc.Digest, j.desc.Size, j.desc.MediaType = d, h.n, mt
	return nil
}

// buildDockerManifest writes the Docker v2 schema 2 manifest of a
// docker-archive image whose layers have been identified.
func (p *loadPlan) buildDockerManifest() error {
	cfgHash, err := v1.NewHash(p.configID.String())
	if err != nil {
		return fmt.Errorf("%s: config digest: %w", p.what, err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config: v1.Descriptor{
			MediaType: types.DockerConfigJSON,
			Size:      int64(len(p.config)),
			Digest:    cfgHash,
		},
		Layers: make([]v1.Descriptor, 0, len(p.layers)),
	}
	for _, l := range p.layers {
		h, err := v1.NewHash(l.desc.Digest.String())
		if err != nil {
			return fmt.Errorf("%s: layer digest: %w", p.what, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(l.desc.MediaType), Size: l.desc.Size, Digest: h})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: encode manifest: %w", p.what, err)
	}
	p.manifest, p.manifestID = b, digest.FromBytes(b)
	return nil
}
