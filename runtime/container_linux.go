package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hull-project/hull/cgroup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup returns the manager of the container's existing cgroup, or nil
// if it is gone.
func (c *Container) cgroup() (cgroup.Manager, error) {
	if c.cg != nil {
		if !cgroup.Exists(c.cg) {
			return nil, nil
		}
		return c.cg, nil
	}
	m, err := cgroup.Load(c.rec.CgroupPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil {
		c.cg = m
	}
	return m, err
}

// frozen reports whether the container's cgroup is frozen.
func (c *Container) frozen() (bool, error) {
	m, err := c.cgroup()
	if err != nil || m == nil {
		return false, err
	}
	st, err := m.State()
	if err != nil {
		return false, err
	}
	return st == cgroup.StatePaused, nil
}

// Start releases a created container's init to execve the container
// process, then runs the poststart hooks. A failing poststart hook is
// reported through warn (the OCI spec says to log a warning and go on).
func (c *Container) Start(warn func(string)) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.Status()
	if err != nil {
		return err
	}
	switch st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return errors.New("cannot start an already running container")
	}
	fifo := filepath.Join(c.dir, fifoFile)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	if err := c.awaitFifo(fd); err != nil {
		return err
	}
	if err := os.Remove(fifo); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	state := hookState(c.id, Running, c.rec.InitPid, c.rec.Bundle, c.rec.Config)
	if err := runHooks("poststart", hooksOf(c.rec.Config).Poststart, state); err != nil && warn != nil {
		warn(err.Error())
	}
	return nil
}

// awaitFifo waits for init's byte on the exec FIFO, failing if init dies
// first.
func (c *Container) awaitFifo(fd int) error {
	buf := make([]byte, 1)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait on exec fifo: %w", err)
		}
		if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
			if m, err := unix.Read(fd, buf); err == nil && m == 1 {
				return nil
			}
		}
		if !c.initAlive() {
			return errors.New("container init exited before the container could start")
		}
	}
}

// Signal sends sig to the container's init process, or with all to every
// process of its cgroup.
func (c *Container) Signal(sig syscall.Signal, all bool) error {
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st == Stopped {
		return ErrNotRunning
	}
	if all {
		m, err := c.cgroup()
		if err != nil {
			return err
		}
		if m != nil {
			return m.Kill(sig)
		}
	}
	if err := unix.Kill(c.rec.InitPid, sig); err != nil {
		if err == unix.ESRCH {
			return ErrNotRunning
		}
		return fmt.Errorf("signal init: %w", err)
	}
	return nil
}

// Delete removes a stopped container (also a created one, whose init is
// killed): its remaining processes, its cgroup and its state. A running or
// paused container is refused unless force, which kills it first. The
// poststop hooks run last; their failure goes to warn.
func (c *Container) Delete(force bool, warn func(string)) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.Status()
	if err != nil {
		return err
	}
	switch st {
	case Stopped, Created:
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.id, st)
		}
	}
	return c.destroy(st, warn)
}

// destroy kills what is left of the container, removes its cgroup and
// state directory and runs the poststop hooks.
func (c *Container) destroy(st Status, warn func(string)) error {
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if st != Stopped && c.initAlive() {
		_ = unix.Kill(c.rec.InitPid, unix.SIGKILL)
	}
	if m != nil {
		// Without a pid namespace, processes may outlive init. Usually
		// none is left: no need to kill (and freeze) anything then.
		if pids, err := m.Pids(); err != nil || len(pids) > 0 {
			if err := m.Kill(unix.SIGKILL); err != nil {
				return err
			}
			if err := waitCgroupEmpty(m, 10*time.Second); err != nil {
				return err
			}
		}
	}
	if err := c.waitInitGone(10 * time.Second); err != nil {
		return err
	}
	if m != nil {
		if err := m.Destroy(); err != nil {
			return err
		}
	}
	if c.rec.HostMounts {
		if err := unmountUnder(c.rec.Rootfs); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state directory: %w", err)
	}
	state := hookState(c.id, Stopped, 0, c.rec.Bundle, c.rec.Config)
	if err := runHooks("poststop", hooksOf(c.rec.Config).Poststop, state); err != nil && warn != nil {
		warn(err.Error())
	}
	return nil
}

// waitInitGone waits until init is dead (a zombie counts: its parent, not
// hull, reaps it).
func (c *Container) waitInitGone(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for c.initAlive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("container init (pid %d) did not die", c.rec.InitPid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// Pause freezes every process of the container.
func (c *Container) Pause() error {
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st != Running && st != Created {
		return ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("the container has no cgroup")
	}
	return m.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st != Paused {
		return errors.New("container not paused")
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	return m.Thaw()
}

// Processes lists the pids of every process in the container's cgroup.
func (c *Container) Processes() ([]int, error) {
	m, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	return m.Pids()
}

// Wait waits for the init process of a container this process created
// and returns the container process's exit status, 128+signal if a signal
// killed it.
func (c *Container) Wait() (int, error) {
	if c.cmd == nil {
		return -1, errors.New("wait: the container was not created by this process")
	}
	return waitStatus(c.cmd)
}

// Update changes the resource limits of a running (or created or paused)
// container: the fields set in r are written to its cgroup and merged into
// the saved config; the others stay as they are.
func (c *Container) Update(r *specs.LinuxResources) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st == Stopped {
		return ErrNotRunning
	}
	m, err := c.cgroup()
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("the container has no cgroup")
	}
	if err := m.Set(r); err != nil {
		return err
	}
	s := c.rec.Config
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	merged, err := mergeResources(s.Linux.Resources, r)
	if err != nil {
		return err
	}
	s.Linux.Resources = merged
	return c.save()
}

// mergeResources returns old with every field set in upd replaced (a JSON
// deep merge: objects merge, everything else is replaced).
func mergeResources(old, upd *specs.LinuxResources) (*specs.LinuxResources, error) {
	toMap := func(r *specs.LinuxResources) (map[string]any, error) {
		m := map[string]any{}
		if r == nil {
			return m, nil
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		return m, json.Unmarshal(b, &m)
	}
	a, err := toMap(old)
	if err != nil {
		return nil, err
	}
	b, err := toMap(upd)
	if err != nil {
		return nil, err
	}
	var merge func(dst, src map[string]any)
	merge = func(dst, src map[string]any) {
		for k, v := range src {
			sv, ok1 := v.(map[string]any)
			dv, ok2 := dst[k].(map[string]any)
			if ok1 && ok2 {
				merge(dv, sv)
				continue
			}
			dst[k] = v
		}
	}
	merge(a, b)
	out, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	var r specs.LinuxResources
	return &r, json.Unmarshal(out, &r)
}
