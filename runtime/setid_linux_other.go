//go:build linux && !386 && !arm

package runtime

import "golang.org/x/sys/unix"

const (
	sysSetgroups = unix.SYS_SETGROUPS
	sysSetgid    = unix.SYS_SETGID
	sysSetuid    = unix.SYS_SETUID
)
