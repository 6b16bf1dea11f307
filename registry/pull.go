package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// PullResult describes a finished pull.
type PullResult struct {
	// Image is the stored image.
	Image *image.Image
	// Digest is the digest the registry serves the reference under (the
	// index digest for multi-platform images).
	Digest digest.Digest
	// UpToDate is true when nothing had to be fetched.
	UpToDate bool
}

func short(d digest.Digest) string {
	if len(d.Encoded()) < 12 {
		return d.Encoded()
	}
	return d.Encoded()[:12]
}

// Pull fetches ref (a tag or digest reference) for opts.Platform and stores
// it. Layers are fetched in parallel, each streamed through verification
// into its blob and unpacked as it arrives. Blobs and layers already stored
// are not fetched again. Nothing is recorded unless every digest verifies.
func Pull(ctx context.Context, s *image.Store, ref reference.Reference, opts Options) (*PullResult, error) {
	res, err := pull(ctx, s, ref, opts)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	return res, nil
}

func pull(ctx context.Context, s *image.Store, ref reference.Reference, opts Options) (*PullResult, error) {
	rep := opts.reporter()
	platform := opts.Platform
	if platform.OS == "" {
		platform = image.DefaultPlatform()
	}
	release, err := s.Lease()
	if err != nil {
		return nil, err
	}
	defer release()

	c, err := newClient(ctx, ref, opts, []string{"pull"}, nil)
	if err != nil {
		return nil, err
	}
	tagOrDigest := ref.Tag()
	if d := ref.Digest(); d != "" {
		tagOrDigest = d.String()
	}
	if ref.Tag() != "" {
		rep.Report(progress.Event{ID: ref.Tag(), Action: "Pulling from " + ref.Path()})
	} else {
		rep.Report(progress.Event{ID: ref.Digest().String(), Action: "Pulling from " + ref.Path()})
	}
	top, mt, topDigest, err := c.getManifest(ctx, tagOrDigest)
	if err != nil {
		return nil, err
	}
	if d := ref.Digest(); d != "" && d != topDigest {
		return nil, fmt.Errorf("manifest digest mismatch: asked for %s, registry sent %s", d, topDigest)
	}
	if mt == "" || (!image.IsIndexMediaType(mt) && !image.IsManifestMediaType(mt)) {
		// Some registries send a generic content type; trust the document.
		if mt, err = image.SniffMediaType(top); err != nil {
			return nil, err
		}
	}
	manifestBytes, manifestDigest := top, topDigest
	var indexDigest digest.Digest
	var indexBytes []byte
	if image.IsIndexMediaType(mt) {
		ix, err := image.ParseIndex(top, mt)
		if err != nil {
			return nil, err
		}
		desc, err := image.SelectManifest(ix, platform)
		if err != nil {
			return nil, err
		}
		indexDigest, indexBytes = topDigest, top
		want := digest.Digest(desc.Digest.String())
		if s.Content().Has(want) {
			manifestBytes, err = s.Content().Read(want)
			if err != nil {
				return nil, err
			}
		} else {
			b, _, got, err := c.getManifest(ctx, want.String())
			if err != nil {
				return nil, err
			}
			if got != want {
				return nil, fmt.Errorf("manifest digest mismatch: expected %s, got %s", want, got)
			}
			manifestBytes = b
		}
		manifestDigest = want
		mt = string(desc.MediaType)
	}
	m, err := image.ParseManifest(manifestBytes, mt)
	if err != nil {
		return nil, err
	}

	// Config.
	configID := digest.Digest(m.Config.Digest.String())
	configBytes, err := fetchSmallBlob(ctx, s, c, configID, m.Config.Size)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := image.ParseConfig(configBytes)
	if err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("malformed image: manifest has %d layers but config lists %d diff_ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	if indexDigest == "" && cfg.OS != "" && (cfg.OS != platform.OS || cfg.Architecture != platform.Architecture) && opts.Platform.OS != "" {
		return nil, fmt.Errorf("image is for %s/%s, not the requested %s", cfg.OS, cfg.Architecture, image.PlatformString(platform))
	}

	layers := make([]image.LayerDesc, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = image.LayerDesc{
			Digest:    digest.Digest(l.Digest.String()),
			Size:      l.Size,
			MediaType: string(l.MediaType),
			DiffID:    digest.Digest(cfg.RootFS.DiffIDs[i].String()),
		}
	}
	upToDate := true
	for _, l := range layers {
		if !s.HasLayer(l) {
			upToDate = false
		}
	}
	if !s.Content().Has(manifestDigest) || !s.Content().Has(configID) {
		upToDate = false
	}
	if ref.Tag() != "" {
		if cur, err := s.Resolve(ref.String()); err != nil || cur.ID != configID {
			upToDate = false
		}
	}
	sizes := make(map[digest.Digest]int64, len(layers))
	if !upToDate {
		for _, l := range layers {
			if s.HasLayer(l) {
				rep.Report(progress.Event{ID: short(l.Digest), Action: "Already exists"})
			} else {
				rep.Report(progress.Event{ID: short(l.Digest), Action: "Pulling fs layer"})
			}
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(opts.concurrency())
		results := make([]image.LayerResult, len(layers))
		for i, l := range layers {
			if s.HasLayer(l) {
				continue
			}
			g.Go(func() error {
				r, err := fetchLayer(gctx, s, c, l, opts)
				results[i] = r
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for i, l := range layers {
			if results[i].UnpackedSize > 0 {
				sizes[l.DiffID] = results[i].UnpackedSize
			}
		}
	}
	if err := s.Content().Put(configID, configBytes); err != nil {
		return nil, err
	}
	if indexBytes != nil {
		if err := s.Content().Put(indexDigest, indexBytes); err != nil {
			return nil, err
		}
	}
	if err := s.Content().Put(manifestDigest, manifestBytes); err != nil {
		return nil, err
	}
	repoDigest := topDigest
	var tags []reference.Reference
	if ref.Tag() != "" {
		tags = append(tags, ref)
	}
	img, err := s.Commit(image.CommitRequest{
		Manifest:   manifestDigest,
		Index:      indexDigest,
		Tags:       tags,
		RepoDigest: ref.Repository() + "@" + repoDigest.String(),
		LayerSizes: sizes,
	})
	if err != nil {
		return nil, err
	}
	return &PullResult{Image: img, Digest: repoDigest, UpToDate: upToDate}, nil
}

// fetchSmallBlob returns a config-sized blob from the store or the
// registry, verified; the caller stores it once the whole image verified.
func fetchSmallBlob(ctx context.Context, s *image.Store, c *client, d digest.Digest, size int64) ([]byte, error) {
	if s.Content().Has(d) {
		return s.Content().Read(d)
	}
	if size > 64<<20 {
		return nil, fmt.Errorf("blob %s: %d bytes is too large for a config", d, size)
	}
	rc, _, err := c.getBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, fmt.Errorf("blob digest mismatch: expected %s, got %s", d, got)
	}
	if size >= 0 && int64(len(b)) != size {
		return nil, fmt.Errorf("blob %s: size mismatch: expected %d bytes, got %d", d, size, len(b))
	}
	return b, nil
}

// fetchLayer downloads, verifies and unpacks one layer, retrying transient
// failures with backoff.
func fetchLayer(ctx context.Context, s *image.Store, c *client, l image.LayerDesc, opts Options) (image.LayerResult, error) {
	rep := opts.reporter()
	id := short(l.Digest)
	var lastErr error
	for attempt := 0; attempt <= opts.retries(); attempt++ {
		if attempt > 0 {
			wait := time.Duration(1<<(attempt-1)) * time.Second
			rep.Report(progress.Event{ID: id, Action: fmt.Sprintf("Retrying in %d seconds", int(wait.Seconds()))})
			select {
			case <-ctx.Done():
				return image.LayerResult{}, ctx.Err()
			case <-time.After(wait):
			}
		}
		rc, _, err := c.getBlob(ctx, l.Digest)
		if err != nil {
			lastErr = err
			if !retryable(ctx, err) {
				break
			}
			continue
		}
		last := time.Time{}
		res, err := s.IngestLayer(ctx, rc, l, func(n int64) {
			if now := time.Now(); now.Sub(last) > 100*time.Millisecond || n == l.Size {
				last = now
				rep.Report(progress.Event{ID: id, Action: "Downloading", Current: n, Total: l.Size})
			}
		})
		rc.Close()
		if err == nil {
			rep.Report(progress.Event{ID: id, Action: "Pull complete"})
			return res, nil
		}
		lastErr = err
		if !retryable(ctx, err) {
			break
		}
	}
	return image.LayerResult{}, lastErr
}

// retryable reports whether a failed layer transfer is worth retrying:
// network trouble is, a verification failure or cancellation is not.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"digest mismatch", "size mismatch", "escapes", "unsupported", "malformed", "unauthorized", "denied", "not found"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}
