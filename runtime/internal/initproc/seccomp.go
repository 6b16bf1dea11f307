package initproc

import (
	"errors"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// loadSeccomp installs the filter f (nil: none) on the calling, locked
// thread with seccomp(SECCOMP_SET_MODE_FILTER), falling back to
// prctl(PR_SET_SECCOMP) on kernels without seccomp(2), as
// github.com/hull-project/hull/seccomp's Filter.Load does (the parent
// compiled the filter with that package).
func loadSeccomp(f *Seccomp) error {
	if f == nil {
		return nil
	}
	if err := seccompLoad(f); err != nil {
		return wrap("load seccomp filter", err)
	}
	return nil
}

func seccompLoad(f *Seccomp) error {
	n := len(f.Program) / 8
	if n == 0 || n > 4096 || len(f.Program)%8 != 0 {
		return errors.New("loading seccomp filter: invalid program of " + strconv.Itoa(len(f.Program)) + " bytes")
	}
	prog := syscall.SockFprog{Len: uint16(n), Filter: (*syscall.SockFilter)(unsafe.Pointer(&f.Program[0]))}
	r, _, errno := syscall.Syscall(sysSeccomp, seccompSetModeFilter, uintptr(f.Flags), uintptr(unsafe.Pointer(&prog)))
	if errno == syscall.ENOSYS {
		if f.Flags != 0 {
			return errors.New("loading seccomp filter: seccomp(2) not available, so flags 0x" +
				strconv.FormatUint(f.Flags, 16) + " cannot be applied")
		}
		_, _, errno = syscall.Syscall6(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter, uintptr(unsafe.Pointer(&prog)), 0, 0, 0)
	}
	runtime.KeepAlive(f.Program)
	switch {
	case errno == syscall.EACCES:
		nnp, _, _ := syscall.RawSyscall6(syscall.SYS_PRCTL, prGetNoNewPrivs, 0, 0, 0, 0, 0)
		return wrap("loading seccomp filter", &suffixError{errno, " (no_new_privs is " + strconv.Itoa(int(nnp)) +
			" and the thread lacks CAP_SYS_ADMIN; set no_new_privs first)"})
	case errno != 0:
		return wrap("loading seccomp filter ("+strconv.Itoa(n)+" instructions, flags 0x"+strconv.FormatUint(f.Flags, 16)+")", errno)
	case r != 0 && f.Flags&seccompFilterFlagTsync != 0:
		// With TSYNC, a positive return is the id of a thread that could not
		// be synchronised (it runs a diverging filter).
		return errors.New("loading seccomp filter: thread " + strconv.Itoa(int(r)) + " cannot be synchronised (SECCOMP_FILTER_FLAG_TSYNC)")
	}
	return nil
}
