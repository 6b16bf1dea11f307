package initproc

import (
	"io"
	"os"
	"syscall"
)

// mountTmpcopyup mounts a tmpfs on dst (an fd of the directory it
// covers) and copies the covered directory's contents into it (runc's
// "tmpcopyup" extension), making it read-only only after the copy.
func (r *rootfs) mountTmpcopyup(m *Mount, flags uintptr, dst int) error {
	under, err := syscall.Openat(dst, ".", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("tmpcopyup", err)
	}
	defer syscall.Close(under)
	if err := syscall.Mount(m.Source, fdPath(dst), "tmpfs", flags&^(syscall.MS_REMOUNT|syscall.MS_RDONLY), m.Data); err != nil {
		return err
	}
	top, err := openInRoot(r.fd, m.Destination, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return wrap("tmpcopyup", err)
	}
	defer syscall.Close(top)
	if err := copyTree(under, top); err != nil {
		return wrap("tmpcopyup", err)
	}
	if flags&syscall.MS_RDONLY != 0 {
		if err := syscall.Mount("", fdPath(top), "", syscall.MS_REMOUNT|flags&^syscall.MS_REMOUNT, m.Data); err != nil {
			return wrap("remount read-only", err)
		}
	}
	return r.finishMount(m.Destination, m, flags, false)
}

// copyTree copies the directory src into dst (both fds): directories,
// regular files, symlinks, fifos and device nodes, with their modes and
// owners.
func copyTree(src, dst int) error {
	dup, err := syscall.Dup(src)
	if err != nil {
		return err
	}
	syscall.CloseOnExec(dup)
	d := os.NewFile(uintptr(dup), "tmpcopyup-src")
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		st, err := lstatAt(src, name)
		if err != nil {
			return err
		}
		perm := st.Mode & 0o7777
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if err := syscall.Mkdirat(dst, name, perm); err != nil {
				return err
			}
			s, err := syscall.Openat(src, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t, err := syscall.Openat(dst, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
			if err != nil {
				syscall.Close(s)
				return err
			}
			err = copyTree(s, t)
			syscall.Close(t)
			syscall.Close(s)
			if err != nil {
				return err
			}
		case syscall.S_IFREG:
			if err := copyFileAt(src, dst, name, perm); err != nil {
				return err
			}
		case syscall.S_IFLNK:
			target, err := readlinkat(src, name)
			if err != nil {
				return err
			}
			if err := symlinkat(target, dst, name); err != nil {
				return err
			}
		default:
			if err := syscall.Mknodat(dst, name, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		}
		if err := syscall.Fchownat(dst, name, int(st.Uid), int(st.Gid), atSymlinkNofollow); err != nil {
			return err
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			if err := syscall.Fchmodat(dst, name, perm, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// lstatAt is fstatat(dir, name, AT_SYMLINK_NOFOLLOW), through an O_PATH
// fd (the syscall package has no portable fstatat).
func lstatAt(dir int, name string) (*syscall.Stat_t, error) {
	fd, err := syscall.Openat(dir, name, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// copyFileAt copies the regular file name from dir src to dir dst.
func copyFileAt(src, dst int, name string, perm uint32) error {
	in, err := syscall.Openat(src, name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	inf := os.NewFile(uintptr(in), name)
	defer inf.Close()
	out, err := syscall.Openat(dst, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
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
