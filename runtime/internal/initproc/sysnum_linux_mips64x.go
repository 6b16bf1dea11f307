//go:build linux && (mips64 || mips64le)

package initproc

// System call numbers and ioctl requests of mips64, mips64le.
const (
	sysSetns        = 5303
	sysSeccomp      = 5312
	sysCloseRange   = 5436
	sysOpenat2      = 5437
	sysMountSetattr = 5442

	tiocgptpeer = 0x20005441 // TIOCGPTPEER
)
