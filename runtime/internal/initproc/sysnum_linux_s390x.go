//go:build linux && s390x

package initproc

// System call numbers and ioctl requests of s390x.
const (
	sysSetns        = 339
	sysSeccomp      = 348
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x5441 // TIOCGPTPEER
)
