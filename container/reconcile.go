package container

import (
	"time"

	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/runtime"
)

// LostExitCode is the exit code recorded for a container that stopped
// while no monitor watched it (the monitor was killed, or the host
// rebooted), so its real exit code is unknown. Docker reports 255 in the
// same situation.
const LostExitCode = 255

// Monitored reports whether a monitor holds the container's monitor lock.
func (s *Store) Monitored(id string) bool {
	held, err := flock.Held(s.MonitorLockPath(id))
	return err == nil && held
}

// reconcile re-reads the record of a container recorded as alive and,
// if no monitor supervises it, asks the OCI runtime whether its process
// still exists; if not, the container is recorded as exited with
// LostExitCode and its runtime state and mounts are cleaned up.
func (s *Store) reconcile(id string) (*Record, error) {
	if s.Monitored(id) {
		return s.read(id)
	}
	l, err := s.Lock(id)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	r, err := s.read(id)
	if err != nil || !r.State.Status.Alive() || s.Monitored(id) {
		return r, err
	}
	if c, err := s.rt.Load(id); err == nil {
		if st, err := c.Status(); err == nil && (st == runtime.Running || st == runtime.Paused) {
			// Orphaned but alive: it still runs, whoever watches it.
			return r, nil
		}
		_ = c.Delete(true, nil)
	}
	_ = UnmountRootfs(s.Rootfs(id))
	return s.updateLocked(id, func(r *Record) error {
		r.State.Status = Exited
		r.State.Pid = 0
		r.State.ExitCode = LostExitCode
		r.State.FinishedAt = time.Now().UTC()
		if r.State.Error == "" {
			r.State.Error = "the container stopped while no hull monitor watched it; its exit code is unknown"
		}
		return nil
	})
}
