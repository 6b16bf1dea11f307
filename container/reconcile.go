package container

import (
	"os"
	"path/filepath"
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

// needsReconcile reports whether r may not tell the truth: it says the
// container runs, or it says created while the OCI runtime has state for
// it (a monitor killed in the middle of a start).
func (s *Store) needsReconcile(r *Record) bool {
	if r.State.Status.Alive() {
		return true
	}
	if r.State.Status != Created {
		return false
	}
	_, err := os.Stat(filepath.Join(s.rt.Root, r.ID))
	return err == nil
}

// reconcile re-reads the record of a container recorded as alive and,
// if no monitor supervises it, asks the OCI runtime whether its process
// still exists; if not, the container is recorded as exited with
// LostExitCode and its runtime state and mounts are cleaned up. A
// created container whose monitor died while starting it is recorded
// as running if it runs, else left created, cleaned up.
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
	if err != nil || !s.needsReconcile(r) || s.Monitored(id) {
		return r, err
	}
	if c, err := s.rt.Load(id); err == nil {
		if st, err := c.Status(); err == nil && (st == runtime.Running || st == runtime.Paused) {
			// Orphaned but alive: it still runs, whoever watches it.
			if r.State.Status != Created {
				return r, nil
			}
			return s.updateLocked(id, func(r *Record) error {
				r.State.Status = Running
				if st == runtime.Paused {
					r.State.Status = Paused
				}
				r.State.Pid = c.InitPid()
				r.State.StartedAt = time.Now().UTC()
				r.State.Error = ""
				return nil
			})
		}
		_ = c.Delete(true, nil)
	}
	_ = UnmountRootfs(s.Rootfs(id))
	if s.OnStopped != nil {
		s.OnStopped(id)
	}
	if r.State.Status == Created {
		return r, nil // it never ran
	}
	return s.updateLocked(id, func(r *Record) error {
		ClearRunNetwork(r)
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
