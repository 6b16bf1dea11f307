package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memfdName is the name of the sealed copy of the hull binary; init's
// /proc/<pid>/exe reads "/memfd:hull-runtime-init (deleted)".
const memfdName = "hull-runtime-init"

// minExeFd is the lowest fd number the executable's fd (memfd or
// overlay) is moved to, far above the fds the child gets (stdio, preserved
// fds, control fds), which os/exec would otherwise overwrite in the child
// before the execve.
const minExeFd = 256

// sealedExe copies /proc/self/exe into a memfd sealed against any change
// (F_SEAL_SEAL|SHRINK|GROW|WRITE) and returns it. Executing init from it
// means a container can never reach the host's hull binary through
// /proc/<pid>/exe of a runtime process (CVE-2019-5736): what it would open
// is a sealed, anonymous copy that cannot be written. It is the fallback
// of protectedExe, which avoids the copy where it can.
func sealedExe() (*os.File, error) { return sealedCopy("/proc/self/exe") }

// sealedCopy copies the file at path into a sealed memfd.
func sealedCopy(path string) (*os.File, error) {
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		// Kernels before 6.3 do not know MFD_EXEC (and create
		// executable memfds anyway).
		fd, err = unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:"+memfdName)
	ok := false
	defer func() {
		if !ok {
			mem.Close()
		}
	}()
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open own executable: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat own executable: %w", err)
	}
	if err := unix.Ftruncate(fd, fi.Size()); err != nil {
		return nil, fmt.Errorf("size memfd: %w", err)
	}
	for left := fi.Size(); left > 0; {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(left))
		if err != nil {
			return nil, fmt.Errorf("copy own executable to memfd: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("copy own executable to memfd: short copy, %d bytes left", left)
		}
		left -= int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	// Move it out of the way of the child's fd layout.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minExeFd)
	if err != nil {
		return nil, fmt.Errorf("move memfd: %w", err)
	}
	mem.Close()
	ok = true
	return os.NewFile(uintptr(high), "memfd:"+memfdName), nil
}
