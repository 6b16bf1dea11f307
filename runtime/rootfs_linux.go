package runtime

import (
	"errors"
	"fmt"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The root filesystem is set up by the container's init (package
// initproc); what is left here is delete's cleanup of a container
// without a mount namespace.

// unmountUnder lazily unmounts every mount at or below dir, deepest first:
// what a container without a mount namespace left in hull's.
func unmountUnder(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mounts[i].Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}
