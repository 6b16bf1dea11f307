package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// ImportOptions mirror the flags of `docker import`.
type ImportOptions struct {
	// Changes are Dockerfile instructions applied to the image config, as
	// with --change (see ParseChange for what is accepted).
	Changes []string
	// Message is the history comment; "" means "Imported from -".
	Message string
	// Platform sets the config's os, architecture and variant; fields left
	// empty default to image.DefaultPlatform().
	Platform v1.Platform
}

// Import makes a one-layer image from a root filesystem tarball read from
// r (plain, gzip, zstd or bzip2 compressed; found by magic bytes) and, if
// ref is not the zero Reference, tags it ref. The layer is stored as the
// uncompressed tar, so its blob digest is its diff_id; the config gets the
// current time, the platform, the changes and one history entry; the
// manifest is a Docker v2 schema 2 manifest.
func Import(ctx context.Context, s *image.Store, r io.Reader, ref reference.Reference, opts ImportOptions) (*image.Image, error) {
	img, err := doImport(ctx, s, r, ref, opts)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}

func doImport(ctx context.Context, s *image.Store, r io.Reader, ref reference.Reference, opts ImportOptions) (*image.Image, error) {
	if !ref.IsZero() && (ref.Tag() == "" || ref.Digest() != "") {
		return nil, fmt.Errorf("invalid reference %q: want a name:tag reference", ref.String())
	}
	var cfg v1.Config
	if err := ApplyChanges(&cfg, opts.Changes); err != nil {
		return nil, err
	}
	platform := opts.Platform
	def := image.DefaultPlatform()
	if platform.OS == "" {
		platform.OS = def.OS
	}
	if platform.Architecture == "" {
		platform.Architecture, platform.Variant = def.Architecture, def.Variant
	}
	release, err := s.Lease()
	if err != nil {
		return nil, err
	}
	defer release()

	layer, size, cleanup, err := spool(ctx, s, r, "import-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if size == 0 {
		return nil, errors.New("empty input: expected a tar archive of a root filesystem")
	}
	h := newHashingReader(ctxReader{ctx: ctx, r: io.NewSectionReader(layer, 0, size)})
	if _, err := io.Copy(io.Discard, h); err != nil {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	diffID := h.d.Digest()
	desc := image.LayerDesc{Digest: diffID, Size: size, MediaType: image.MediaTypeDockerLayerTar, DiffID: diffID}
	var res image.LayerResult
	if !s.HasLayer(desc) {
		res, err = s.IngestLayer(ctx, ctxReader{ctx: ctx, r: io.NewSectionReader(layer, 0, size)}, desc, nil)
		if err != nil {
			return nil, err
		}
	}

	now := time.Now().UTC()
	comment := opts.Message
	if comment == "" {
		comment = "Imported from -"
	}
	diffHash, err := v1.NewHash(diffID.String())
	if err != nil {
		return nil, err
	}
	cf := v1.ConfigFile{
		Architecture: platform.Architecture,
		Variant:      platform.Variant,
		OS:           platform.OS,
		OSVersion:    platform.OSVersion,
		Created:      v1.Time{Time: now},
		History:      []v1.History{{Created: v1.Time{Time: now}, Comment: comment}},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffHash}},
		Config:       cfg,
	}
	cb, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	configID := digest.FromBytes(cb)
	configHash, err := v1.NewHash(configID.String())
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(cb)), Digest: configHash},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(image.MediaTypeDockerLayerTar), Size: size, Digest: diffHash}},
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	manifestID := digest.FromBytes(mb)
	if err := s.Content().Put(configID, cb); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	if err := s.Content().Put(manifestID, mb); err != nil {
		return nil, fmt.Errorf("store manifest: %w", err)
	}
	req := image.CommitRequest{Manifest: manifestID}
	if res.UnpackedSize > 0 {
		req.LayerSizes = map[digest.Digest]int64{diffID: res.UnpackedSize}
	}
	if !ref.IsZero() {
		req.Tags = []reference.Reference{ref}
	}
	return s.Commit(req)
}
