package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/monitor"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

func newRunCommand(c *cli) *cobra.Command {
	f := &runFlags{}
	var detach bool
	var sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:                 "Create and run a new container from an image",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runContainer(cmd, f, args, detach, sigProxy, detachKeys)
		},
	}
	fs := cmd.Flags()
	f.register(fs)
	fs.BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	fs.StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "Override the key sequence for detaching a container")
	return cmd
}

func newCreateCommand(c *cli) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:                   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:                 "Create a new container",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &createRequest{flags: f, image: args[0], args: args[1:], consoleSize: c.consoleSize(f.tty)}
			rec, err := c.createContainer(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, rec.ID)
			return nil
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// consoleSize is the size of hull's terminal, for -t.
func (c *cli) consoleSize(tty bool) [2]uint {
	if !tty {
		return [2]uint{}
	}
	if f, ok := c.out.(*os.File); ok {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil {
			return [2]uint{uint(h), uint(w)}
		}
	}
	return [2]uint{}
}

// runContainer is `run`: create, then start detached or attached.
func (c *cli) runContainer(cmd *cobra.Command, f *runFlags, args []string, detach, sigProxy bool, detachKeys string) error {
	if f.tty && f.interactive && !detach && !isTerminal(c.in) {
		return errors.New("the input device is not a TTY")
	}
	req := &createRequest{flags: f, image: args[0], args: args[1:], detach: detach, consoleSize: c.consoleSize(f.tty)}
	rec, err := c.createContainer(cmd.Context(), req)
	if err != nil {
		return err
	}
	mc, err := c.monitorClient()
	if err != nil {
		return err
	}
	if detach {
		if err := mc.Start(rec.ID); err != nil {
			return c.startFailed(rec, err)
		}
		fmt.Fprintln(c.out, rec.ID)
		return nil
	}
	return c.attachAndStart(mc, rec, true, sigProxy && !f.tty, detachKeys)
}

// startFailed reports a failed start with run's exit code (125, 126,
// 127) and removes an --rm container.
func (c *cli) startFailed(rec *container.Record, err error) error {
	code := exitError
	var re *monitor.ResponseError
	if errors.As(err, &re) && re.ExitCode != 0 {
		code = re.ExitCode
	}
	if rec.HostConfig != nil && rec.HostConfig.AutoRemove {
		c.removeQuietly(rec.ID)
	}
	return withStatus(code, err)
}

// removeQuietly removes a container that failed to start (--rm).
func (c *cli) removeQuietly(id string) {
	cs, err := c.containerStore()
	if err != nil {
		return
	}
	vs, err := c.volumeStore()
	if err != nil {
		return
	}
	if rec, err := cs.Read(id); err == nil && !rec.State.Status.Alive() {
		_ = monitor.RemoveContainer(cs, vs, rec, true)
	}
}

// attachAndStart streams a container's IO while it runs (start it first
// when start is set), relaying the terminal, signals and window size,
// and returns its exit status.
func (c *cli) attachAndStart(mc *monitor.Client, rec *container.Record, start, sigProxy bool, detachKeys string) error {
	cfg := rec.Config
	o := monitor.AttachOptions{Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout, Stderr: cfg.AttachStderr}
	var sess *monitor.Session
	var err error
	if start {
		sess, err = mc.StartAttached(rec.ID, o)
	} else {
		sess, err = mc.Attach(rec.ID, o)
	}
	if err != nil {
		return c.startFailed(rec, err)
	}
	defer sess.Close()
	var restore func()
	if cfg.Tty {
		restore = c.rawTerminal()
		if h, w := c.termSize(); h > 0 {
			_ = sess.Resize(h, w)
		}
	}
	stop := c.relaySignals(mc, rec.ID, sess, cfg.Tty, sigProxy)
	defer stop()
	detached := make(chan struct{})
	if o.Stdin {
		in := c.in
		if cfg.Tty {
			keys, err := parseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			in = &detachReader{r: c.in, keys: keys, detached: detached}
		}
		go func() { _ = sess.SendInput(in) }()
	}
	stdout, stderr := c.out, c.err
	type result struct {
		res *monitor.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := sess.Copy(stdout, stderr)
		done <- result{res, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-detached:
		if restore != nil {
			restore()
		}
		fmt.Fprintf(c.err, "\nread escape sequence\n")
		return nil
	}
	if restore != nil {
		restore()
	}
	if r.err != nil {
		return r.err
	}
	if r.res.Error != "" {
		return withStatus(orCode(r.res.ExitCode, exitError), errors.New(r.res.Error))
	}
	if r.res.ExitCode != 0 {
		return &statusError{code: r.res.ExitCode}
	}
	return nil
}

func orCode(code, def int) int {
	if code == 0 {
		return def
	}
	return code
}

// rawTerminal puts hull's stdin terminal in raw mode; the returned
// function restores it.
func (c *cli) rawTerminal() func() {
	f, ok := c.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	st, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil
	}
	var once sync.Once
	return func() { once.Do(func() { _ = term.Restore(int(f.Fd()), st) }) }
}

func (c *cli) termSize() (uint16, uint16) {
	for _, s := range []any{c.out, c.in} {
		if f, ok := s.(*os.File); ok {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				return uint16(h), uint16(w)
			}
		}
	}
	return 0, 0
}

// relaySignals forwards hull's signals to the container (--sig-proxy)
// and window size changes to its terminal, until the returned function
// is called.
func (c *cli) relaySignals(mc *monitor.Client, id string, sess *monitor.Session, tty, proxy bool) func() {
	ch := make(chan os.Signal, 32)
	if tty {
		signal.Notify(ch, unix.SIGWINCH)
	}
	if proxy {
		signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	}
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				sig := s.(syscall.Signal)
				if sig == unix.SIGWINCH {
					if h, w := c.termSize(); h > 0 {
						_ = sess.Resize(h, w)
					}
					continue
				}
				_ = mc.Signal(id, sig)
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
	}
}

// parseDetachKeys parses a detach key sequence ("ctrl-p,ctrl-q", "a,b").
func parseDetachKeys(s string) ([]byte, error) {
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			ch := k[5]
			switch {
			case ch >= 'a' && ch <= 'z':
				keys = append(keys, ch-'a'+1)
			case ch == '@':
				keys = append(keys, 0)
			case ch == '[':
				keys = append(keys, 27)
			case ch == '\\':
				keys = append(keys, 28)
			case ch == ']':
				keys = append(keys, 29)
			case ch == '^':
				keys = append(keys, 30)
			case ch == '_':
				keys = append(keys, 31)
			default:
				//lint:ignore ST1005 Docker's message
				return nil, fmt.Errorf("Unknown character: '%s'", k)
			}
		default:
			//lint:ignore ST1005 Docker's message
			return nil, fmt.Errorf("Unknown character: '%s'", k)
		}
	}
	return keys, nil
}

// detachReader passes input through until it sees the detach key
// sequence, then closes detached and reports EOF. Keys of a partial
// sequence are held back and passed on if the sequence breaks.
type detachReader struct {
	r        io.Reader
	keys     []byte
	matched  int
	detached chan struct{}
	done     bool
}

// errDetached is what detachReader returns once the user detached: not
// io.EOF, which would close the container's input (and end a shell).
var errDetached = errors.New("detached")

func (d *detachReader) Read(p []byte) (int, error) {
	if d.done {
		return 0, errDetached
	}
	buf := make([]byte, len(p))
	n, err := d.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if len(d.keys) > 0 && b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.done = true
				close(d.detached)
				return len(out), errDetached
			}
			continue
		}
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		out = append(out, b)
	}
	return len(out), err
}
