package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/logs"
	"github.com/hull-project/hull/runtime"
	mobycontainer "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// supervisor watches one container through its runs (restarts included).
type supervisor struct {
	srv *Server
	id  string

	mu      sync.Mutex
	clients map[*client]struct{}
	waiters []chan Response
	// live says a run is in progress; pidNum is its init's pid and
	// cgroupsPath its cgroup. The runtime's Container (with the whole
	// spec) is not kept: it is loaded again when needed, which keeps the
	// monitor's memory per container small.
	live        bool
	pidNum      int
	cgroupsPath string
	// stdin is the write end of the container's stdin pipe, or the pty
	// master; master is the pty master of a terminal container.
	stdin, master *os.File
	stdinOnce     bool
	log           *logs.Writer
	// outputs counts the current run's output pumps (a WaitGroup per
	// run: a previous run's may still be waited for); pumped counts the
	// chunks they moved, to tell a slow client from a stuck one.
	outputs  *sync.WaitGroup
	pumped   atomic.Int64
	manual   bool
	stopCh   chan struct{}
	stopOnce sync.Once
	monLock  *flock.Lock
	health   *healthChecker
	// net is the current run's network (nil without one).
	net      *netRun
	lastExit Response
	// ending is set from the end of a run until the supervisor either
	// restarts the container or is dropped; ended once it told its
	// waiters and clients the final exit (later ones get lastExit at
	// once instead of waiting forever).
	ending, ended bool
}

func newSupervisor(s *Server, id string) *supervisor {
	return &supervisor{srv: s, id: id, clients: map[*client]struct{}{}, stopCh: make(chan struct{})}
}

func (sv *supervisor) pid() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.pidNum
}

// start is a manual start: it takes the container's monitor lock,
// launches the first run and leaves a goroutine watching it.
func (sv *supervisor) start() (int, error) {
	store := sv.srv.cfg.Containers
	lock, err := flock.TryExclusive(store.MonitorLockPath(sv.id))
	if err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return 125, fmt.Errorf("container %s is being started or watched by another hull monitor", container.ShortID(sv.id))
		}
		return 125, err
	}
	sv.monLock = lock
	if code, err := sv.launch(true); err != nil {
		lock.Unlock()
		return code, err
	}
	go sv.loop()
	return 0, nil
}

// orphanError is launch's error for a container that still runs without
// a monitor (its monitor was killed): it cannot be watched or attached,
// but it runs, so a plain start is a no-op.
type orphanError struct {
	id  string
	pid int
}

func (e *orphanError) Error() string {
	return fmt.Sprintf("container %s is running without a monitor (its monitor was killed): stop it first", container.ShortID(e.id))
}

