//go:build linux && !386 && !arm

package initproc

import "syscall"

const (
	sysSetgroups = syscall.SYS_SETGROUPS
	sysSetgid    = syscall.SYS_SETGID
	sysSetuid    = syscall.SYS_SETUID
)
