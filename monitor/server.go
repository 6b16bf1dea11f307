// Package monitor supervises hull's running containers. One monitor
// process per hull root (started on demand by the CLI, exiting when it
// has been idle for a while) is the parent of every container's init: it
// copies their output into their logs and to attached clients, records
// their exit codes, applies restart policies and health checks, and
// removes --rm containers. Sharing one process keeps the host-side cost
// per container to a few goroutines and buffers instead of a process per
// container (Docker's shim, Podman's conmon).
//
// The CLI talks to the monitor over a unix socket in the store's run
// directory (Client). A kill -9 of the monitor leaves the containers
// running; the container store then tells the truth about them from the
// OCI runtime (container.Store.Get).
package monitor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/hull-project/hull/cgroup"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/network"
	"github.com/hull-project/hull/volume"
	"golang.org/x/sys/unix"
)

// Files in the store's run directory.
const (
	socketName = "monitor.sock"
	lockName   = "monitor.lock"
	spawnLock  = "spawn.lock"
	logName    = "monitor.log"
)

// DefaultIdle is how long a monitor with nothing to supervise waits for
// work before it exits.
const DefaultIdle = 30 * time.Second

// Config is what a monitor serves.
type Config struct {
	Containers *container.Store
	Images     *image.Store
	Volumes    *volume.Store
	// Networks, if set, gives bridge-mode containers their network.
	Networks *network.Store
	// Idle is how long to wait with no container and no client before
	// exiting (DefaultIdle if zero).
	Idle time.Duration
	// InitPath is the host path of the init bind-mounted for --init.
	InitPath string
}

// Server is a running monitor.
type Server struct {
	cfg  Config
	log  *log.Logger
	ln   *net.UnixListener
	mu   sync.Mutex
	sups map[string]*supervisor
	// conns counts open client connections; activity is when the last
	// supervisor or connection went away.
	conns    int
	activity time.Time
	// trim asks trimLoop to trim memory after a burst of work.
	trim chan struct{}
	// closing is set (under mu, only while idle) when the monitor has
	// decided to exit: connections accepted after that are told to go
	// to the next monitor (errExiting).
	closing bool
	// runLock is the store's monitor lock; idleDone is closed once an
	// idle exit has released it and the spawn lock, in that order.
	runLock  *flock.Lock
	idleDone chan struct{}
}

// errExiting is the answer of a monitor that is exiting; the client
// connects again, to a new monitor.
const errExiting = "hull monitor: exiting"

// Serve runs a monitor for cfg until it has been idle for cfg.Idle. If
// another monitor already serves the store it returns nil at once.
// ready, if not nil, gets one line once the socket accepts connections
// and is then closed.
//
// When ctx ends (SIGTERM), the monitor stops serving and exits, leaving
// its containers running; the store then tells the truth about them
// without it (their exit codes are lost).
func Serve(ctx context.Context, cfg Config, ready *os.File) error {
	if cfg.Idle == 0 {
		cfg.Idle = DefaultIdle
	}
	run := cfg.Containers.RunDir()
	lock, err := flock.TryExclusive(filepath.Join(run, lockName))
	if errors.Is(err, flock.ErrLocked) {
		if ready != nil {
			fmt.Fprintln(ready, "running")
			ready.Close()
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Unlock()
	logf, err := os.OpenFile(filepath.Join(run, logName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("monitor log: %w", err)
	}
	defer logf.Close()
	sock := filepath.Join(run, socketName)
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	// Leave the cgroup of the command that spawned us (a login session,
	// a CI job, a systemd service): tearing that down must not kill the
	// monitor of containers that outlive it.
	if leave, err := ownCgroup(run); err != nil {
		fmt.Fprintf(logf, "monitor: own cgroup: %v\n", err)
	} else {
		defer leave()
	}
	// Containers' inits are our children; orphans they leave behind
	// outside their pid namespace (none normally) are reaped by us too.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	s := &Server{
		cfg:      cfg,
		log:      log.New(logf, fmt.Sprintf("monitor[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds),
		ln:       ln,
		sups:     map[string]*supervisor{},
		activity: time.Now(),
		trim:     make(chan struct{}, 1),
		runLock:  lock,
		idleDone: make(chan struct{}),
	}
	if ready != nil {
		fmt.Fprintln(ready, "ready")
		ready.Close()
	}
	if cfg.Networks != nil {
		// A previous monitor may have died with containers whose
		// network nobody released.
		go func() {
			if _, err := cfg.Networks.Sweep(); err != nil {
				s.log.Printf("network sweep: %v", err)
			}
		}()
	}
	// The monitor lives long and allocates little per container: keep
	// the heap tight and hand back what start-up left behind.
	debug.SetGCPercent(25)
	// One P: the monitor only shuffles bytes and waits, and every P
	// keeps its own cache of heap spans (~1 MB resident each).
	goruntime.GOMAXPROCS(1)
	trimMemory()
	go func() {
		s.idleLoop(sock)
		close(s.idleDone)
	}()
	go s.trimLoop(s.trim)
	go func() {
		<-ctx.Done()
		s.log.Printf("terminated, exiting")
		os.Remove(sock)
		s.ln.Close()
	}()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				// An idle exit releases the locks in order before
				// the process may end.
				select {
				case <-s.idleDone:
				case <-ctx.Done():
				}
				return nil
			}
			s.log.Printf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

// idleLoop closes the listener once nothing happened for cfg.Idle. It
// holds the spawn lock while it does, so a client either reached this
// monitor before or spawns a new one after.
func (s *Server) idleLoop(sock string) {
	for {
		time.Sleep(s.cfg.Idle / 4)
		if !s.idle() {
			continue
		}
		l, err := flock.Exclusive(filepath.Join(s.cfg.Containers.RunDir(), spawnLock))
		if err != nil {
			if _, serr := os.Stat(s.cfg.Containers.RunDir()); !errors.Is(serr, os.ErrNotExist) {
				continue
			}
			// The run directory was removed (a test's or a benchmark's
			// store deleted under us): no client can reach or spawn a
			// monitor there any more, so exit without the lock.
			l = nil
		}
		if s.startClosing() {
			os.Remove(sock)
			// A client that found the socket just before it went is
			// still accepted (and answered errExiting), not dropped
			// from the backlog by the close.
			time.Sleep(50 * time.Millisecond)
			s.ln.Close()
			// Connections accepted meanwhile are answered errExiting
			// (their clients connect again, to the next monitor).
			s.waitConns()
			s.log.Printf("idle, exiting")
			// The next monitor, spawned once we let go of the spawn
			// lock, must find the monitor lock free.
			s.runLock.Unlock()
			l.Unlock()
			return
		}
		l.Unlock()
	}
}

// trimLoop trims the monitor's memory (trimMemory) a while after each
// burst of activity.
func (s *Server) trimLoop(kick <-chan struct{}) {
	for range kick {
		time.Sleep(time.Second)
		// Coalesce the kicks that came meanwhile.
		for drained := false; !drained; {
			select {
			case <-kick:
			default:
				drained = true
			}
		}
		trimMemory()
	}
}

func (s *Server) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sups) == 0 && s.conns == 0 && time.Since(s.activity) >= s.cfg.Idle
}

// startClosing sets closing if the monitor is idle, and reports whether
// it did.
func (s *Server) startClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sups) == 0 && s.conns == 0 && time.Since(s.activity) >= s.cfg.Idle {
		s.closing = true
	}
	return s.closing
}

