// Package runtime is hull's own OCI runtime: it creates containers from an
// OCI bundle (config.json plus a root filesystem) the way runc does, without
// runc. It owns the container lifecycle (create, start, state, kill, delete,
// pause, resume), the state directories under a root (default
// /run/hull/runtime) and the container's init process.
//
// # Create
//
// Create reads and validates the bundle's config.json, makes the state
// directory <root>/<id>/ with the exec FIFO, creates the container's cgroup
// and starts the init process: a re-exec of the hull binary as
// `hull runtime init`, run not from the binary itself but through a private
// read-only overlayfs mount of it (or, where that cannot be made, from a
// sealed memfd copy of /proc/self/exe), so that a container can never write
// to the host's hull binary through /proc/<pid>/exe (CVE-2019-5736); see
// protectedExe. The new namespaces are clone flags of that
// process (with the uid/gid maps written by the parent); namespaces given by
// path are joined with setns(2) on a locked OS thread of the parent just
// before the fork, so the child starts inside them.
//
// The init's code is package runtime/internal/initproc, which takes the
// process over from its init function, before Go has initialised most of
// hull's packages, and imports little for that reason (see its
// documentation). The parent hands the init its configuration over a
// socketpair, digested (initConfig: mount options parsed, capabilities as
// bits, the seccomp profile compiled to BPF) and in a small binary
// encoding rather than the spec as JSON. Init sets up the root filesystem
// (mounts resolved with openat2 RESOLVE_IN_ROOT so no symlink escapes the
// rootfs, devices, pivot_root, masked and read-only paths), the console,
// hostname, sysctls, rlimits, user, capabilities and no_new_privs, asks
// the parent to run the createRuntime hooks, reports "ready" and then
// blocks opening exec.fifo for writing. Start opens the FIFO
// for reading, which releases init to load the seccomp filter (last, unless
// no_new_privs is off) and execve the container process. Only fds 0-2 and the
// preserved fds cross into the container, and init verifies that its working
// directory is inside the container (CVE-2024-21626).
//
// # Exec
//
// Exec starts another process in a running container. The parent joins
// init's pid, network, IPC, UTS and cgroup namespaces on a locked thread and
// forks the helper (`hull runtime init` in exec mode) from it; the helper
// joins the mount namespace itself (unshare(CLONE_FS), then setns, which a
// thread with its own fs_struct may do even in a multi-threaded process),
// gets the process's user, capabilities, rlimits and the container's
// seccomp filter, and execve's. Containers with their own user or time
// namespace cannot be exec'd into yet (setns of those needs a
// single-threaded process).
//
// # State
//
// state.json in the state directory records the init pid and its start time
// (guarding against pid reuse), the bundle, the cgroup path and the config.
// The status is derived: stopped when the init process is gone (or a
// zombie), paused when its cgroup is frozen, created while exec.fifo exists,
// running otherwise.
//
// The package is Linux-only.
package runtime
