package image

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hull-project/hull/content"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// LayerDesc describes one layer to ingest.
type LayerDesc struct {
	// Digest and Size of the layer blob as stored (compressed or not);
	// Size is -1 if unknown.
	Digest digest.Digest
	Size   int64
	// MediaType of the blob; it decides the decompressor.
	MediaType string
	// DiffID is the digest of the uncompressed tar, from the image config.
	DiffID digest.Digest
}

// LayerResult says what ingesting a layer did.
type LayerResult struct {
	// UnpackedSize is the layer's unpacked size in bytes.
	UnpackedSize int64
	// BlobExisted and SnapshotExisted say which parts were already stored.
	BlobExisted, SnapshotExisted bool
}

// HasLayer reports whether both the blob and the unpacked snapshot of a
// layer are stored, so that fetching it again is unnecessary.
func (s *Store) HasLayer(l LayerDesc) bool {
	return s.content.Has(l.Digest) && s.snapshots.Has(l.DiffID)
}

// countingReader counts bytes read through it and reports them.
type countingReader struct {
	r      io.Reader
	n      int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.report != nil && n > 0 {
		c.report(c.n)
	}
	return n, err
}

// IngestLayer reads a layer blob from r and, in one pass, stores the blob
// (verified against l.Digest and l.Size) and unpacks it into a snapshot
// (verified against l.DiffID). Either part already stored is skipped, but
// the stream is still verified. On any mismatch nothing new is kept.
// progressFn, if non-nil, is called with the number of blob bytes read.
func (s *Store) IngestLayer(ctx context.Context, r io.Reader, l LayerDesc, progressFn func(int64)) (LayerResult, error) {
	var res LayerResult
	comp, err := LayerCompression(l.MediaType)
	if err != nil {
		return res, err
	}
	if l.DiffID == "" {
		return res, fmt.Errorf("layer %s: unknown diff ID", l.Digest)
	}
	var sink io.Writer = io.Discard
	w, err := s.content.Writer(l.Digest, l.Size)
	switch {
	case errors.Is(err, content.ErrExists):
		res.BlobExisted = true
	case err != nil:
		return res, err
	default:
		defer w.Close()
		sink = w
	}
	verify := digest.SHA256.Digester()
	counted := &countingReader{r: r, report: progressFn}
	tee := io.TeeReader(counted, io.MultiWriter(sink, verify.Hash()))

	var tarStream io.Reader
	var closeDec func()
	switch comp {
	case Gzip:
		zr, err := gzip.NewReader(tee)
		if err != nil {
			return res, fmt.Errorf("layer %s: gzip: %w", l.Digest, err)
		}
		tarStream, closeDec = zr, func() { zr.Close() }
	case Zstd:
		zr, err := zstd.NewReader(tee, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return res, fmt.Errorf("layer %s: zstd: %w", l.Digest, err)
		}
		tarStream, closeDec = zr, zr.Close
	default:
		tarStream, closeDec = tee, func() {}
	}
	info, err := s.snapshots.Unpack(ctx, l.DiffID, tarStream)
	closeDec()
	if err != nil {
		// A corrupt download shows up as a broken tar or compressed
		// stream; read the rest to tell the user that it was the blob.
		if _, cerr := io.Copy(io.Discard, tee); cerr == nil {
			if got := verify.Digest(); got != l.Digest {
				return res, fmt.Errorf("layer blob digest mismatch: expected %s, got %s (%v)", l.Digest, got, err)
			}
		}
		return res, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	res.SnapshotExisted = info.Existed
	res.UnpackedSize = info.Size
	// The decompressor may stop before the end of the blob (padding,
	// trailing data): the blob digest covers every byte.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		s.dropSnapshot(l.DiffID, info.Existed)
		return res, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if got := verify.Digest(); got != l.Digest {
		s.dropSnapshot(l.DiffID, info.Existed)
		return res, fmt.Errorf("layer blob digest mismatch: expected %s, got %s", l.Digest, got)
	}
	if l.Size >= 0 && counted.n != l.Size {
		s.dropSnapshot(l.DiffID, info.Existed)
		return res, fmt.Errorf("layer %s: size mismatch: expected %d bytes, got %d", l.Digest, l.Size, counted.n)
	}
	if w != nil && !res.BlobExisted {
		if err := w.Commit(); err != nil {
			s.dropSnapshot(l.DiffID, info.Existed)
			return res, err
		}
	}
	if res.SnapshotExisted && res.UnpackedSize == 0 {
		if n, err := s.snapshots.Usage(l.DiffID); err == nil {
			res.UnpackedSize = n
		}
	}
	return res, nil
}

func (s *Store) dropSnapshot(diffID digest.Digest, existed bool) {
	if !existed {
		_ = s.snapshots.Remove(diffID)
	}
}
