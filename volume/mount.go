package volume

import (
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/mountflag"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// propagationOptions are the propagation options an "o" option may hold,
// applied by mountFS after the mount.
var propagationOptions = map[string]uintptr{
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
}

const (
	propagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE
	bindReadOnly     = unix.MS_BIND | unix.MS_RDONLY
)

// ParseMountOptions splits an "o" option ("size=64m,uid=1000,noexec") into
// mount(2) flags and the filesystem-specific data string.
func ParseMountOptions(o string) (flags uintptr, data string) {
	var rest []string
	for opt := range strings.SplitSeq(o, ",") {
		if opt == "" {
			continue
		}
		if flag, clear, ok := mountflag.Lookup(opt); ok {
			if clear {
				flags &^= flag
			} else {
				flags |= flag
			}
			continue
		}
		if flag, ok := propagationOptions[opt]; ok {
			flags |= flag
			continue
		}
		rest = append(rest, opt)
	}
	return flags, strings.Join(rest, ",")
}

// mountError describes a failed mount(2) like moby/sys/mount does.
func mountError(source, target string, flags uintptr, data string, err error) error {
	s := "mount "
	if source != "" {
		s += source + ":"
	}
	s += target
	if flags != 0 {
		s += ", flags: 0x" + strconv.FormatUint(uint64(flags), 16)
	}
	if data != "" {
		s += ", data: " + data
	}
	return fmt.Errorf("%s: %w", s, err)
}

// mountFS mounts device on target as `mount -t fstype -o o device target`
// does, including the extra calls that propagation flags and read-only
// bind mounts need.
func mountFS(device, target, fstype, o string) error {
	flags, data := ParseMountOptions(o)
	if fstype == "nfs" || fstype == "cifs" {
		// The kernel wants an IP address.
		data = resolveAddr(data)
	}
	base := flags &^ propagationFlags
	if base&unix.MS_REMOUNT == 0 || data != "" {
		if err := unix.Mount(device, target, fstype, base, data); err != nil {
			return mountError(device, target, base, data, err)
		}
	}
	if p := flags & (propagationFlags | unix.MS_REC | unix.MS_SILENT); flags&propagationFlags != 0 {
		if err := unix.Mount("", target, "", p, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return mountError("", target, p, "", err)
		}
	}
	if base&bindReadOnly == bindReadOnly {
		if err := unix.Mount("", target, "", base|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return mountError("", target, base|unix.MS_REMOUNT, "", err)
		}
	}
	return nil
}

// resolveAddr replaces a host name in an "addr=" mount option with its IP
// address, as Docker does for nfs and cifs.
func resolveAddr(data string) string {
	opts := strings.Split(data, ",")
	for i, opt := range opts {
		host, ok := strings.CutPrefix(opt, "addr=")
		if !ok || net.ParseIP(host) != nil {
			continue
		}
		if ip, err := net.ResolveIPAddr("ip", host); err == nil {
			opts[i] = "addr=" + ip.String()
		}
	}
	return strings.Join(opts, ",")
}

// maskPassword hides a "password=" option in an error message.
func maskPassword(err error, o string) error {
	for opt := range strings.SplitSeq(o, ",") {
		if pw, ok := strings.CutPrefix(opt, "password="); ok && pw != "" {
			return errors.New(strings.ReplaceAll(err.Error(), "password="+pw, "password=********"))
		}
	}
	return err
}

// mountCount returns the number of users of v's mount and whether its data
// directory is a mount point. The count file is only believed while the
// mount exists: after a reboot or a crash between mount(2) and the count
// update it reads 0.
func (s *Store) mountCount(v *Volume) (n int, mounted bool, err error) {
	mounted, err = isMounted(v.Mountpoint)
	if err != nil {
		return 0, false, err
	}
	if !mounted {
		return 0, false, nil
	}
	n, err = readCount(filepath.Join(s.volumeDir(v.Name), mountsFile))
	return n, true, err
}

func (s *Store) writeCount(name string, n int) error {
	path := filepath.Join(s.volumeDir(name), mountsFile)
	if n == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return atomicfile.WriteFile(path, []byte(strconv.Itoa(n)+"\n"), 0o600)
}

// Mount makes the volume name ready for a container and returns the
// directory to bind-mount into it (its Mountpoint). A volume with driver
// options has its filesystem mounted there by the first Mount; later ones
// share it and count users. Each Mount must be paired with an Unmount.
func (s *Store) Mount(name string) (string, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return "", err
	}
	defer unlock()
	m, err := s.readMeta(name)
	if err != nil {
		return "", &OpError{Op: "mount", Name: name, Err: err}
	}
	v := s.toVolume(m)
	if !v.needsMount() {
		return v.Mountpoint, nil
	}
	n, mounted, err := s.mountCount(v)
	if err != nil {
		return "", &OpError{Op: "mount", Name: name, Err: err}
	}
	if !mounted {
		o := v.Options["o"]
		if err := mountFS(v.Options["device"], v.Mountpoint, v.Options["type"], o); err != nil {
			return "", &OpError{Op: "mount", Name: name, Err: fmt.Errorf("failed to mount local volume: %w", maskPassword(err, o))}
		}
		n = 0
	}
	if err := s.writeCount(name, n+1); err != nil {
		if !mounted {
			_ = unmount(v.Mountpoint)
		}
		return "", &OpError{Op: "mount", Name: name, Err: err}
	}
	return v.Mountpoint, nil
}

// ephemeral reports whether a filesystem type keeps nothing once
// unmounted.
func ephemeral(fstype string) bool { return fstype == "tmpfs" || fstype == "ramfs" }

// Unmount releases a Mount of the volume name: the last user of a mounted
// volume unmounts it. For volumes without driver options it does nothing.
// A memory-backed volume (tmpfs) loses its content when unmounted, so it
// will be filled from an image again (see Fill).
func (s *Store) Unmount(name string) error {
	unlock, err := s.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.readMeta(name)
	if err != nil {
		return &OpError{Op: "unmount", Name: name, Err: err}
	}
	v := s.toVolume(m)
	if !v.needsMount() {
		return nil
	}
	n, mounted, err := s.mountCount(v)
	if err != nil {
		return &OpError{Op: "unmount", Name: name, Err: err}
	}
	if n > 1 {
		if err := s.writeCount(name, n-1); err != nil {
			return &OpError{Op: "unmount", Name: name, Err: err}
		}
		return nil
	}
	if mounted {
		if err := unmount(v.Mountpoint); err != nil {
			return &OpError{Op: "unmount", Name: name, Err: err}
		}
	}
	if err := s.writeCount(name, 0); err != nil {
		return &OpError{Op: "unmount", Name: name, Err: err}
	}
	if ephemeral(v.Options["type"]) && (m.Filled || m.FillStarted) {
		m.Filled, m.FillStarted = false, false
		if err := s.writeMeta(s.volumeDir(name), m); err != nil {
			return &OpError{Op: "unmount", Name: name, Err: err}
		}
	}
	return nil
}
