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
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return waitCmd(cmd)
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
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
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
