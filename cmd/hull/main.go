// Command hull is a daemonless, Docker-compatible container engine. Its
// command line mirrors the docker CLI: the same commands, flags, output
// columns, --format templates and exit codes, with hull's own errors
// printed as "Error: <message>" (there is no daemon to blame).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hull-project/hull/reaper"
	"github.com/hull-project/hull/spec"
)

// Exit statuses.
const (
	// exitError is the status of a command that failed in hull itself,
	// like `docker run` reports daemon failures.
	exitError = 125
	// exitUsage is the status of a usage error (unknown command or flag,
	// wrong number of arguments).
	exitUsage = 125
)

func main() {
	// As PID 1 of a --init container, hull is the container's init.
	if os.Getpid() == 1 && len(os.Args) > 1 && os.Args[0] == spec.InitMountPath {
		args := os.Args[1:]
		if args[0] == "--" {
			args = args[1:]
		}
		os.Exit(reaper.Run(args))
	}
	args := os.Args[1:]
	// Called through a link named hull-runtime (or runc), hull is its OCI
	// runtime with runc's command line: containerd's shim can use the
	// link as its BinaryName, Docker and Podman as a --runtime.
	if name := filepath.Base(os.Args[0]); name == "hull-runtime" || name == "runc" {
		args = append([]string{"runtime"}, args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The monitor the CLI spawns (`hull --root R --runroot RR monitor`)
	// lives long: it skips building the command tree it would keep alive.
	if len(args) == 5 && args[0] == "--root" && args[2] == "--runroot" && args[4] == "monitor" {
		c := newCLI(os.Stdin, os.Stdout, os.Stderr)
		c.opts.root, c.opts.runroot = args[1], args[3]
		code := c.report(c.serveMonitor(ctx))
		stop()
		os.Exit(code)
	}
	code := run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the hull command line args with the given streams and
// returns the process exit status. Tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI(stdin, stdout, stderr)
	root := newRootCommand(c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return c.report(err)
}

// usageError is a command-line usage error, printed as is (it carries its
// own usage hint, as docker's do).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// statusError is a failure with a specific exit status. Each of errs is
// printed on its own line with the "Error: " prefix.
type statusError struct {
	errs []error
	code int
}

func (e *statusError) Error() string { return errors.Join(e.errs...).Error() }

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (e *statusError) Unwrap() []error { return e.errs }

// withStatus wraps errs (nil entries ignored) into a statusError with the
// given exit status, or returns nil if there are none.
func withStatus(code int, errs ...error) error {
	var kept []error
	for _, err := range errs {
		if err != nil {
			kept = append(kept, err)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &statusError{errs: kept, code: code}
}

// errCancelled ends a command the user declined at a prompt: nothing more
// is printed and the exit status is 0, as in docker.
var errCancelled = errors.New("cancelled")

// report prints err as docker does and returns the exit status for it.
func (c *cli) report(err error) int {
	if err == nil || errors.Is(err, errCancelled) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(c.err, ue.msg)
		return exitUsage
	}
	var se *statusError
	if errors.As(err, &se) {
		for _, e := range se.errs {
			fmt.Fprintln(c.err, errorLine(e))
		}
		return se.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(c.err, "Error: operation cancelled")
		return 130
	}
	fmt.Fprintln(c.err, errorLine(err))
	return exitError
}

// errorLine formats one error for stderr with the "Error: " prefix.
func errorLine(err error) string {
	msg := strings.TrimSpace(err.Error())
	if msg == "" {
		msg = "unknown error"
	}
	return "Error: " + msg
}
