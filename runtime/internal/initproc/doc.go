// Package initproc is the container side of hull's OCI runtime: the code
// that runs in the container's init process, hull re-executed as
// `hull runtime init` by package runtime's Create (and, for `hull runtime
// exec`, the helper that starts a process in a running container). It
// reads a Config from the parent over the sync socket, sets up the
// namespaces, the root filesystem (mounts resolved with openat2
// RESOLVE_IN_ROOT, devices, pivot_root, masked and read-only paths), the
// console, hostname, sysctls, rlimits, user, capabilities, no_new_privs
// and seccomp, and execve's the container process. The parent side (state,
// cgroups, hooks it runs itself) stays in package runtime.
//
// # Start-up
//
// The package's init function runs the container init as soon as the
// package is initialised, when the process was started as init (the
// control fds are in the environment, see EnvPipe): it never returns, it
// execve's the container process or exits. Go initialises a package after
// its dependencies, and at each step the ready package whose import path
// sorts first; so everything hull links in whose path sorts before
// "github.com/hull-project/..." and is ready is initialised before this
// package. Importing strings would make ready, and thus initialise first,
// the crypto/... and compress/... packages that wait on it (about 50 of
// them, milliseconds per container start); fmt pulls in reflect and
// unicode tables; golang.org/x/sys/unix, os/exec, path/filepath and
// encoding/json import strings. So this package uses only errors, io,
// os, path, strconv, sync, syscall, time and the like (TestImports keeps
// the list), with its own small system call wrappers (sys_linux.go) and
// helpers for what strings and fmt would do, and it runs after about 20
// packages with init work instead of 120.
//
// The same holds for the data: the parent hands init a Config with every
// decision made (mount options parsed into flags, capability names turned
// into bits, the seccomp profile compiled to BPF by package seccomp, the
// hook states rendered as JSON) in a small binary encoding without
// reflection (wire.go), instead of the OCI spec as JSON.
//
// Errors keep the wording package runtime used: callers map "executable
// file not found", "permission denied" and the like to exit statuses.
//
// The package is Linux-only.
package initproc