func (s *Server) waitConns() {
	for {
		s.mu.Lock()
		n := s.conns
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kickTrim schedules a memory trim.
func (s *Server) kickTrim() {
	select {
	case s.trim <- struct{}{}:
	default:
	}
}

func (s *Server) serveConn(conn *net.UnixConn) {
	defer func() {
		conn.Close()
		s.mu.Lock()
		s.conns--
		s.activity = time.Now()
		s.mu.Unlock()
	}()
	br := bufio.NewReader(conn)
	var req Request
	if err := readLine(br, &req); err != nil {
		if !errors.Is(err, io.EOF) {
			s.log.Printf("bad request: %v", err)
		}
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		_ = writeLine(conn, Response{Error: errExiting, ExitCode: 125})
		return
	}
	switch req.Op {
	case "ping":
		_ = writeLine(conn, Response{Pid: os.Getpid()})
	case "start":
		s.opStart(conn, br, &req)
	case "attach":
		s.opAttach(conn, br, &req)
	case "stop":
		s.opStop(conn, &req)
	case "kill":
		s.opKill(conn, &req)
	case "signal":
		s.opSignal(conn, &req)
	case "wait":
		s.opWait(conn, &req)
	case "resize":
		s.opResize(conn, &req)
	case "network":
		s.opNetwork(conn, &req)
	default:
		_ = writeLine(conn, Response{Error: fmt.Sprintf("monitor: unknown operation %q", req.Op), ExitCode: 125})
	}
}

func (s *Server) supervisor(id string) *supervisor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sups[id]
}

// opStart starts the container (attaching the connection first if asked,
// so no output is missed). Starting a running container is a no-op, as
// in Docker; with Attach it attaches.
func (s *Server) opStart(conn *net.UnixConn, br *bufio.Reader, req *Request) {
	var sv *supervisor
	var fresh bool
	for {
		s.mu.Lock()
		sv = s.sups[req.ID]
		if sv != nil && sv.isEnding() {
			// Its run just ended: start it anew once the supervisor
			// has restarted it or let go of it.
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		fresh = sv == nil
		if fresh {
			sv = newSupervisor(s, req.ID)
			s.sups[req.ID] = sv
		}
		s.mu.Unlock()
		break
	}
	var cl *client
	if req.Attach != nil {
		cl = sv.addClient(conn, req.Attach)
	}
	if fresh {
		if code, err := sv.start(); err != nil {
			s.drop(sv)
			if cl != nil {
				sv.removeClient(cl)
			}
			var orphan *orphanError
			if errors.As(err, &orphan) && cl == nil {
				_ = writeLine(conn, Response{Pid: orphan.pid}) // it runs
				return
			}
			_ = writeLine(conn, Response{Error: err.Error(), ExitCode: code})
			return
		}
	}
	_ = writeLine(conn, Response{Pid: sv.pid()})
	s.kickTrim()
	if cl != nil {
		cl.serve(br)
	}
}

// drop forgets a supervisor that no longer has a container to watch.
func (s *Server) drop(sv *supervisor) {
	s.mu.Lock()
	if s.sups[sv.id] == sv {
		delete(s.sups, sv.id)
	}
	s.activity = time.Now()
	s.mu.Unlock()
	s.kickTrim()
}

func (s *Server) opAttach(conn *net.UnixConn, br *bufio.Reader, req *Request) {
	sv := s.supervisor(req.ID)
	if sv == nil || req.Attach == nil {
		_ = writeLine(conn, Response{Error: "You cannot attach to a stopped container, start it first", ExitCode: 125})
		return
	}
	cl := sv.addClient(conn, req.Attach)
	_ = writeLine(conn, Response{Pid: sv.pid()})
	cl.serve(br)
}

func (s *Server) opStop(conn *net.UnixConn, req *Request) {
	sv := s.supervisor(req.ID)
	if sv == nil {
		_ = writeLine(conn, Response{})
		return
	}
	res := sv.stop(syscall.Signal(req.Signal), req.Timeout)
	_ = writeLine(conn, res)
}

func (s *Server) opKill(conn *net.UnixConn, req *Request) {
	sv := s.supervisor(req.ID)
	if sv == nil {
		_ = writeLine(conn, Response{Error: fmt.Sprintf("cannot kill container: %s: container %s is not running", req.ID, req.ID), ExitCode: 125})
		return
	}
	if err := sv.kill(syscall.Signal(req.Signal)); err != nil {
		_ = writeLine(conn, Response{Error: err.Error(), ExitCode: 125})
		return
	}
	_ = writeLine(conn, Response{})
}

// opSignal relays a signal (run's --sig-proxy) without counting as a
// manual stop.
func (s *Server) opSignal(conn *net.UnixConn, req *Request) {
	if sv := s.supervisor(req.ID); sv != nil {
		sv.signal(syscall.Signal(req.Signal))
	}
	_ = writeLine(conn, Response{})
}

func (s *Server) opWait(conn *net.UnixConn, req *Request) {
	sv := s.supervisor(req.ID)
	if sv == nil {
		_ = writeLine(conn, Response{Error: "not running", ExitCode: -1})
		return
	}
	ch := sv.addWaiter()
	// Notice the client going away, so the goroutine does not linger.
	gone := make(chan struct{})
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:])
		close(gone)
	}()
	select {
	case res := <-ch:
		_ = writeLine(conn, res)
	case <-gone:
	}
}

