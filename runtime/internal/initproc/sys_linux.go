package initproc

import (
	"syscall"
	"unsafe"
)

// System calls and constants the package needs beyond the syscall
// package, which is frozen at an old kernel (no openat2, mount_setattr,
// close_range, and on some architectures no setns or seccomp). The
// constants below are the same on every architecture Go supports on
// Linux; the system call numbers that are not are in sysnum_linux_*.go.
// golang.org/x/sys/unix has all of them, but importing it would delay
// init (see the package documentation).
const (
	oPath = 0x200000 // O_PATH

	atFdcwd           = -0x64  // AT_FDCWD
	atEmptyPath       = 0x1000 // AT_EMPTY_PATH
	atSymlinkNofollow = 0x100  // AT_SYMLINK_NOFOLLOW
	atRecursive       = 0x8000 // AT_RECURSIVE
	atEaccess         = 0x200  // AT_EACCESS

	resolveNoMagiclinks = 0x02 // RESOLVE_NO_MAGICLINKS
	resolveInRoot       = 0x10 // RESOLVE_IN_ROOT

	msNosymfollow = 0x100     // MS_NOSYMFOLLOW
	msLazytime    = 0x2000000 // MS_LAZYTIME

	// statfs(2) f_flags.
	stRdonly     = 0x1
	stNosuid     = 0x2
	stNodev      = 0x4
	stNoexec     = 0x8
	stNoatime    = 0x400
	stNodiratime = 0x800
	stRelatime   = 0x1000

	cloneNewTime   = 0x80       // CLONE_NEWTIME
	cloneNewCgroup = 0x02000000 // CLONE_NEWCGROUP

	prSetKeepcaps          = 8
	prSetSeccomp           = 22
	prCapbsetDrop          = 24
	prSetNoNewPrivs        = 38
	prGetNoNewPrivs        = 39
	prCapAmbient           = 47
	prCapAmbientRaise      = 2
	prCapAmbientClearAll   = 4
	seccompSetModeFilter   = 1
	seccompModeFilter      = 2
	seccompFilterFlagTsync = 1

	closeRangeCloexec = 4 // CLOSE_RANGE_CLOEXEC

	capSetpcap = 8 // CAP_SETPCAP
	// linuxCapabilityVersion3 is _LINUX_CAPABILITY_VERSION_3: two 32-bit
	// words per set.
	linuxCapabilityVersion3 = 0x20080522

	ioprioWhoProcess = 1
)

// openHow is struct open_how of openat2(2).
type openHow struct {
	flags, mode, resolve uint64
}

// openat2 is openat2(2).
func openat2(dirfd int, path string, how *openHow) (int, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, errno := syscall.Syscall6(sysOpenat2, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(how)), unsafe.Sizeof(*how), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// mountAttr is struct mount_attr of mount_setattr(2).
type mountAttr struct {
	attrSet, attrClr, propagation, usernsFd uint64
}

// mountSetattr is mount_setattr(2).
func mountSetattr(dirfd int, path string, flags uint, attr *mountAttr) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall6(sysMountSetattr, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(flags), uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr), 0)
	return errnoErr(errno)
}

// setns is setns(2).
func setns(fd, nstype int) error {
	_, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), uintptr(nstype), 0)
	return errnoErr(errno)
}

// closeRange is close_range(2).
func closeRange(first, last uint, flags uint) error {
	_, _, errno := syscall.RawSyscall(sysCloseRange, uintptr(first), uintptr(last), uintptr(flags))
	return errnoErr(errno)
}

// prctl is prctl(2) for the options that return only success or failure.
func prctl(option int, arg2, arg3, arg4, arg5 uintptr) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, uintptr(option), arg2, arg3, arg4, arg5, 0)
	return errnoErr(errno)
}

// symlinkat is symlinkat(2).
func symlinkat(target string, dirfd int, name string) error {
	t, err := syscall.BytePtrFromString(target)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall(syscall.SYS_SYMLINKAT, uintptr(unsafe.Pointer(t)), uintptr(dirfd), uintptr(unsafe.Pointer(n)))
	return errnoErr(errno)
}

// readlinkat reads the target of the symlink name in dirfd (name "" with
// an O_PATH|O_NOFOLLOW fd of the link itself).
func readlinkat(dirfd int, name string) (string, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return "", err
	}
	buf := make([]byte, syscall.PathMax)
	n, _, errno := syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return "", errno
	}
	return string(buf[:n]), nil
}

// ioctl is ioctl(2) with a pointer or integer argument.
func ioctl(fd int, req uint, arg uintptr) (uintptr, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(req), arg)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// mkdev is makedev(3).
func mkdev(major, minor uint64) uint64 {
	return (major&0xfffff000)<<32 | (major&0x00000fff)<<8 | (minor&0xffffff00)<<12 | minor&0x000000ff
}

// errnoErr turns a zero errno into a nil error.
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
