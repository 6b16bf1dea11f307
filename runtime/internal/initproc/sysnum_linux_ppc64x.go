//go:build linux && (ppc64 || ppc64le)

package initproc

// System call numbers and ioctl requests of ppc64, ppc64le.
const (
	sysSetns        = 350
	sysSeccomp      = 358
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x20005441 // TIOCGPTPEER
)
