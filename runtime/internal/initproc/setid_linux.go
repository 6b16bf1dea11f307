package initproc

import (
	"syscall"
	"unsafe"
)

// setThreadIDs sets the supplementary groups, the gid and the uid of the
// calling thread only, with raw system calls. syscall.Setuid and friends
// change every thread of the process instead: a stop-the-world and a
// signal round trip to each thread per call (glibc's setxid broadcast in a
// cgo binary), milliseconds in a container's init. Init does not need
// that: the credentials are per thread in Linux, and it is this thread
// (locked to its goroutine) that execve's the container process, which
// takes the credentials of the thread calling execve. runc does the same.
func setThreadIDs(uid, gid uint32, groups []uint32) error {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := syscall.RawSyscall(sysSetgroups, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return &opError{"setgroups", e}
	}
	if _, _, e := syscall.RawSyscall(sysSetgid, uintptr(gid), 0, 0); e != 0 {
		return &opError{"setgid", e}
	}
	if _, _, e := syscall.RawSyscall(sysSetuid, uintptr(uid), 0, 0); e != 0 {
		return &opError{"setuid", e}
	}
	return nil
}

// opError is a failed system call of setThreadIDs.
type opError struct {
	op  string
	err syscall.Errno
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
