//go:build linux && arm

package initproc

// System call numbers and ioctl requests of arm.
const (
	sysSetns        = 375
	sysSeccomp      = 383
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x5441 // TIOCGPTPEER
)
