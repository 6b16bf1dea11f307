package main

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hull-project/hull/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// createFlags are the flags create and run share.
type createFlags struct {
	bundle        string
	consoleSocket string
	pidFile       string
	noPivot       bool
	noNewKeyring  bool
	preserveFDs   int
}

func (f *createFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.bundle, "bundle", "b", "", "Path to the bundle directory (default: the current directory)")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "Unix socket that receives the pty master of a terminal container")
	fl.StringVar(&f.pidFile, "pid-file", "", "File to write the init process's pid to")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "Use MS_MOVE and chroot instead of pivot_root (rootfs on a ramdisk)")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "Accepted for runc compatibility (hull makes no session keyring)")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "Number of extra fds (from 3 on) passed to the container process")
}

// options turns the flags into runtime.CreateOptions with hull's stdio.
func (f *createFlags) options(rc *runtimeCLI) runtime.CreateOptions {
	o := runtime.CreateOptions{
		Bundle:        f.bundle,
		ConsoleSocket: f.consoleSocket,
		PidFile:       f.pidFile,
		NoPivot:       f.noPivot,
		PreserveFDs:   f.preserveFDs,
		Warn:          rc.warn,
	}
	o.Stdin, _ = rc.c.in.(*os.File)
	o.Stdout, _ = rc.c.out.(*os.File)
	o.Stderr, _ = rc.c.err.(*os.File)
	return o
}

func (rc *runtimeCLI) newCreateCommand() *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] CONTAINER",
		Short: "Create a container from a bundle; start runs its process",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := rc.rt().Create(args[0], f.options(rc))
			return rc.fail(err)
		},
	}
	f.register(cmd)
	return cmd
}

func (rc *runtimeCLI) newRunCommand() *cobra.Command {
	var f createFlags
	var detach, noSubreaper, keep bool
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] CONTAINER",
		Short: "Create and start a container, and wait for it unless detached",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rc.run(args[0], &f, detach, keep)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&detach, "detach", "d", false, "Detach from the container's process")
	fl.BoolVar(&noSubreaper, "no-subreaper", false, "Accepted for runc compatibility")
	fl.BoolVar(&keep, "keep", false, "Do not delete the container after it exits")
	return cmd
}

// run is `hull runtime run`: create, start and (unless detached) wait,
// forwarding signals, relaying the terminal if there is no console socket,
// then delete the container and exit with its process's status.
func (rc *runtimeCLI) run(id string, f *createFlags, detach, keep bool) error {
	o := f.options(rc)
	var relay *ttyRelay
	if !detach && f.consoleSocket == "" && bundleWantsTerminal(f.bundle) {
		var err error
		if relay, err = newTTYRelay(rc); err != nil {
			return rc.fail(err)
		}
		defer relay.close()
		o.Console = relay.remote
	}
	c, err := rc.rt().Create(id, o)
	if err != nil {
		return rc.fail(err)
	}
	// Forward signals from now on, so none is lost between start and wait.
	sigs := make(chan os.Signal, 128)
	if !detach {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	if relay != nil {
		if err := relay.attach(); err != nil {
			_ = c.Delete(true, rc.warn)
			return rc.fail(err)
		}
	}
	if err := c.Start(rc.warn); err != nil {
		_ = c.Delete(true, rc.warn)
		return rc.fail(err)
	}
	if detach {
		return nil
	}
	done := forwardSignals(sigs, c.InitPid(), relay)
	code, err := c.Wait()
	close(done)
	if relay != nil {
		relay.drain()
	}
	if err != nil {
		return rc.fail(err)
	}
	if !keep {
		if err := c.Delete(true, rc.warn); err != nil {
			return rc.fail(err)
		}
	}
	if code != 0 {
		return &statusError{code: code}
	}
	return nil
}

// forwardSignals relays the signals arriving on sigs to pid (a terminal
// size change to the relayed pty instead) until the returned channel is
// closed.
func forwardSignals(sigs chan os.Signal, pid int, relay *ttyRelay) chan struct{} {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				sig := s.(syscall.Signal)
				switch sig {
				case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				case unix.SIGWINCH:
					if relay != nil {
						relay.resize()
					}
				default:
					_ = unix.Kill(pid, sig)
				}
			case <-done:
				return
			}
		}
	}()
	return done
}

// bundleWantsTerminal reports whether the bundle's process has a terminal.
func bundleWantsTerminal(bundle string) bool {
	if bundle == "" {
		bundle = "."
	}
	s, err := runtime.LoadSpec(bundle)
	return err == nil && s.Process != nil && s.Process.Terminal
}

// ttyRelay is run's own console socket for a terminal container without
// --console-socket: it receives the pty master and copies between it and
// hull's stdio, with hull's terminal in raw mode.
type ttyRelay struct {
	rc       *runtimeCLI
	local    *os.File // our end of the socketpair
	remote   *os.File // init's end, closed once init has it
	master   *os.File
	restore  *term.State
	copyDone chan struct{}
	once     sync.Once
}

// newTTYRelay makes the socketpair of a relayed terminal; its remote end
// goes to the process as its console socket.
func newTTYRelay(rc *runtimeCLI) (*ttyRelay, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &ttyRelay{
		rc:       rc,
		local:    os.NewFile(uintptr(fds[0]), "console-local"),
		remote:   os.NewFile(uintptr(fds[1]), "console-remote"),
		copyDone: make(chan struct{}),
	}, nil
}

// attach receives the pty master and starts copying.
func (r *ttyRelay) attach() error {
	r.remote.Close()
	m, err := runtime.RecvFd(r.local)
	if err != nil {
		return err
	}
	r.master = m
	if in, ok := r.rc.c.in.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		if st, err := term.MakeRaw(int(in.Fd())); err == nil {
			r.restore = st
		}
		r.resize()
	}
	go func() {
		_, _ = io.Copy(r.master, r.rc.c.in)
	}()
	go func() {
		_, _ = io.Copy(r.rc.c.out, r.master)
		close(r.copyDone)
	}()
	return nil
}

// resize copies hull's terminal size to the pty.
func (r *ttyRelay) resize() {
	in, ok := r.rc.c.in.(*os.File)
	if !ok || r.master == nil {
		return
	}
	if ws, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// drain waits briefly for the container's last output.
func (r *ttyRelay) drain() {
	if r.master == nil {
		return
	}
	select {
	case <-r.copyDone:
	case <-time.After(2 * time.Second):
	}
}

func (r *ttyRelay) close() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		if r.restore != nil {
			if in, ok := r.rc.c.in.(*os.File); ok {
				_ = term.Restore(int(in.Fd()), r.restore)
			}
		}
		r.local.Close()
		r.remote.Close()
		if r.master != nil {
			r.master.Close()
		}
	})
}
