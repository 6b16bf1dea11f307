// Package archive moves images between hull's store and tar archives, as
// `docker save`, `docker load` and `docker import` do.
//
// Save writes the layout Docker 25 and later write: a docker-archive
// (manifest.json, repositories) that is at the same time an OCI image
// layout (oci-layout, index.json, blobs/sha256/…), with uncompressed
// layers so that manifest.json's layer files hash to the config's diff_ids.
// Old and new docker and podman read it.
//
// Load reads docker-archives (both the Docker <25 `<id>/layer.tar` layout
// and the Docker 25+ blobs layout, with uncompressed, gzip or zstd layers)
// and oci-archives (as podman, skopeo and buildkit write them). The whole
// archive may itself be gzip, zstd or bzip2 compressed. Everything is
// verified before any image is recorded.
//
// Import turns a root filesystem tarball into a one-layer image, applying
// Dockerfile-style --change instructions (see ParseChange).
package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// File names and annotations of docker-archives and OCI image layouts.
const (
	manifestFileName     = "manifest.json"
	repositoriesFileName = "repositories"
	ociLayoutFileName    = "oci-layout"
	ociIndexFileName     = "index.json"
	ociLayoutVersion     = "1.0.0"

	annotationRefName   = "org.opencontainers.image.ref.name"
	annotationImageName = "io.containerd.image.name"
)

// maxJSONSize bounds the JSON documents (manifest.json, index.json,
// manifests, configs) read from an archive.
const maxJSONSize = 32 << 20

// compression is the compression of a stream, found by its magic bytes.
type compression int

const (
	compNone compression = iota
	compGzip
	compZstd
	compBzip2
	compXz
)

func (c compression) String() string {
	switch c {
	case compGzip:
		return "gzip"
	case compZstd:
		return "zstd"
	case compBzip2:
		return "bzip2"
	case compXz:
		return "xz"
	}
	return "uncompressed"
}

// sniffLen is how many leading bytes sniffCompression needs.
const sniffLen = 6

// sniffCompression recognises a compressed stream by its first bytes.
func sniffCompression(b []byte) compression {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b, 0x08}):
		return compGzip
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compZstd
	case bytes.HasPrefix(b, []byte("BZh")):
		return compBzip2
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return compXz
	}
	return compNone
}

// decompress returns a reader of the decompressed stream r and a function
// that releases the decompressor.
func decompress(r io.Reader, c compression) (io.Reader, func(), error) {
	switch c {
	case compNone:
		return r, func() {}, nil
	case compGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case compZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	case compBzip2:
		return bzip2.NewReader(r), func() {}, nil
	}
	return nil, nil, fmt.Errorf("%s-compressed input is not supported (decompress it first; plain, gzip, zstd and bzip2 are)", c)
}

// sniffReader peeks at r to find its compression and returns the
// decompressed stream.
func sniffReader(r io.Reader) (io.Reader, compression, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(sniffLen)
	c := sniffCompression(magic)
	dr, done, err := decompress(br, c)
	if err != nil {
		return nil, c, nil, err
	}
	return dr, c, done, nil
}

// ctxReader fails reads once ctx is done, so long copies stop promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	d digest.Digester
	n int64
}

func newHashingReader(r io.Reader) *hashingReader {
	return &hashingReader{r: r, d: digest.SHA256.Digester()}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.d.Hash().Write(p[:n])
		h.n += int64(n)
	}
	return n, err
}

// short returns the 12-hex-digit short form of d for progress IDs.
func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}
