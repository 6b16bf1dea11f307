//go:build linux && (386 || arm)

package initproc

import "syscall"

// The 32-bit ID versions (the plain ones take 16-bit IDs here).
const (
	sysSetgroups = syscall.SYS_SETGROUPS32
	sysSetgid    = syscall.SYS_SETGID32
	sysSetuid    = syscall.SYS_SETUID32
)
