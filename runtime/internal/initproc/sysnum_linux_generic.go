//go:build linux && (arm64 || loong64 || riscv64)

package initproc

// System call numbers and ioctl requests of arm64, loong64, riscv64.
const (
	sysSetns        = 268
	sysSeccomp      = 277
	sysCloseRange   = 436
	sysOpenat2      = 437
	sysMountSetattr = 442

	tiocgptpeer = 0x5441 // TIOCGPTPEER
)
