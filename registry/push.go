package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/content"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// PushResult describes a finished push.
type PushResult struct {
	// Tag is the tag pushed.
	Tag string
	// Digest and Size are the pushed manifest's.
	Digest digest.Digest
	Size   int64
}

// Push uploads the local image ref names to its registry. Blobs the
// registry already has are skipped, blobs it has in another repository of
// the same registry are mounted, uncompressed layers (from load or import)
// are gzip-compressed once and the compressed form is kept.
func Push(ctx context.Context, s *image.Store, ref reference.Reference, opts Options) (*PushResult, error) {
	res, err := push(ctx, s, ref, opts)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", ref.Familiar(), err)
	}
	return res, nil
}

func push(ctx context.Context, s *image.Store, ref reference.Reference, opts Options) (*PushResult, error) {
	rep := opts.reporter()
	if ref.Tag() == "" {
		return nil, fmt.Errorf("a tag is required to push (got %s)", ref.Familiar())
	}
	img, err := s.Resolve(ref.String())
	if err != nil {
		return nil, fmt.Errorf("tag does not exist: %w", err)
	}
	release, err := s.Lease()
	if err != nil {
		return nil, err
	}
	defer release()
	m, err := img.ParsedManifest()
	if err != nil {
		return nil, err
	}
	manifestDigest := img.Manifest
	manifestBytes, err := img.ManifestBytes()
	if err != nil {
		return nil, err
	}
	if needsCompression(m) {
		manifestBytes, manifestDigest, m, err = compressLayers(ctx, s, img, m)
		if err != nil {
			return nil, err
		}
	}
	// Mount sources: other repositories on the same registry that have
	// this image.
	var sources []string
	for _, rd := range img.RepoDigests {
		r, err := reference.Parse(rd)
		if err != nil || r.Domain() != ref.Domain() || r.Path() == ref.Path() {
			continue
		}
		sources = append(sources, r.Path())
	}
	c, err := newClient(ctx, ref, opts, []string{"pull", "push"}, sources)
	if err != nil {
		return nil, err
	}
	blobs := append([]v1.Descriptor{}, m.Layers...)
	for _, b := range blobs {
		rep.Report(progress.Event{ID: short(digest.Digest(b.Digest.String())), Action: "Preparing"})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.concurrency())
	for _, b := range append(blobs, m.Config) {
		isConfig := b.Digest == m.Config.Digest
		g.Go(func() error {
			return pushBlob(gctx, s, c, digest.Digest(b.Digest.String()), b.Size, sources, opts, isConfig)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := c.putManifest(ctx, ref.Tag(), string(m.MediaType), manifestBytes); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	index := img.Index
	if manifestDigest != img.Manifest {
		index = ""
	}
	if _, err := s.Commit(image.CommitRequest{
		Manifest:     manifestDigest,
		Index:        index,
		RepoDigest:   ref.Repository() + "@" + manifestDigest.String(),
		Parent:       img.Parent,
		Intermediate: img.Intermediate,
	}); err != nil {
		return nil, err
	}
	return &PushResult{Tag: ref.Tag(), Digest: manifestDigest, Size: int64(len(manifestBytes))}, nil
}

func pushBlob(ctx context.Context, s *image.Store, c *client, d digest.Digest, size int64, sources []string, opts Options, quiet bool) error {
	rep := opts.reporter()
	id := short(d)
	report := func(e progress.Event) {
		if !quiet {
			rep.Report(e)
		}
	}
	var lastErr error
	for attempt := 0; attempt <= opts.retries(); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(1<<(attempt-1)) * time.Second):
			}
		}
		exists, err := c.blobExists(ctx, d)
		if err != nil {
			lastErr = err
			if permanent(err) {
				break
			}
			continue
		}
		if exists {
			report(progress.Event{ID: id, Action: "Layer already exists"})
			return nil
		}
		from := ""
		if len(sources) > 0 {
			from = sources[0]
		}
		mounted, loc, err := c.mountBlob(ctx, d, from)
		if err != nil {
			lastErr = err
			if permanent(err) {
				break
			}
			continue
		}
		if mounted {
			report(progress.Event{ID: id, Action: "Mounted from " + reference.FamiliarName(from)})
			return nil
		}
		f, err := s.Content().Open(d)
		if err != nil {
			return err
		}
		body := &countingReader{r: f, report: func(n int64) {
			report(progress.Event{ID: id, Action: "Pushing", Current: n, Total: size})
		}}
		err = c.putBlob(ctx, loc, d, size, body)
		f.Close()
		if err == nil {
			report(progress.Event{ID: id, Action: "Pushed"})
			return nil
		}
		lastErr = err
		if permanent(err) {
			break
		}
	}
	return fmt.Errorf("blob %s: %w", d, lastErr)
}

