package initproc

import (
	"errors"
	"syscall"
	"unsafe"
)

// ptyName is the name sent with the pty master over the console socket
// (runc sends the master's name, too).
const ptyName = "/dev/ptmx"

// setupConsole runs in init after pivot_root (or in exec) when
// process.terminal is set: it opens a pty in the container's devpts,
// bind-mounts the slave onto /dev/console (init only: mount), sends the
// master over the console socket and makes the slave the process's stdio
// and controlling terminal.
func setupConsole(sock int, p *Process, mount bool) error {
	if sock < 0 {
		return errors.New("process.terminal is set but there is no console socket")
	}
	defer syscall.Close(sock)
	master, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open /dev/ptmx (is devpts mounted on /dev/pts?)", err)
	}
	defer syscall.Close(master)
	unlock := int32(0)
	if _, err := ioctl(master, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
		return wrap("unlock pty", err)
	}
	// TIOCGPTPEER opens the slave through the master, with no path lookup.
	r, err := ioctl(master, tiocgptpeer, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC)
	if err != nil {
		return wrap("open pty slave", err)
	}
	slave := int(r)
	defer syscall.Close(slave)
	if p.ConsoleHeight > 0 && p.ConsoleWidth > 0 {
		ws := struct{ row, col, x, y uint16 }{row: uint16(p.ConsoleHeight), col: uint16(p.ConsoleWidth)}
		if _, err := ioctl(master, syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); err != nil {
			return wrap("set console size", err)
		}
	}
	if mount {
		if err := mountConsole(slave); err != nil {
			return err
		}
	}
	if err := syscall.Sendmsg(sock, []byte(ptyName), syscall.UnixRights(master), nil, 0); err != nil {
		return wrap("send pty master over the console socket", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := syscall.Dup3(slave, fd, 0); err != nil {
			return wrap("dup console onto fd "+itoa(fd), err)
		}
	}
	if _, err := ioctl(0, syscall.TIOCSCTTY, 0); err != nil {
		return wrap("set controlling terminal", err)
	}
	return nil
}

// mountConsole bind-mounts the pty slave onto /dev/console.
func mountConsole(slave int) error {
	fd, err := syscall.Open("/dev/console", syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_RDONLY|syscall.O_CLOEXEC, 0o600)
	if err == nil {
		syscall.Close(fd)
	} else if !errors.Is(err, syscall.EEXIST) {
		return wrap("create /dev/console", err)
	}
	if err := syscall.Mount(fdPath(slave), "/dev/console", "", syscall.MS_BIND, ""); err != nil {
		return wrap("bind mount console", err)
	}
	return nil
}
