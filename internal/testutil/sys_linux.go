package testutil

import (
	"io/fs"
	"os"
	"os/exec"
	"syscall"
)

// ownedByMe reports whether fi belongs to the effective uid.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// killWithParent makes the kernel kill cmd's process when the test process
// dies (a panic or a -timeout), so no registry outlives its test binary.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
