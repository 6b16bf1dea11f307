// Package reaper is the init hull runs as PID 1 of a container started
// with --init (Docker uses tini for this): it starts the container's
// command, forwards the signals it gets to it, reaps every zombie that
// is reparented to it, and exits with the command's status.
package reaper

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// initPath is where hull bind-mounts itself as a container's init
// (spec.InitMountPath; not imported, to keep this package's init early).
const initPath = "/dev/init"

// early catches signals from as soon as this package is initialised when
// the process is a container's init, so a signal sent right after the
// container starts is forwarded rather than killing the init.
var early chan os.Signal

func init() {
	if os.Getpid() == 1 && len(os.Args) > 0 && os.Args[0] == initPath {
		early = make(chan os.Signal, 64)
		signal.Notify(early)
	}
}

// Run runs argv as the child and returns the exit status to exit with:
// the child's, or 128+signal if a signal killed it.
func Run(argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "init: no command given")
		return 1
	}
	sigs := early
	if sigs == nil {
		sigs = make(chan os.Signal, 64)
		signal.Notify(sigs)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if path, err := exec.LookPath(argv[0]); err == nil {
		cmd.Path = path
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The child gets its own process group and, with a terminal, the
	// foreground, so ^C reaches it as it would without an init.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "init: %v\n", err)
		if os.IsNotExist(err) {
			return 127
		}
		return 126
	}
	child := cmd.Process.Pid
	if isTerminal(0) {
		_ = unix.IoctlSetPointerInt(0, unix.TIOCSPGRP, child)
	}
	for s := range sigs {
		sig := s.(syscall.Signal)
		if sig != unix.SIGCHLD {
			if sig != unix.SIGURG { // the Go runtime's preemption signal
				_ = unix.Kill(child, sig)
			}
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 1
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
