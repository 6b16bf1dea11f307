package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The pty is made by the container's init (package initproc), which
// sends its master over the console socket.

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