// launch prepares and starts one run of the container.
func (sv *supervisor) launch(manualStart bool) (code int, err error) {
	store := sv.srv.cfg.Containers
	cl, err := store.Lock(sv.id)
	if err != nil {
		return 125, err
	}
	defer cl.Unlock()
	rec, err := store.Read(sv.id)
	if err != nil {
		return 125, err
	}
	if c, err := store.Runtime().Load(sv.id); err == nil {
		if st, _ := c.Status(); st == runtime.Running || st == runtime.Paused {
			return 125, &orphanError{id: sv.id, pid: c.InitPid()}
		}
		_ = c.Delete(true, nil)
	}
	var nr *netRun
	defer func() {
		if err != nil {
			sv.srv.releaseNetwork(nr, sv.id)
			sv.srv.unprepare(rec)
			_, _ = store.UpdateLocked(sv.id, func(r *container.Record) error {
				// Docker leaves a container that never ran "created".
				r.State.Status = container.Exited
				if r.State.StartedAt.IsZero() {
					r.State.Status = container.Created
				}
				r.State.Error = err.Error()
				r.State.ExitCode = code
				r.State.Pid = 0
				return nil
			})
		}
	}()
	if nr, err = sv.srv.allocateNetwork(rec); err != nil {
		return 125, err
	}
	if err := sv.srv.prepare(rec, nr); err != nil {
		return 125, err
	}
	lw, err := logs.Create(store.LogPath(sv.id), logs.Options{})
	if err != nil {
		return 125, err
	}
	io, err := newStdio(rec.Config.Tty, rec.Config.OpenStdin)
	if err != nil {
		lw.Close()
		return 125, err
	}
	c, err := store.Runtime().Create(sv.id, runtime.CreateOptions{
		Bundle: store.Dir(sv.id),
		Stdin:  io.childIn, Stdout: io.childOut, Stderr: io.childErr,
		Console: io.console,
	})
	io.closeChild()
	if err != nil {
		io.closeParent()
		lw.Close()
		return runtime.StartExitCode(err), err
	}
	if io.consoleLocal != nil {
		m, err := runtime.RecvFd(io.consoleLocal)
		io.consoleLocal.Close()
		if err != nil {
			_ = c.Delete(true, nil)
			io.closeParent()
			lw.Close()
			return 125, fmt.Errorf("receive the container's terminal: %w", err)
		}
		io.master = m
		if h, w := rec.HostConfig.ConsoleSize[0], rec.HostConfig.ConsoleSize[1]; h > 0 && w > 0 {
			_ = unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
		}
	}
	sv.mu.Lock()
	sv.live, sv.log = true, lw
	sv.cgroupsPath = c.Config().Linux.CgroupsPath
	sv.stdinOnce = rec.Config.StdinOnce
	sv.master = io.master
	if io.master != nil {
		sv.stdin = io.master
	} else {
		sv.stdin = io.parentIn
	}
	sv.outputs = new(sync.WaitGroup)
	sv.mu.Unlock()
	if io.master != nil {
		sv.pump(io.master, FrameStdout, lw.Stream("stdout"))
	} else {
		sv.pump(io.parentOut, FrameStdout, lw.Stream("stdout"))
		sv.pump(io.parentErr, FrameStderr, lw.Stream("stderr"))
	}
	if err := sv.srv.wireNetwork(nr, rec, c.InitPid()); err != nil {
		_ = c.Delete(true, nil)
		sv.closeStdin()
		sv.waitOutputs()
		lw.Close()
		return 125, err
	}
	if err := c.Start(nil); err != nil {
		_ = c.Delete(true, nil)
		sv.closeStdin()
		sv.waitOutputs()
		lw.Close()
		return runtime.StartExitCode(err), err
	}
	now := time.Now().UTC()
	pid := c.InitPid()
	sv.mu.Lock()
	sv.pidNum = pid
	sv.net = nr
	sv.mu.Unlock()
	_, err = store.UpdateLocked(sv.id, func(r *container.Record) error {
		recordNetwork(r, nr)
		r.State = container.State{
			Status:    container.Running,
			Pid:       pid,
			StartedAt: now,
			Health:    r.State.Health,
		}
		if manualStart {
			r.RestartCount = 0
		}
		if hc := healthConfig(r); hc != nil {
			r.State.Health = &mobycontainer.Health{Status: mobycontainer.Starting}
		}
		return nil
	})
	if err != nil {
		_ = c.Signal(unix.SIGKILL, true)
		return 125, err
	}
	sv.health = startHealth(sv, rec)
	return 0, nil
}

// pump copies one output stream of the container into its log and to
// the attached clients, until the stream ends.
func (sv *supervisor) pump(r *os.File, typ byte, logw io.WriteCloser) {
	wg := sv.outputs
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer logw.Close()
		defer r.Close()
		buf := make([]byte, 8<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_, _ = logw.Write(buf[:n])
				sv.broadcast(typ, buf[:n])
				sv.pumped.Add(1)
			}
			if err != nil {
				return
			}
		}
	}()
}

// loop waits for each run to end, records it and restarts the container
// as its restart policy says, until it stops for good.
func (sv *supervisor) loop() {
	store := sv.srv.cfg.Containers
	backoff := 100 * time.Millisecond
	var res Response
	for {
		started := time.Now()
		res = sv.finish()
		rec, err := store.Read(sv.id)
		if err != nil {
			break
		}
		if !sv.shouldRestart(rec, res.ExitCode) {
			break
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		_, _ = store.Update(sv.id, func(r *container.Record) error {
			r.State.Status = container.Restarting
			r.RestartCount++
			return nil
		})
		sv.setEnding(false)
		sv.notifyExit(res, false)
		select {
		case <-time.After(backoff):
		case <-sv.stopCh:
		}
		if backoff < time.Minute {
			backoff *= 2
		}
		if sv.stopped() {
			_, _ = store.Update(sv.id, func(r *container.Record) error {
				r.State.Status = container.Exited
				return nil
			})
			break
		}
		for {
			code, err := sv.launch(false)
			if err == nil {
				break
			}
			sv.srv.log.Printf("restart %s: %v", container.ShortID(sv.id), err)
			res = Response{ExitCode: code, Error: err.Error()}
			rec, rerr := store.Read(sv.id)
			if rerr != nil || !sv.shouldRestart(rec, code) {
				goto done
			}
			select {
			case <-time.After(backoff):
			case <-sv.stopCh:
			}
			if backoff < time.Minute {
				backoff *= 2
			}
			if sv.stopped() {
				goto done
			}
		}
	}
done:
	if rec, err := store.Read(sv.id); err == nil && rec.HostConfig != nil && rec.HostConfig.AutoRemove {
		if err := sv.srv.remove(rec); err != nil {
			sv.srv.log.Printf("remove %s: %v", rec.ShortID(), err)
		}
	}
	sv.monLock.Unlock()
	sv.srv.drop(sv)
	sv.notifyExit(res, true)
}

func (sv *supervisor) stopped() bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.manual
}

