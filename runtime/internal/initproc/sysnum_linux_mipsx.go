//go:build linux && (mips || mipsle)

package initproc

// System call numbers and ioctl requests of mips, mipsle.
const (
	sysSetns        = 4344
	sysSeccomp      = 4352
	sysCloseRange   = 4436
	sysOpenat2      = 4437
	sysMountSetattr = 4442

	tiocgptpeer = 0x20005441 // TIOCGPTPEER
)