// countingReader reports the running count of bytes read.
type countingReader struct {
	r      io.Reader
	n      int64
	last   time.Time
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if now := time.Now(); n > 0 && now.Sub(c.last) > 100*time.Millisecond {
		c.last = now
		c.report(c.n)
	}
	return n, err
}

func needsCompression(m *v1.Manifest) bool {
	for _, l := range m.Layers {
		if c, _ := image.LayerCompression(string(l.MediaType)); c == image.Uncompressed {
			return true
		}
	}
	return false
}

// compressLayers gzips the uncompressed layers of an image into new blobs
// and writes a manifest that uses them, as Docker does on push.
func compressLayers(ctx context.Context, s *image.Store, img *image.Image, m *v1.Manifest) ([]byte, digest.Digest, *v1.Manifest, error) {
	nm := *m
	nm.Layers = make([]v1.Descriptor, len(m.Layers))
	oci := string(m.MediaType) == image.MediaTypeOCIManifest
	for i, l := range m.Layers {
		nm.Layers[i] = l
		if c, _ := image.LayerCompression(string(l.MediaType)); c != image.Uncompressed {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, "", nil, err
		}
		d, size, err := gzipBlob(s, digest.Digest(l.Digest.String()))
		if err != nil {
			return nil, "", nil, fmt.Errorf("compress layer %s: %w", l.Digest, err)
		}
		h, _ := v1.NewHash(d.String())
		nm.Layers[i] = v1.Descriptor{MediaType: types.DockerLayer, Digest: h, Size: size, Annotations: l.Annotations}
		if oci {
			nm.Layers[i].MediaType = types.OCILayer
		}
	}
	b, err := json.Marshal(&nm)
	if err != nil {
		return nil, "", nil, err
	}
	d := digest.FromBytes(b)
	if err := s.Content().Put(d, b); err != nil {
		return nil, "", nil, err
	}
	return b, d, &nm, nil
}

// gzipBlob compresses a stored blob into a new stored blob.
func gzipBlob(s *image.Store, src digest.Digest) (digest.Digest, int64, error) {
	f, err := s.Content().Open(src)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	tmp, err := s.Content().TempFile("gzip-")
	if err != nil {
		return "", 0, err
	}
	defer func() { tmp.Close(); _ = os.Remove(tmp.Name()) }()
	dg := digest.SHA256.Digester()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(tmp, dg.Hash()), gzip.DefaultCompression)
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(zw, f); err != nil {
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	d := dg.Digest()
	w, err := s.Content().Writer(d, size)
	if err != nil {
		if isExists(err) {
			return d, size, nil
		}
		return "", 0, err
	}
	defer w.Close()
	if _, err := io.Copy(w, tmp); err != nil {
		return "", 0, err
	}
	return d, size, w.Commit()
}

func isExists(err error) bool { return errors.Is(err, content.ErrExists) }

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unauthorized") || strings.Contains(msg, "denied") || strings.Contains(msg, "refusing plain HTTP")
}
