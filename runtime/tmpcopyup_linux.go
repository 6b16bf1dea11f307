package runtime

import (
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountTmpcopyup mounts a tmpfs on dst (an fd of the directory it
// covers) and copies the covered directory's contents into it (runc's
// "tmpcopyup" extension), making it read-only only after the copy.
func (r *rootfs) mountTmpcopyup(m specs.Mount, o *mountOpts, dst int) error {
	under, err := unix.Openat(dst, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	defer unix.Close(under)
	flags := o.flags &^ (unix.MS_REMOUNT | unix.MS_RDONLY)
	if err := unix.Mount(m.Source, fdPath(dst), "tmpfs", flags, o.dataString()); err != nil {
		return err
	}
	top, err := openInRoot(r.fd, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	defer unix.Close(top)
	if err := copyTree(under, top); err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	if o.flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", fdPath(top), "", unix.MS_REMOUNT|o.flags&^unix.MS_REMOUNT, o.dataString()); err != nil {
			return fmt.Errorf("remount read-only: %w", err)
		}
	}
	return r.finishMount(m.Destination, o, false)
}

// copyTree copies the directory src into dst (both fds): directories,
// regular files, symlinks, fifos and device nodes, with their modes and
// owners.
func copyTree(src, dst int) error {
	dup, err := unix.Dup(src)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), "tmpcopyup-src")
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdirat(dst, name, perm); err != nil {
				return err
			}
			s, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(s)
				return err
			}
			err = copyTree(s, t)
			unix.Close(t)
			unix.Close(s)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFileAt(src, dst, name, perm); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := readlinkAt(src, name)
			if err != nil {
				return err
			}
			if err := unix.Symlinkat(target, dst, name); err != nil {
				return err
			}
		default:
			if err := unix.Mknodat(dst, name, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		}
		if err := unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := unix.Fchmodat(dst, name, perm, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyFileAt copies the regular file name from dir src to dir dst.
func copyFileAt(src, dst int, name string, perm uint32) error {
	in, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	inf := os.NewFile(uintptr(in), name)
	defer inf.Close()
	out, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	outf := os.NewFile(uintptr(out), name)
	_, err = io.Copy(outf, inf)
	if cerr := outf.Close(); err == nil {
		err = cerr
	}
	return err
}

// readlinkAt reads the symlink name in dir.
func readlinkAt(dir int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
