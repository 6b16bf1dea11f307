package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlay describes an overlayfs mount of read-only snapshots with an
// optional writable layer on top, as a container's root filesystem.
type Overlay struct {
	// Lower are the snapshot directories, topmost first.
	Lower []string
	// Upper and Work are the writable layer and overlayfs's scratch
	// directory, on the same filesystem; both empty for a read-only view.
	Upper, Work string
}

// maxMountData is the kernel's limit on mount(2)'s option string (one
// page); longer lowerdir lists need the new mount API or shorter paths.
const maxMountData = 4095

// Mount mounts the overlay at target. It uses the new mount API, which
// takes each lower directory separately ("lowerdir+", Linux 6.8+) and so
// has no limit on the number of layers; on older kernels it falls back to
// mount(2), naming the lower paths through short symlinks when the option
// string would otherwise be too long.
func (o Overlay) Mount(target string) error {
	if len(o.Lower) == 0 {
		return errors.New("overlay mount: no lower layers")
	}
	// An image may have the same layer twice (two steps that made the
	// same change); overlayfs refuses a directory twice (ELOOP). The
	// lower copy changes nothing the upper one does not do again, so
	// only the topmost stays.
	o.Lower = dedupTopFirst(o.Lower)
	if (o.Upper == "") != (o.Work == "") {
		return errors.New("overlay mount: upper and work directories go together")
	}
	if len(o.Lower) == 1 && o.Upper == "" {
		// overlayfs needs two lowers without an upper; a read-only bind
		// of the single layer is the same view.
		if err := unix.Mount(o.Lower[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("overlay mount %s: %w", target, err)
		}
		return unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
	}
	err := o.mountNewAPI(target)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("overlay mount %s: %w", target, err)
	}
	if err := o.mountLegacy(target); err != nil {
		return fmt.Errorf("overlay mount %s: %w", target, err)
	}
	return nil
}

func (o Overlay) mountNewAPI(target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, l := range o.Lower {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			return err
		}
	}
	if o.Upper != "" {
		if err := unix.FsconfigSetString(fd, "upperdir", o.Upper); err != nil {
			return err
		}
		if err := unix.FsconfigSetString(fd, "workdir", o.Work); err != nil {
			return err
		}
	}
	// Not every kernel knows "index" and "xino"; these are best-effort.
	_ = unix.FsconfigSetString(fd, "index", "off")
	if err := unix.FsconfigCreate(fd); err != nil {
		return err
	}
	attr := 0
	if o.Upper == "" {
		attr = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// mountLegacy uses mount(2). When the option string is too long, each
// lower directory is named through a one- or two-character symlink in a
// scratch directory the mount is made from (the kernel resolves relative
// lowerdirs against the caller's cwd and follows the links at mount time,
// so the links can go right after).
func (o Overlay) mountLegacy(target string) error {
	flags := uintptr(0)
	if o.Upper == "" {
		flags = unix.MS_RDONLY
	}
	data := o.data(o.Lower)
	if len(data) <= maxMountData {
		return unix.Mount("overlay", target, "overlay", flags, data)
	}
	absTarget, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	links, err := os.MkdirTemp(filepath.Dir(absTarget), ".lower-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(links)
	short := make([]string, len(o.Lower))
	for i, l := range o.Lower {
		short[i] = strconv.FormatInt(int64(i), 36)
		if err := os.Symlink(l, filepath.Join(links, short[i])); err != nil {
			return err
		}
	}
	data = o.data(short)
	if len(data) > maxMountData {
		return fmt.Errorf("%d layers: option string of %d bytes exceeds the kernel's %d", len(o.Lower), len(data), maxMountData)
	}
	// The cwd is process-wide; callers mount before starting other work.
	old, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := unix.Chdir(links); err != nil {
		return err
	}
	defer unix.Chdir(old)
	return unix.Mount("overlay", absTarget, "overlay", flags, data)
}

func (o Overlay) data(lower []string) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	b.WriteString(strings.Join(lower, ":"))
	if o.Upper != "" {
		b.WriteString(",upperdir=" + o.Upper + ",workdir=" + o.Work)
	}
	b.WriteString(",index=off")
	return b.String()
}

// Unmount detaches the overlay at target.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// dedupTopFirst keeps the first (topmost) occurrence of each directory.
func dedupTopFirst(dirs []string) []string {
	seen := make(map[string]bool, len(dirs))
	out := dirs[:0:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
