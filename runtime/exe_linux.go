package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Init (and the exec helper) is a re-exec of the hull binary that ends up
// inside the container's namespaces. A process in the container can reach
// the binary through /proc/<pid>/exe, open it with O_PATH while init runs
// and reopen it for writing once init has exec'd the container process:
// CVE-2019-5736, where runc's host binary was overwritten that way. So init
// is never exec'd from the host's binary itself but from one of:
//
//   - the binary seen through a private, read-only overlayfs mount
//     (overlayExe): no copy, about 0.1 ms; any write through it fails with
//     EROFS, and the mount cannot be made writable from the container
//     (it is not attached anywhere, and remounting needs CAP_SYS_ADMIN in
//     the host's namespaces). This is what runc 1.2 does first.
//   - a copy in a sealed memfd (sealedExe): 20 MB copied per start, about
//     5 ms; used where overlayfs or the new mount API is not available
//     (no CAP_SYS_ADMIN, kernels before 5.2, no overlay module, a binary on
//     a file system overlayfs will not stack on).

// protectedExe returns an fd of the hull binary, protected against
// CVE-2019-5736 as described above, numbered at least minExeFd, to exec
// init from (via fdPath). emptyDir is an existing directory the overlay
// may use as its second, bottom layer (only the binary is opened through
// the overlay, and the binary's directory is on top: what emptyDir holds
// does not matter); the container's state directory serves.
func protectedExe(emptyDir string) (*os.File, error) {
	if f, err := overlayExe(emptyDir); err == nil {
		return f, nil
	}
	return sealedExe()
}

// overlayExe opens the hull binary through a new overlayfs mount that has
// only lower layers, the binary's directory on top of emptyDir: such an
// overlay is read-only (it has no upper layer to write to), and its mount
// is made with MOUNT_ATTR_RDONLY and never attached to the file tree, so
// it lives exactly as long as an fd or a process's executable refers to
// it. The binary must be the very file this process runs (same inode,
// size and times), or an error is returned.
func overlayExe(emptyDir string) (*os.File, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return nil, fmt.Errorf("stat own executable: %w", err)
	}
	// Others must be able to read and execute it: init may start in a
	// user namespace where the binary's owner is not mapped (the memfd
	// copy is mode 0777).
	if self.Mode&unix.S_IFMT != unix.S_IFREG || self.Mode&0o005 != 0o005 {
		return nil, errors.New("own executable is not readable and executable by others")
	}
	path, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	if !filepath.IsAbs(path) || strings.HasSuffix(path, " (deleted)") {
		return nil, fmt.Errorf("own executable %q is not reachable by path", path)
	}
	dir, name := filepath.Split(path)
	const attrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	mnt, err := lowerOnlyOverlay(dir, emptyDir, attrs)
	if err != nil {
		// Overlayfs refuses layers that contain one another (ELOOP), as
		// a state directory below the binary's directory would. /dev
		// is a directory of its own file system on every system (its
		// nodes are visible in the overlay's root, but the mount is
		// nodev, and only the binary is ever opened through it).
		if mnt, err = lowerOnlyOverlay(dir, "/dev", attrs); err != nil {
			return nil, err
		}
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s through overlay: %w", name, err)
	}
	// The file at path may have been replaced since this process started
	// (an upgrade): init must be this very binary. Overlayfs reports its
	// own device number but the lower file's inode number, size and times.
	var st unix.Stat_t
	var sfs unix.Statfs_t
	switch {
	case unix.Fstat(fd, &st) != nil || unix.Fstatfs(fd, &sfs) != nil:
		err = errors.New("stat of the overlay's binary failed")
	case st.Ino != self.Ino || st.Size != self.Size || st.Mtim != self.Mtim || st.Ctim != self.Ctim:
		err = fmt.Errorf("%s is no longer the running executable", path)
	case sfs.Flags&unix.ST_RDONLY == 0:
		err = errors.New("overlay mount is not read-only")
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return moveExeFd(fd, "overlay:"+path)
}

// lowerOnlyOverlay makes a detached overlayfs mount of top over bottom,
// without an upper layer (so nothing can be written through it), with the
// given MOUNT_ATTR_* flags, and returns its fd.
func lowerOnlyOverlay(top, bottom string, attrs int) (int, error) {
	ctx, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(ctx)
	// Overlayfs with only lower layers needs two of them. top comes
	// first, so nothing in bottom can shadow a file of top.
	lower := escapeLowerDir(filepath.Clean(top)) + ":" + escapeLowerDir(filepath.Clean(bottom))
	if err := unix.FsconfigSetString(ctx, "lowerdir", lower); err != nil {
		return -1, fmt.Errorf("overlay lowerdir=%s: %w", lower, err)
	}
	// Not wanted, and it logs to dmesg when the layers are on different
	// file systems. Older kernels do not know it: ignore errors.
	_ = unix.FsconfigSetString(ctx, "xino", "off")
	if err := unix.FsconfigCreate(ctx); err != nil {
		return -1, fmt.Errorf("create overlay: %w", err)
	}
	mnt, err := unix.Fsmount(ctx, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay: %w", err)
	}
	return mnt, nil
}

// escapeLowerDir escapes the characters special in overlayfs's lowerdir
// option: ':' separates layers, '\' escapes.
func escapeLowerDir(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(p)
}

// moveExeFd moves fd to a number of at least minExeFd, out of the way of
// the child's fd layout (os/exec would overwrite a low fd with the
// child's stdio or extra files before the execve of fdPath(fd)).
func moveExeFd(fd int, name string) (*os.File, error) {
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minExeFd)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("move executable fd: %w", err)
	}
	return os.NewFile(uintptr(high), name), nil
}
