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

// client is one attached connection.
type client struct {
	sv   *supervisor
	conn *net.UnixConn
	fw   *frameWriter
	opts AttachOptions
	out  chan outFrame
	once sync.Once
}

type outFrame struct {
	typ  byte
	data []byte
}

// clientQueue is how many output frames may wait for a slow client
// before it is disconnected (the container never waits for a client).
const clientQueue = 256

func (sv *supervisor) addClient(conn *net.UnixConn, o *AttachOptions) *client {
	cl := &client{sv: sv, conn: conn, fw: &frameWriter{w: conn}, opts: *o, out: make(chan outFrame, clientQueue)}
	sv.mu.Lock()
	sv.clients[cl] = struct{}{}
	sv.mu.Unlock()
	return cl
}

func (sv *supervisor) removeClient(cl *client) {
	sv.mu.Lock()
	delete(sv.clients, cl)
	sv.mu.Unlock()
	cl.close()
}

func (cl *client) close() { cl.once.Do(func() { close(cl.out) }) }

// broadcast sends output to every client that asked for that stream.
func (sv *supervisor) broadcast(typ byte, p []byte) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for cl := range sv.clients {
		if (typ == FrameStdout && !cl.opts.Stdout) || (typ == FrameStderr && !cl.opts.Stderr) {
			continue
		}
		select {
		case cl.out <- outFrame{typ, append([]byte(nil), p...)}:
		default:
			delete(sv.clients, cl)
			cl.close()
			cl.conn.Close()
		}
	}
}

// exit sends the exit frame and ends the client's stream.
func (cl *client) exit(res Response) {
	b, _ := jsonBytes(res)
	cl.once.Do(func() {
		select {
		case cl.out <- outFrame{FrameExit, b}:
		default:
		}
		close(cl.out)
	})
}

func (cl *client) writeLoop() {
	for f := range cl.out {
		if err := cl.fw.write(f.typ, f.data); err != nil {
			cl.conn.Close()
			for range cl.out {
			}
			return
		}
		if f.typ == FrameExit {
			_ = cl.conn.CloseWrite()
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
	cl.sv.mu.Lock()
	_, still := cl.sv.clients[cl]
	delete(cl.sv.clients, cl)
	cl.sv.mu.Unlock()
	if still {
		cl.close()
	}
}