// shouldRestart applies the restart policy to a run that ended with code.
func (sv *supervisor) shouldRestart(rec *container.Record, code int) bool {
	if sv.stopped() || rec.HostConfig == nil {
		return false
	}
	p := rec.HostConfig.RestartPolicy
	switch p.Name {
	case mobycontainer.RestartPolicyAlways, mobycontainer.RestartPolicyUnlessStopped:
		return true
	case mobycontainer.RestartPolicyOnFailure:
		return code != 0 && (p.MaximumRetryCount == 0 || rec.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// finish waits for the current run to end and records how it ended.
func (sv *supervisor) finish() Response {
	store := sv.srv.cfg.Containers
	sv.mu.Lock()
	pid, cgPath := sv.pidNum, sv.cgroupsPath
	sv.mu.Unlock()
	code, err := runtime.WaitChild(pid)
	if err != nil {
		code = container.LostExitCode
	}
	sv.setEnding(true)
	sv.health.stop()
	oom := false
	if cgPath != "" {
		if m, err := cgroup.Load(cgPath); err == nil {
			oom, _ = cgroup.OOMKilled(m)
		}
	}
	// Delete kills whatever is left in the container, so its output
	// pipes close and the pumps end.
	if c, err := store.Runtime().Load(sv.id); err == nil {
		if err := c.Delete(true, nil); err != nil {
			sv.srv.log.Printf("delete %s: %v", container.ShortID(sv.id), err)
		}
	}
	sv.waitOutputs()
	sv.closeStdin()
	sv.mu.Lock()
	if sv.log != nil {
		sv.log.Close()
		sv.log = nil
	}
	sv.live = false
	sv.pidNum = 0
	nr := sv.net
	sv.net = nil
	sv.mu.Unlock()
	sv.srv.releaseNetwork(nr, sv.id)
	now := time.Now().UTC()
	var rec *container.Record
	_, _ = store.Update(sv.id, func(r *container.Record) error {
		container.ClearRunNetwork(r)
		r.State.Status = container.Exited
		r.State.Pid = 0
		r.State.ExitCode = code
		r.State.OOMKilled = oom
		r.State.FinishedAt = now
		if sv.stopped() {
			r.State.ManuallyStopped = true
		}
		rec = r
		return nil
	})
	if rec != nil {
		sv.srv.unprepare(rec)
	}
	return Response{ExitCode: code}
}

// waitOutputs waits for the run's output pumps to end: they deliver the
// rest of the output to the log and to the attached clients, which may
// read slowly (the pumps wait for them). A client that takes nothing for
// 5s is dropped, so the rest reaches the log.
func (sv *supervisor) waitOutputs() {
	sv.mu.Lock()
	wg := sv.outputs
	sv.mu.Unlock()
	if wg == nil {
		return
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last := sv.pumped.Load()
	for {
		select {
		case <-done:
			return
		case <-time.After(5 * time.Second):
		}
		if n := sv.pumped.Load(); n != last {
			last = n // slow clients, still reading
			continue
		}
		if !sv.dropClients() {
			sv.srv.log.Printf("%s: output still open 5s after exit", container.ShortID(sv.id))
			return
		}
	}
}

// dropClients disconnects the attached clients the output waits for
// (their queue is full); false if there were none.
func (sv *supervisor) dropClients() bool {
	var stuck []*client
	sv.mu.Lock()
	for cl := range sv.clients {
		if len(cl.out) == cap(cl.out) {
			stuck = append(stuck, cl)
			delete(sv.clients, cl)
		}
	}
	sv.mu.Unlock()
	for _, cl := range stuck {
		cl.finish()
		cl.conn.Close()
	}
	return len(stuck) > 0
}

func (sv *supervisor) closeStdin() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.stdin != nil {
		sv.stdin.Close()
		sv.stdin = nil
	}
	sv.master = nil
}

// notifyExit tells waiters, and attached clients (whose attach ends with
// the run), how a run ended.
func (sv *supervisor) notifyExit(res Response, final bool) {
	sv.mu.Lock()
	sv.lastExit = res
	if final {
		sv.ended = true
	}
	waiters := sv.waiters
	sv.waiters = nil
	clients := sv.clients
	sv.clients = map[*client]struct{}{}
	sv.mu.Unlock()
	for _, w := range waiters {
		w <- res
	}
	for cl := range clients {
		cl.exit(res)
	}
}

func (sv *supervisor) addWaiter() chan Response {
	ch := make(chan Response, 1)
	sv.mu.Lock()
	if sv.ended {
		ch <- sv.lastExit
	} else {
		sv.waiters = append(sv.waiters, ch)
	}
	sv.mu.Unlock()
	return ch
}

func (sv *supervisor) setEnding(v bool) {
	sv.mu.Lock()
	sv.ending = v
	sv.mu.Unlock()
}

// isEnding reports whether the container's run ended and the supervisor
// has not restarted it (yet).
func (sv *supervisor) isEnding() bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.ending
}
