package cgroup

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalAll sends sig to every process of m's cgroup, as runc does: the
// cgroup is frozen first (when the host has a freezer), so that no process
// forks or moves between listing and signalling, then thawed. A cgroup that
// was already paused stays paused, unless sig is SIGKILL (frozen v1 tasks
// only die once thawed).
func signalAll(m Manager, sig syscall.Signal) error {
	prev, err := m.State()
	if err != nil {
		prev = ""
	}
	froze := prev == StateRunning && m.Freeze() == nil
	pids, err := m.Pids()
	if err != nil {
		if froze {
			_ = m.Thaw()
		}
		return err
	}
	var errs []error
	self := os.Getpid()
	for _, pid := range pids {
		if pid == self {
			continue
		}
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("cgroup: send signal %d to pid %d: %w", sig, pid, err))
		}
	}
	if froze || (prev == StatePaused && sig == syscall.SIGKILL) {
		if err := m.Thaw(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
