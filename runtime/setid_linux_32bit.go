//go:build linux && (386 || arm)

package runtime

import "golang.org/x/sys/unix"

// The 32-bit ID versions (the plain ones take 16-bit IDs here).
const (
	sysSetgroups = unix.SYS_SETGROUPS32
	sysSetgid    = unix.SYS_SETGID32
	sysSetuid    = unix.SYS_SETUID32
)