func (s *Server) opResize(conn *net.UnixConn, req *Request) {
	sv := s.supervisor(req.ID)
	if sv != nil {
		sv.resize(req.Height, req.Width)
	}
	_ = writeLine(conn, Response{})
}

// opNetwork tells the container's supervisor that the CLI connected or
// disconnected it.
func (s *Server) opNetwork(conn *net.UnixConn, req *Request) {
	res := Response{}
	if sv := s.supervisor(req.ID); sv != nil {
		if err := sv.networkChanged(); err != nil {
			res = Response{Error: err.Error(), ExitCode: 125}
		}
	}
	_ = writeLine(conn, res)
}

// ownCgroup moves the monitor into a cgroup of its own under hull's
// parent cgroup, named after its run directory. The returned function
// moves it back out (to each hierarchy's root: on cgroup v2 only the root
// may hold a process next to child cgroups) and removes that cgroup, so
// none is left behind.
func ownCgroup(runDir string) (func(), error) {
	inner := cgroup.DefaultParent + "/monitor-" + filepath.Base(runDir)
	m, err := cgroup.New(inner, nil)
	if err != nil {
		return nil, err
	}
	if err := m.Apply(os.Getpid()); err != nil {
		return nil, err
	}
	// Remove the empty cgroups of monitors that were killed (rmdir
	// fails on any cgroup that still holds a process).
	for _, dir := range cgroupDirs(m, inner) {
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "monitor-*"))
		for _, d := range stale {
			if d != dir {
				_ = os.Remove(d)
			}
		}
	}
	return func() {
		pid := []byte(strconv.Itoa(os.Getpid()))
		for _, dir := range cgroupDirs(m, inner) {
			_ = os.WriteFile(filepath.Join(strings.TrimSuffix(dir, inner), "cgroup.procs"), pid, 0)
		}
		_ = m.Destroy()
	}, nil
}

// cgroupDirs lists the directories of the cgroup inner in every hierarchy
// m knows.
func cgroupDirs(m cgroup.Manager, inner string) []string {
	var dirs []string
	seen := map[string]bool{}
	for _, c := range []string{"", "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd"} {
		if dir := m.Path(c); dir != "" && strings.HasSuffix(dir, inner) && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	return dirs
}
