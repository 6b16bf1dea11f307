package runtime

import (
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func mode(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the device nodes every container gets, as in runc.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
}

// devSymlinks are the symlinks made in /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "fd"},
	{"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"},
}

// setupDev creates the spec's and the default devices, /dev's standard
// symlinks and /dev/ptmx -> pts/ptmx.
func (r *rootfs) setupDev() error {
	devs := append([]specs.LinuxDevice{}, r.cfg.Spec.Linux.Devices...)
	have := map[string]bool{}
	for _, d := range devs {
		have[path.Clean(d.Path)] = true
	}
	for _, d := range defaultDevices {
		if !have[d.Path] {
			devs = append(devs, d)
		}
	}
	for _, d := range devs {
		if err := r.createDevice(d); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	dev, err := mkdirAllInRoot(r.fd, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	links := devSymlinks
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	if err := unix.Unlinkat(dev, "ptmx", 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	if err := unix.Symlinkat("pts/ptmx", dev, "ptmx"); err != nil {
		return fmt.Errorf("symlink /dev/ptmx: %w", err)
	}
	return nil
}

// createDevice makes one device node: mknod, or in a user namespace (where
// mknod is not allowed) a bind mount of the host's node.
func (r *rootfs) createDevice(d specs.LinuxDevice) error {
	if r.cfg.UserNS {
		dst, err := createInRoot(r.fd, d.Path)
		if err != nil {
			return err
		}
		defer unix.Close(dst)
		return unix.Mount(d.Path, fdPath(dst), "", unix.MS_BIND, "")
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	dir, err := mkdirAllInRoot(r.fd, path.Dir(path.Clean(d.Path)), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	base := path.Base(d.Path)
	// Replace whatever the rootfs has there (runc does too).
	if err := unix.Unlinkat(dir, base, 0); err != nil && err != unix.ENOENT {
		return err
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknodat(dir, base, typ|perm, int(dev)); err != nil {
		return err
	}
	f, err := unix.Openat(dir, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(f)
	// mknod applied the umask: set the mode exactly.
	if err := unix.Fchmodat(unix.AT_FDCWD, fdPath(f), perm, 0); err != nil {
		return err
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return unix.Fchownat(f, "", uid, gid, unix.AT_EMPTY_PATH)
}
