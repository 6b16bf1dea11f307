package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hull-project/hull/snapshot"
	"github.com/moby/sys/mountinfo"
)

// MountRootfs mounts the container's root file system (its image layers
// under its writable layer) at Rootfs(id), unless it is mounted already.
// The caller holds the container's lock.
func (s *Store) MountRootfs(snaps *snapshot.Store, r *Record) error {
	target := s.Rootfs(r.ID)
	if mounted, err := IsMounted(target); err != nil {
		return err
	} else if mounted {
		return nil
	}
	dir := s.Dir(r.ID)
	o := snapshot.Overlay{Upper: filepath.Join(dir, upperDir), Work: filepath.Join(dir, workDir)}
	for i := len(r.Layers) - 1; i >= 0; i-- {
		if !snaps.Has(r.Layers[i]) {
			return fmt.Errorf("mount rootfs of %s: layer %s of image %s is missing", r.ShortID(), r.Layers[i], r.Image)
		}
		o.Lower = append(o.Lower, snaps.Path(r.Layers[i]))
	}
	if len(o.Lower) == 0 {
		// An image without layers (FROM scratch, an empty import):
		// overlayfs still wants a lower directory.
		empty := filepath.Join(dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return fmt.Errorf("mount rootfs of %s: %w", r.ShortID(), err)
		}
		o.Lower = []string{empty}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", r.ShortID(), err)
	}
	if err := o.Mount(target); err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", r.ShortID(), err)
	}
	return nil
}

// UnmountRootfs unmounts a container root file system mounted at target,
// if it is mounted.
func UnmountRootfs(target string) error {
	for {
		mounted, err := IsMounted(target)
		if err != nil || !mounted {
			return err
		}
		if err := snapshot.Unmount(target); err != nil {
			return err
		}
	}
}

// IsMounted reports whether path is a mount point (moby/sys/mountinfo,
// which volume uses too); a missing path is not.
func IsMounted(path string) (bool, error) {
	ok, err := mountinfo.Mounted(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return ok, nil
}
