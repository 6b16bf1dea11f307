package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal parses a signal as runc kill takes it: a number, or a name
// with or without "SIG" in any case ("KILL", "sigterm", "SIGRTMIN+3").
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	// Real-time signals: SIGRTMIN+n and SIGRTMAX-n (glibc's SIGRTMIN is
	// 34, SIGRTMAX 64).
	const rtmin, rtmax = 34, 64
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"SIGRTMIN", rtmin, 1}, {"SIGRTMAX", rtmax, -1}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			if (rt.sign > 0 && rest[0] != '+') || (rt.sign < 0 && rest[0] != '-') {
				break
			}
			n, err := strconv.Atoi(rest[1:])
			if err != nil {
				break
			}
			off = n
		}
		sig := rt.base + rt.sign*off
		if sig >= rtmin && sig <= rtmax {
			return syscall.Signal(sig), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
