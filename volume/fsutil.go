package volume

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// syncDir fsyncs a directory, making renames in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return slices.Compact(out), nil
}

// isMounted reports whether path is a mount point.
func isMounted(path string) (bool, error) {
	ok, err := mountinfo.Mounted(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return ok, err
}

// unmount lazily unmounts everything mounted on path (mounts may be
// stacked); a path that is not a mount point is fine.
func unmount(path string) error {
	for range 64 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EINVAL || err == unix.ENOENT {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: too many stacked mounts", path)
}

// removeTree deletes dir and everything in it. Filesystems mounted below
// it are unmounted first, never emptied: a volume bind-mounted from a host
// directory must not take the host's files with it.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := unmount(m); err != nil {
			return err
		}
	}
	if mounts, err := mountsUnder(dir); err != nil {
		return err
	} else if len(mounts) > 0 {
		return fmt.Errorf("remove %s: %s is still mounted", dir, mounts[0])
	}
	return os.RemoveAll(dir)
}
