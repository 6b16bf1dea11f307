//go:build linux && 386

package initproc

// System call numbers and ioctl requests of 386.
const (
	sysSetns        = 346
	sysSeccomp      = 354
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x5441 // TIOCGPTPEER
)
