//go:build linux && amd64

package initproc

// System call numbers and ioctl requests of amd64.
const (
	sysSetns        = 308
	sysSeccomp      = 317
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x5441 // TIOCGPTPEER
)
