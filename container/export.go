package container

import (
	"fmt"
	"io"

	"github.com/hull-project/hull/snapshot"
	"golang.org/x/sys/unix"
)

// Export writes a tar archive of the container's root file system (its
// image and writable layer; not its volumes) to w, as `docker export`
// does. A container that does not run has its root file system mounted
// meanwhile.
func (s *Store) Export(snaps *snapshot.Store, id string, w io.Writer) error {
	r, err := s.OpenRootFS(snaps, id, false)
	if err != nil {
		return err
	}
	defer r.Close()
	dfd, err := openDirOf(r.fd)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	a := newArchiver(w)
	if err := a.addTree(dfd, ""); err != nil {
		return err
	}
	return a.close()
}

// ArchiveDir writes a tar archive of the directory tree at dir to w, the
// way Export writes a container's (sorted, no symlink followed); a build
// uses it for --output type=tar.
func ArchiveDir(dir string, w io.Writer) error {
	dfd, err := openRetry(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	defer unix.Close(dfd)
	a := newArchiver(w)
	if err := a.addTree(dfd, ""); err != nil {
		return err
	}
	return a.close()
}
