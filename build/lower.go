package build

import (
	"bytes"
	"io"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// lowerFS is a read-only view of a state's file system over its layer
// snapshots (container.ImageFS), for COPY's destination rules, --chown's
// passwd lookups and RUN's mount stubs.
type lowerFS = container.ImageFS

func newLowerFS(snaps *snapshot.Store, layers []digest.Digest) *lowerFS {
	return container.NewImageFS(snaps, layers)
}

// readLower reads a file of the lower file system (empty if missing).
func readLower(l *lowerFS, p string) io.Reader {
	b, _ := l.ReadFile(p)
	return bytes.NewReader(b)
}
