package monitor

import (
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stdio are the pipes or the console socket of one run.
type stdio struct {
	childIn, childOut, childErr    *os.File
	parentIn, parentOut, parentErr *os.File
	console, consoleLocal          *os.File
	master                         *os.File
}

// newStdio makes the container's stdio: a console socket pair for a
// terminal, else pipes (stdin only when it is kept open).
func newStdio(tty, openStdin bool) (*stdio, error) {
	s := &stdio{}
	if tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		s.consoleLocal = os.NewFile(uintptr(fds[0]), "console-local")
		s.console = os.NewFile(uintptr(fds[1]), "console-remote")
		return s, nil
	}
	var err error
	if openStdin {
		if s.childIn, s.parentIn, err = os.Pipe(); err != nil {
			return nil, err
		}
	}
	if s.parentOut, s.childOut, err = os.Pipe(); err != nil {
		s.closeChild()
		s.closeParent()
		return nil, err
	}
	if s.parentErr, s.childErr, err = os.Pipe(); err != nil {
		s.closeChild()
		s.closeParent()
		return nil, err
	}
	return s, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// closeChild closes the container's ends once it has them.
func (s *stdio) closeChild() { closeAll(s.childIn, s.childOut, s.childErr, s.console) }

// closeParent closes the monitor's ends (on failure).
func (s *stdio) closeParent() {
	closeAll(s.parentIn, s.parentOut, s.parentErr, s.consoleLocal, s.master)
}

// client is one attached connection. Output reaches it in order, and a
// client that reads slowly slows the container's output down (as a
// docker attach does) instead of losing it: `hull run ... | consumer`
// gets everything.
type client struct {
	sv   *supervisor
	conn *net.UnixConn
	fw   *frameWriter
	opts AttachOptions
	out  chan outFrame
	// exitCh holds the exit frame, sent after every output frame.
	exitCh   chan []byte
	exitOnce sync.Once
	// gone is closed when the client is finished with: it went away, a
	// write to it failed, or it was removed.
	gone     chan struct{}
	goneOnce sync.Once
}

type outFrame struct {
	typ  byte
	data []byte
}

// clientQueue is how many output frames may wait for a client before
// the container's output waits for it.
const clientQueue = 64

func (sv *supervisor) addClient(conn *net.UnixConn, o *AttachOptions) *client {
	cl := &client{sv: sv, conn: conn, fw: &frameWriter{w: conn}, opts: *o,
		out: make(chan outFrame, clientQueue), exitCh: make(chan []byte, 1), gone: make(chan struct{})}
	sv.mu.Lock()
	ended, last := sv.ended, sv.lastExit
	if !ended {
		sv.clients[cl] = struct{}{}
	}
	sv.mu.Unlock()
	if ended {
		cl.exit(last) // too late: the last run is over
	}
	return cl
}

func (sv *supervisor) removeClient(cl *client) {
	sv.mu.Lock()
	delete(sv.clients, cl)
	sv.mu.Unlock()
	cl.finish()
}

// finish marks the client finished with; output for it is dropped.
func (cl *client) finish() { cl.goneOnce.Do(func() { close(cl.gone) }) }

// broadcast sends output to every client that asked for that stream,
// waiting for those whose queue is full.
func (sv *supervisor) broadcast(typ byte, p []byte) {
	sv.mu.Lock()
	var to []*client
	for cl := range sv.clients {
		if (typ == FrameStdout && !cl.opts.Stdout) || (typ == FrameStderr && !cl.opts.Stderr) {
			continue
		}
		to = append(to, cl)
	}
	sv.mu.Unlock()
	if len(to) == 0 {
		return
	}
	data := append([]byte(nil), p...)
	for _, cl := range to {
		select {
		case cl.out <- outFrame{typ, data}:
		case <-cl.gone:
		}
	}
}

// exit sends the exit frame (after the output queued before) and ends
// the client's stream.
func (cl *client) exit(res Response) {
	b, _ := jsonBytes(res)
	cl.exitOnce.Do(func() { cl.exitCh <- b })
}

func (cl *client) writeLoop() {
	write := func(typ byte, data []byte) bool {
		if err := cl.fw.write(typ, data); err != nil {
			cl.finish()
			cl.conn.Close()
			return false
		}
		return true
	}
	for {
		select {
		case f := <-cl.out:
			if !write(f.typ, f.data) {
				return
			}
		case b := <-cl.exitCh:
			// The output ended before the exit was sent: what is
			// queued goes first.
			for more := true; more; {
				select {
				case f := <-cl.out:
					if !write(f.typ, f.data) {
						return
					}
				default:
					more = false
				}
			}
			if write(FrameExit, b) {
				_ = cl.conn.CloseWrite()
			}
			cl.finish()
			return
		case <-cl.gone:
			return
		}
	}
}

// serve sends the client its output frames (queued since it was added;
// the caller has written the response line) and reads its input frames
// until it goes away.
func (cl *client) serve(r interface{ Read([]byte) (int, error) }) {
	go cl.writeLoop()
	buf := make([]byte, 4096)
	for {
		typ, p, err := readFrame(r, buf)
		if err != nil {
			break
		}
		switch typ {
		case FrameStdin:
			if cl.opts.Stdin {
				cl.sv.writeStdin(p)
			}
		case FrameEOF:
			if cl.opts.Stdin {
				cl.sv.stdinEOF()
			}
		case FrameResize:
			if len(p) == 4 {
				cl.sv.resize(uint16(p[0])<<8|uint16(p[1]), uint16(p[2])<<8|uint16(p[3]))
			}
		}
	}
	cl.sv.removeClient(cl)
}
