package build

import (
	"fmt"
	"io"
	"os"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// ExportFilesystem writes the file system of img (its layers merged) as
// a tar archive to w (--output type=tar).
func ExportFilesystem(images *image.Store, img *image.Image, tmpDir string, w io.Writer) error {
	cfg, err := img.Config()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(tmpDir, "out")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(dir)
	var lower []string
	for i := len(cfg.RootFS.DiffIDs) - 1; i >= 0; i-- {
		lower = append(lower, images.Snapshots().Path(digest.Digest(cfg.RootFS.DiffIDs[i].String())))
	}
	if len(lower) > 0 {
		if err := (snapshot.Overlay{Lower: lower}).Mount(dir); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer container.UnmountRootfs(dir)
	}
	return container.ArchiveDir(dir, w)
}
