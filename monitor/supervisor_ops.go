package monitor

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/runtime"
	"golang.org/x/sys/unix"
)

// kill sends sig to the container's init; it counts as a manual stop
// for the restart policy.
func (sv *supervisor) kill(sig syscall.Signal) error {
	if sig == 0 {
		sig = unix.SIGKILL
	}
	sv.markStopped()
	c := sv.container()
	if c == nil {
		return nil // between restarts: the stop above is enough
	}
	if st, _ := c.Status(); st == runtime.Paused {
		_ = c.Resume()
	}
	if err := c.Signal(sig, false); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
		return fmt.Errorf("cannot kill container %s: %w", container.ShortID(sv.id), err)
	}
	return nil
}

// signal sends sig to the container's init.
func (sv *supervisor) signal(sig syscall.Signal) {
	if c := sv.container(); c != nil {
		_ = c.Signal(sig, false)
	}
}

// container loads the runtime's view of the current run, nil between
// runs.
func (sv *supervisor) container() *runtime.Container {
	sv.mu.Lock()
	live := sv.live
	sv.mu.Unlock()
	if !live {
		return nil
	}
	c, err := sv.srv.cfg.Containers.Runtime().Load(sv.id)
	if err != nil {
		return nil
	}
	return c
}

// markStopped records a manual stop: no restart policy applies to the
// run it ends, and a pending restart is called off.
func (sv *supervisor) markStopped() {
	sv.mu.Lock()
	sv.manual = true
	sv.mu.Unlock()
	sv.stopOnce.Do(func() { close(sv.stopCh) })
}

// stop sends the stop signal, waits up to timeout seconds for the
// container to exit and then kills it.
func (sv *supervisor) stop(sig syscall.Signal, timeout *int) Response {
	rec, err := sv.srv.cfg.Containers.Read(sv.id)
	if err != nil {
		return Response{Error: err.Error(), ExitCode: 125}
	}
	if sig == 0 {
		sig = stopSignal(rec)
	}
	t := 10
	if rec.Config != nil && rec.Config.StopTimeout != nil {
		t = *rec.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	ch := sv.addWaiter()
	sv.markStopped()
	if err := sv.kill(sig); err != nil {
		sv.srv.log.Printf("stop %s: %v", rec.ShortID(), err)
	}
	var timer <-chan time.Time
	if t >= 0 {
		timer = time.After(time.Duration(t) * time.Second)
	}
	select {
	case res := <-ch:
		return res
	case <-timer:
	}
	_ = sv.kill(unix.SIGKILL)
	return <-ch
}

// stopSignal is the container's stop signal (SIGTERM by default).
func stopSignal(rec *container.Record) syscall.Signal {
	name := ""
	if rec.Config != nil {
		name = rec.Config.StopSignal
	}
	if name == "" {
		return unix.SIGTERM
	}
	sig, err := runtime.ParseSignal(name)
	if err != nil {
		return unix.SIGTERM
	}
	return sig
}

func (sv *supervisor) resize(h, w uint16) {
	sv.mu.Lock()
	m := sv.master
	sv.mu.Unlock()
	if m != nil && h > 0 && w > 0 {
		_ = unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
	}
}

func (sv *supervisor) writeStdin(p []byte) {
	sv.mu.Lock()
	in := sv.stdin
	sv.mu.Unlock()
	if in != nil {
		_, _ = in.Write(p)
	}
}

// stdinEOF is a client's input ending: with StdinOnce (run -i) the
// container's stdin is closed (a terminal gets ^D instead).
func (sv *supervisor) stdinEOF() {
	sv.mu.Lock()
	once, in, master := sv.stdinOnce, sv.stdin, sv.master
	if once && master == nil {
		sv.stdin = nil
	}
	sv.mu.Unlock()
	if !once || in == nil {
		return
	}
	if master != nil {
		_, _ = master.Write([]byte{4})
		return
	}
	in.Close()
}
