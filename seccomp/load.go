package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the filter for the calling thread with
// seccomp(SECCOMP_SET_MODE_FILTER, f.Flags, prog), falling back to
// prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) on kernels without
// seccomp(2) (possible only when f.Flags is 0).
//
// A seccomp filter belongs to the thread that installs it (and to the
// threads and processes it creates afterwards, and to the program it
// execve's), unless f.Flags has SECCOMP_FILTER_FLAG_TSYNC, which applies
// it to every thread of the process. Call Load with the goroutine locked to
// its OS thread (runtime.LockOSThread) and keep it locked until that thread
// execve's or exits, or the filter may end up on a thread other goroutines
// later run on while the intended code runs unfiltered.
//
// The kernel requires either no_new_privs
// (unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) or CAP_SYS_ADMIN in
// the thread's user namespace; Load sets neither and reports EACCES with a
// hint. A runtime therefore loads the filter after setting no_new_privs, or,
// when the container keeps privileges, before dropping CAP_SYS_ADMIN; in
// both cases as late as possible before execve, since the filter applies to
// the runtime's own remaining syscalls too. Once loaded, a filter cannot be
// removed.
func (f *Filter) Load() error {
	if f == nil {
		return errors.New("loading seccomp filter: nil filter")
	}
	if err := validate(f.Program); err != nil {
		return fmt.Errorf("loading seccomp filter: invalid program: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f.Flags), uintptr(unsafe.Pointer(&prog)))
	if errno == unix.ENOSYS {
		if f.Flags != 0 {
			return fmt.Errorf("loading seccomp filter: seccomp(2) not available, so flags %#x cannot be applied", f.Flags)
		}
		_, _, errno = unix.Syscall6(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0, 0)
	}
	runtime.KeepAlive(f.Program)
	switch {
	case errno == unix.EACCES:
		nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
		return fmt.Errorf("loading seccomp filter: %w (no_new_privs is %d and the thread lacks CAP_SYS_ADMIN; set no_new_privs first)", errno, nnp)
	case errno != 0:
		return fmt.Errorf("loading seccomp filter (%d instructions, flags %#x): %w", len(f.Program), f.Flags, errno)
	case r != 0 && f.Flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0:
		// With TSYNC, a positive return is the id of a thread that could not
		// be synchronised (it runs a diverging filter).
		return fmt.Errorf("loading seccomp filter: thread %d cannot be synchronised (SECCOMP_FILTER_FLAG_TSYNC)", r)
	}
	return nil
}
