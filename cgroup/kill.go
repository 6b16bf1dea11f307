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
//
// A cgroup with no process (the usual case when a stopped container is
// deleted) is left alone: nothing in it can fork, and freezing is not
// free (with the v1 freezer, freezing and thawing take a millisecond or
// more each when no other cgroup is frozen: the kernel flips its
// freezer_active static key, patching code on every CPU).
func signalAll(m Manager, sig syscall.Signal) error {
	pids, err := m.Pids()
	if err != nil {
		return err
	}
	if !hasOthers(pids) {
		return nil
	}
	prev, err := m.State()
	if err != nil {
		prev = ""
	}
	froze := prev == StateRunning && m.Freeze() == nil
	pids, err = m.Pids()
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

// hasOthers reports whether pids has a process other than this one.
func hasOthers(pids []int) bool {
	self := os.Getpid()
	for _, pid := range pids {
		if pid != self {
			return true
		}
	}
	return false
}
