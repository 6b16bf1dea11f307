package runtime

import (
	"os/signal"
	goruntime "runtime"

	"github.com/hull-project/hull/runtime/internal/initproc"
)

// The container's init process is hull re-executed as `hull runtime init`
// (see protectedExe). What it runs is package initproc, whose init
// function takes over the process as soon as Go has initialised it and
// the few packages it needs: before main, and before the packages of the
// CLI and most of this one's dependencies are initialised. The parent
// (Create and Exec) hands it an initproc.Config built by initConfig.

// InitArgs are the arguments the parent starts the init process with
// (argv[1:] of `hull runtime init`).
var InitArgs = initproc.Args

// IsInit reports whether this process was started as a container's init.
func IsInit() bool { return initproc.IsInit() }

// InitError is the failure of Init. Reported says the parent got the error
// (and prints it), so init should exit quietly.
type InitError = initproc.Error

// Init is the container's init process (`hull runtime init`), for when
// package initproc's init function did not take over the process: it
// reads its configuration from the parent, sets up the container and
// execve's the container process. It returns only on failure, after
// reporting the error to the parent when it still listens; the caller
// should exit non-zero.
func Init() error {
	if !IsInit() {
		return initproc.Run() // the error for a start by hand
	}
	// Signals get their default effect (hull's main catches SIGTERM).
	signal.Reset()
	// Init's per-thread work (namespaces, credentials, capabilities,
	// seccomp, execve) must all happen on this thread.
	goruntime.LockOSThread()
	return initproc.Run()
}
