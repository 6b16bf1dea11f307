package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitStatus waits for cmd's process and returns its exit status,
// 128+signal if a signal killed it (as a shell reports it).
//
// It waits through a pidfd in Go's network poller rather than a blocking
// wait4, so a process waiting for many containers (hull's monitor) does
// not tie up an OS thread for each. Kernels without pidfd_open fall back
// to cmd.Wait.
func waitStatus(cmd *exec.Cmd) (int, error) {
	pid := cmd.Process.Pid
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return waitCmd(cmd)
	}
	return waitPidfd(pid, fd)
}

// waitPidfd waits in the poller for the child pid, whose pidfd is fd
// (closed on return), and reaps it.
func waitPidfd(pid, fd int) (int, error) {
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("wait: %w", err)
	}
	var ws unix.WaitStatus
	var werr error
	err = rc.Read(func(uintptr) bool {
		// Readable once the process has exited; until then wait4
		// with WNOHANG reports 0 and we wait for the poller.
		var got int
		for {
			got, werr = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if !errors.Is(werr, unix.EINTR) {
				break
			}
		}
		return werr != nil || got == pid
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return -1, fmt.Errorf("wait: %w", err)
	}
	return exitCode(ws), nil
}

// waitCmd is waitStatus with cmd.Wait.
func waitCmd(cmd *exec.Cmd) (int, error) {
	err := cmd.Wait()
	ps := cmd.ProcessState
	if ps == nil {
		return -1, fmt.Errorf("wait: %w", err)
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ps.ExitCode(), nil
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// WaitChild waits for pid, a child of this process (such as the init of
// a container it created, after the Container itself was dropped), and
// returns its exit status, 128+signal if a signal killed it.
func WaitChild(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		var ws unix.WaitStatus
		for {
			_, err = unix.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			return -1, fmt.Errorf("wait: %w", err)
		}
		return exitCode(ws), nil
	}
	return waitPidfd(pid, fd)
}

func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
