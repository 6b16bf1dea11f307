package initproc

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// Environment variables that carry the control fds from the parent to init.
const (
	EnvPipe    = "_HULL_INIT_PIPE"    // the sync socket
	EnvFifo    = "_HULL_INIT_FIFO"    // an O_PATH fd of exec.fifo (create)
	EnvConsole = "_HULL_INIT_CONSOLE" // the console socket
	EnvMntns   = "_HULL_INIT_MNTNS"   // the container's mount namespace (exec)
)

// Args are the arguments (argv[1:]) the parent starts init with: those of
// `hull runtime init`.
var Args = []string{"runtime", "init"}

func init() {
	// A container's init does its work right here, while Go initialises
	// the packages: before main and before every package init has no use
	// for (see the package documentation). It never returns: it execve's
	// the container process or exits.
	//
	// Everything init does that is per thread (setns, capabilities,
	// no_new_privs, seccomp, the final execve) must happen on one thread:
	// package initialisation runs on the main thread, and the main
	// goroutine stays locked to it.
	if !IsInit() || len(os.Args) != 1+len(Args) || os.Args[1] != Args[0] || os.Args[2] != Args[1] {
		return
	}
	runtime.LockOSThread()
	err := Run()
	var ie *Error
	if !errors.As(err, &ie) || !ie.Reported {
		os.Stderr.WriteString("Error: " + err.Error() + "\n")
	}
	os.Exit(1)
}

// IsInit reports whether this process was started as a container's init
// (or exec helper).
func IsInit() bool { return os.Getenv(EnvPipe) != "" }

// Run is the container's init process: it reads its Config from the
// parent, sets up the container and execve's the container process. It
// returns only on failure, with an *Error, after reporting the error to
// the parent when it still listens. The caller must have locked the
// goroutine to its thread, and no signal may be caught.
func Run() error {
	if !IsInit() {
		return errors.New("hull runtime init is started by hull runtime create, not by hand")
	}
	pipeFd, err := strconv.Atoi(os.Getenv(EnvPipe))
	if err != nil {
		return wrap("bad "+EnvPipe, err)
	}
	fds := initFds{fifo: envFd(EnvFifo), console: envFd(EnvConsole), mntns: envFd(EnvMntns)}
	for _, k := range []string{EnvPipe, EnvFifo, EnvConsole, EnvMntns} {
		os.Unsetenv(k)
	}
	// Hooks init runs must not inherit the control fds: a hook left
	// running would keep the sync socket open and the parent waiting.
	for _, fd := range []int{pipeFd, fds.fifo, fds.console, fds.mntns} {
		if fd >= 0 {
			syscall.CloseOnExec(fd)
		}
	}
	sock := os.NewFile(uintptr(pipeFd), "init-sync")
	conn := NewConn(sock)
	ready := false
	err = runInit(conn, sock, fds, &ready)
	if !ready && conn.Send(MsgError, []byte(err.Error())) == nil {
		return &Error{Err: err, Reported: true}
	}
	return &Error{Err: err}
}

// initFds are the control fds init got besides the sync socket (-1: none).
type initFds struct {
	fifo    int // O_PATH fd of exec.fifo (create)
	console int // console socket
	mntns   int // the container's mount namespace (exec)
}

// envFd parses the fd number in the environment variable name, -1 if unset.
func envFd(name string) int {
	fd, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return -1
	}
	return fd
}

// Error is the failure of Run. Reported says the parent got the error
// (and prints it), so init should exit quietly.
type Error struct {
	Err      error
	Reported bool
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// wrapError is an error with context, as fmt.Errorf("msg: %w", err) makes
// (fmt is not imported; see the package documentation).
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }

// suffixError is an error with an explanation after it.
type suffixError struct {
	err    error
	suffix string
}

func (e *suffixError) Error() string { return e.err.Error() + e.suffix }
func (e *suffixError) Unwrap() error { return e.err }

// wrap returns err with msg in front.
func wrap(msg string, err error) error { return &wrapError{msg: msg, err: err} }

// itoa is strconv.Itoa.
func itoa(i int) string { return strconv.Itoa(i) }

// quote is %q of a string.
func quote(s string) string { return strconv.Quote(s) }

// fdPath is the /proc path of an fd, usable as a mount(2) argument.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
