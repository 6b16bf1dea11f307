package runtime

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ptyName is the name sent with the pty master over the console socket
// (runc sends the master's name, too).
const ptyName = "/dev/ptmx"

// setupConsole runs in init after pivot_root (or in exec) when
// process.terminal is set: it opens a pty in the container's devpts,
// bind-mounts the slave onto /dev/console (init only: mount), sends the
// master over the console socket and makes the slave the process's stdio
// and controlling terminal.
func setupConsole(sock int, size *specs.Box, mount bool) error {
	if sock < 0 {
		return errors.New("process.terminal is set but there is no console socket")
	}
	defer unix.Close(sock)
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx (is devpts mounted on /dev/pts?): %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, with no path lookup.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return fmt.Errorf("open pty slave: %w", errno)
	}
	slave := int(r)
	defer unix.Close(slave)
	if size != nil && size.Height > 0 && size.Width > 0 {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if mount {
		if err := mountConsole(slave); err != nil {
			return err
		}
	}
	if err := sendFd(sock, ptyName, master); err != nil {
		return fmt.Errorf("send pty master over the console socket: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup console onto fd %d: %w", fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// mountConsole bind-mounts the pty slave onto /dev/console.
func mountConsole(slave int) error {
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	if err := unix.Mount(fdPath(slave), "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount console: %w", err)
	}
	return nil
}

// sendFd sends fd with a name over the unix socket sock (SCM_RIGHTS).
func sendFd(sock int, name string, fd int) error {
	return unix.Sendmsg(sock, []byte(name), unix.UnixRights(fd), nil, 0)
}

// RecvFd receives one fd sent with SCM_RIGHTS (as init sends the pty
// master) from the unix socket conn, with the name sent along.
func RecvFd(conn *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var n, oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), name, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("receive fd: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive fd: bad control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive fd: want 1 fd (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
