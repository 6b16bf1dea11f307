package snapshot

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBreakout is wrapped by extraction errors for entries whose name or hard
// link target would lie outside the layer root.
var ErrBreakout = errors.New("path escapes the layer root")

// ErrSymlinkParent is wrapped by extraction errors for entries whose parent
// directory (or hard link target's parent) is, or goes through, a symlink.
// Symlinks are never followed while extracting.
var ErrSymlinkParent = errors.New("path goes through a symlink")

// noOpenat2 is set once openat2(2) turned out to be unavailable (old kernel
// or a seccomp filter); directory lookups then walk one component at a time.
var noOpenat2 atomic.Bool

// cleanPath turns a tar entry name (or hard link target) into a clean path
// relative to the layer root: leading slashes and "." components go, ".."
// components are resolved lexically and must not climb above the root. The
// root itself is "".
func cleanPath(name string) (string, error) {
	if len(name) > maxNameLen {
		return "", fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name contains a NUL byte")
	}
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", ErrBreakout
	}
	if p == "." || p == "/" {
		return "", nil
	}
	return p, nil
}

// splitPath splits a clean relative path into its parent ("" for the root)
// and last component.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// openDir opens the directory rel (clean, relative to the root fd) as an
// O_PATH descriptor without following any symlink on the way; with create,
// missing directories are made (mode 0755). A symlink component yields an
// error wrapping ErrSymlinkParent.
func openDir(root int, rel string, create bool) (int, error) {
	if rel == "" {
		return openRetry(root, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	}
	if !noOpenat2.Load() {
		how := unix.OpenHow{
			// No O_NOFOLLOW: a trailing symlink must fail with ELOOP too.
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		fd, err := unix.Openat2(root, rel, &how)
		for i := 0; i < 16 && (err == unix.EINTR || err == unix.EAGAIN); i++ {
			fd, err = unix.Openat2(root, rel, &how)
		}
		switch {
		case err == nil:
			return fd, nil
		case err == unix.ENOSYS || err == unix.EPERM:
			noOpenat2.Store(true) // old kernel or seccomp
		case err == unix.ENOENT && create, err == unix.EINTR, err == unix.EAGAIN:
		default:
			return -1, dirError(rel, err)
		}
	}
	return walkDir(root, rel, create)
}

// walkDir is openDir one component at a time with O_NOFOLLOW.
func walkDir(root int, rel string, create bool) (int, error) {
	fd, err := openRetry(root, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return -1, err
	}
	for rest := rel; rest != ""; {
		c := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			c, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		nfd, err := stepDir(fd, c, create)
		unix.Close(fd)
		if err != nil {
			return -1, dirError(rel, err)
		}
		fd = nfd
	}
	return fd, nil
}

// stepDir opens the directory c inside dirfd, never following a symlink.
func stepDir(dirfd int, c string, create bool) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := openRetry(dirfd, c, flags)
	if err == unix.ENOENT && create {
		if err := unix.Mkdirat(dirfd, c, 0o755); err == nil {
			// mkdir honours the umask; implicit parents are always 0755.
			if err := chmodAt(dirfd, c, 0o755); err != nil {
				return -1, err
			}
		} else if err != unix.EEXIST {
			return -1, err
		}
		fd, err = openRetry(dirfd, c, flags)
	}
	if err == unix.ENOTDIR || err == unix.ELOOP {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			err = unix.ELOOP
		}
	}
	return fd, err
}

// dirError describes a failed lookup of the directory rel.
func dirError(rel string, err error) error {
	switch err {
	case unix.ELOOP:
		return fmt.Errorf("directory %q: %w", rel, ErrSymlinkParent)
	case unix.EXDEV:
		return fmt.Errorf("directory %q: %w", rel, ErrBreakout)
	case unix.ENOTDIR:
		return fmt.Errorf("directory %q: a path component is not a directory", rel)
	}
	return fmt.Errorf("directory %q: %w", rel, err)
}

// openRetry is openat(2) retried on EINTR.
func openRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// chmodAt changes the mode of name in dirfd without following a symlink
// where the kernel can (fchmodat2); otherwise name was just created by us
// and is known not to be a symlink.
func chmodAt(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		err = unix.Fchmodat(dirfd, name, mode, 0)
	}
	return err
}

// removeAt removes name (recursively if it is a directory) from dirfd
// without following symlinks.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, oerr := openRetry(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if oerr == unix.ENOTDIR || oerr == unix.ELOOP {
		return err
	} else if oerr != nil {
		return oerr
	}
	// Unprivileged callers need write and search permission to empty it.
	_ = unix.Fchmod(fd, 0o700)
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if err := removeAt(fd, n); err != nil {
				return err
			}
		}
		if err != nil || len(names) == 0 {
			break
		}
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// removeAll is os.RemoveAll that also copes with read-only directories
// (unextractable as non-root otherwise) by making them writable first.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// setXattrs applies the SCHILY.xattr.* PAX records of an entry with set.
// Overlayfs' own attributes are never taken from a layer (they would let a
// layer forge opaque dirs or redirects); unsupported or forbidden attributes
// and SELinux labels are skipped as Docker does.
func setXattrs(records map[string]string, set func(name string, value []byte) error) error {
	for k, v := range records {
		name, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		if err := set(name, []byte(v)); err != nil {
			if err == unix.ENOTSUP || err == unix.EPERM || name == "security.selinux" {
				continue
			}
			return fmt.Errorf("set xattr %q: %w", name, err)
		}
	}
	return nil
}

// procPath names base inside the directory open as dirfd, for the few calls
// (lsetxattr) that have no *at variant.
func procPath(dirfd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + base
}

// copyContent copies size bytes of r to fd through buf, reading whole
// buffers so writes are large whatever the reader returns.
func copyContent(fd int, r io.Reader, size int64, buf []byte) (int64, error) {
	var done int64
	for done < size {
		want := int64(len(buf))
		if size-done < want {
			want = size - done
		}
		n, err := io.ReadFull(r, buf[:want])
		if n > 0 {
			if werr := writeAll(fd, buf[:n]); werr != nil {
				return done, fmt.Errorf("write file: %w", werr)
			}
			done += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return done, io.ErrUnexpectedEOF
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// writeAll writes b to fd, continuing after short writes.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// mode is the permission part of hdr's mode, with setuid, setgid and sticky.
func mode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o7777
}

// times is hdr's access and modification time; a missing atime is mtime.
func times(hdr *tar.Header) [2]unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return [2]unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// setTimes sets hdr's times on base in pfd, not following a symlink.
func setTimes(pfd int, base string, hdr *tar.Header) error {
	ts := times(hdr)
	if err := unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
