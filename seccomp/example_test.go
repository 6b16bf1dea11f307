package seccomp_test

import (
	"log"
	"os"
	"runtime"

	"github.com/hull-project/hull/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The last steps of a container's init before it execve's the user
// process: compile the profile, set no_new_privs, load the filter on the
// locked thread, exec.
func ExampleFilter_Load() {
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow}},
	}
	f, err := seccomp.Compile(profile, runtime.GOARCH)
	if err != nil {
		log.Fatal(err)
	}
	runtime.LockOSThread() // the filter belongs to this thread
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		log.Fatal(err)
	}
	if err := f.Load(); err != nil {
		log.Fatal(err)
	}
	// From here on only read, write and exit_group work: execve (allowed by a
	// real profile) would start the container process under the filter.
	os.Exit(0)
}
