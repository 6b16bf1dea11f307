package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary run a Load scenario instead of the tests:
// a filter cannot be removed, so each scenario runs in its own process.
const childEnv = "HULL_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("PASS")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runScenario runs a child scenario and returns its output and exit state.
func runScenario(t *testing.T, mode string) (string, *os.ProcessState) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running child %s: %v", mode, err)
	}
	return string(out), cmd.ProcessState
}

func expectPass(t *testing.T, mode string) string {
	t.Helper()
	out, st := runScenario(t, mode)
	if !st.Success() || !strings.Contains(out, "PASS") {
		t.Fatalf("child %s: %v\n%s", mode, st, out)
	}
	return out
}

func TestLoadDockerProfile(t *testing.T) {
	testutil.RequireRoot(t) // as root, mount and clone would succeed unfiltered
	out := expectPass(t, "docker")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cold") {
			t.Log(l)
		}
	}
}

func TestLoadCustomErrno(t *testing.T) { expectPass(t, "uname") }

func TestLoadNeedsNoNewPrivs(t *testing.T) {
	testutil.RequireRoot(t) // the child drops CAP_SYS_ADMIN to provoke EACCES
	expectPass(t, "nonnp")
}

func TestLoadKillProcess(t *testing.T) {
	out, st := runScenario(t, "kill")
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child should die of SIGSYS, got %v\n%s", st, out)
	}
}

// runChild runs one scenario in the child process.
func runChild(mode string) error {
	runtime.LockOSThread() // the filter belongs to this thread (unless TSYNC)
	if mode != "nonnp" {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	switch mode {
	case "docker":
		return childDocker()
	case "uname":
		f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))},
		}}, runtime.GOARCH)
		if err != nil {
			return err
		}
		if err := f.Load(); err != nil {
			return err
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != unix.ENOSYS {
			return fmt.Errorf("uname: got %v, want ENOSYS", err)
		}
		if unix.Getpid() != os.Getpid() {
			return errors.New("getpid")
		}
		return nil
	case "kill":
		f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getppid"}, Action: specs.ActKillProcess},
		}}, runtime.GOARCH)
		if err != nil {
			return err
		}
		if err := f.Load(); err != nil {
			return err
		}
		unix.Getppid()
		return errors.New("still alive after getppid")
	case "nonnp":
		// Drop CAP_SYS_ADMIN from this thread's effective set: with neither it
		// nor no_new_privs the kernel refuses the filter.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		f, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, runtime.GOARCH)
		if err != nil {
			return err
		}
		err = f.Load()
		if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), "no_new_privs") {
			return fmt.Errorf("Load without no_new_privs: got %v, want EACCES", err)
		}
		return nil
	}
	return fmt.Errorf("unknown scenario %q", mode)
}

// rawClone calls clone(2) with flags the kernel rejects with EINVAL after
// the filter, so that no child is ever created.
func rawClone(flags uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags, 0, 0, 0, 0, 0)
	return e
}

func childDocker() error {
	p, err := mobyDefault()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "seccomp-mount")
	if err != nil {
		return err
	}
	defer os.Remove(dir)

	// Controls without the filter: these must behave differently below.
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("control mount: %w", err)
	}
	if err := unix.Unmount(dir, 0); err != nil {
		return err
	}
	if e := rawClone(unix.CLONE_NEWUSER | unix.CLONE_FS); e != unix.EINVAL {
		return fmt.Errorf("control clone(NEWUSER|FS): %v, want EINVAL", e)
	}

	start := time.Now()
	f, err := Compile(p, runtime.GOARCH)
	if err != nil {
		return err
	}
	compiled := time.Since(start)
	f.Flags |= unix.SECCOMP_FILTER_FLAG_TSYNC
	if err := f.Load(); err != nil {
		return err
	}
	fmt.Printf("cold Compile of Docker's profile in a fresh process: %v (%d instructions), Load: %v\n",
		compiled, len(f.Program), time.Since(start)-compiled)

	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	if !strings.Contains(string(status), "Seccomp:\t2") {
		return fmt.Errorf("thread not in seccomp filter mode:\n%s", status)
	}
	var errs []error
	check := func(what string, got, want error) {
		if got != want {
			errs = append(errs, fmt.Errorf("%s: got %v, want %v", what, got, want))
		}
	}
	// mount undoes a mount that a broken filter let through.
	mount := func() error {
		err := unix.Mount("none", dir, "tmpfs", 0, "")
		if err == nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		return err
	}
	check("mount", mount(), unix.EPERM)
	if unix.Getpid() != os.Getpid() {
		errs = append(errs, errors.New("getpid does not work"))
	}
	check("unshare(CLONE_NEWUSER)", unix.Unshare(unix.CLONE_NEWUSER), unix.EPERM)
	check("clone(CLONE_NEWUSER|CLONE_FS)", errOrNil(rawClone(unix.CLONE_NEWUSER|unix.CLONE_FS)), unix.EPERM)
	// No namespace flag: the filter lets it through and the kernel rejects
	// CLONE_THREAD without CLONE_SIGHAND.
	check("clone(CLONE_THREAD)", errOrNil(rawClone(unix.CLONE_THREAD)), unix.EINVAL)
	_, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	check("clone3", errOrNil(e), unix.ENOSYS)
	_, _, e = unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	check("personality(query)", errOrNil(e), nil)
	_, _, e = unix.RawSyscall(unix.SYS_PERSONALITY, readImpliesExec, 0, 0)
	check("personality(READ_IMPLIES_EXEC)", errOrNil(e), unix.EPERM)
	_, err = unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	check("socket(AF_VSOCK)", err, unix.EPERM)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	check("socket(AF_UNIX)", err, nil)
	if err == nil {
		unix.Close(fd)
	}
	// TSYNC: another OS thread is filtered too.
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- mount()
	}()
	check("mount on another thread", <-done, unix.EPERM)
	return errors.Join(errs...)
}

func errOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// readImpliesExec is the READ_IMPLIES_EXEC personality flag.
const readImpliesExec = 0x0400000
