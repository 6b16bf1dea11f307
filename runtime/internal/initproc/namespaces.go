package initproc

import (
	"os"
	"syscall"
)

// joinMountNS moves the calling thread into the mount namespace fd. A
// multi-threaded process may not setns(CLONE_NEWNS) while its threads share
// one fs_struct (the Go runtime's do), but a thread that unshared its
// fs_struct may: the thread then has the namespace's root as its root and
// cwd, and what it forks and execve's lives there. Init runs all its work
// on its locked main thread, so that is enough.
func joinMountNS(fd int) error {
	if err := syscall.Unshare(syscall.CLONE_FS); err != nil {
		return wrap("unshare fs", err)
	}
	if err := setns(fd, syscall.CLONE_NEWNS); err != nil {
		return wrap("join mount namespace", err)
	}
	syscall.Close(fd)
	return nil
}

// unshareTime makes a new time namespace for the processes init execve's
// or starts, with the clock offsets (the lines of
// /proc/self/timens_offsets). It must run on the thread group leader.
func unshareTime(offsets string) error {
	if err := syscall.Unshare(cloneNewTime); err != nil {
		return wrap("unshare time namespace", err)
	}
	if offsets == "" {
		return nil
	}
	f, err := os.OpenFile("/proc/self/timens_offsets", os.O_WRONLY, 0)
	if err != nil {
		return wrap("set time offsets", err)
	}
	defer f.Close()
	if _, err := f.WriteString(offsets); err != nil {
		return wrap("set time offsets", err)
	}
	return nil
}
