package runtime

import (
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/procstat"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/hull-project/hull/runtime/internal/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOptions are the options of Exec (runc exec's flags).
type ExecOptions struct {
	// ConsoleSocket receives the pty master when the process has a
	// terminal; Console is a connected socket used instead (see
	// CreateOptions).
	ConsoleSocket string
	Console       *os.File
	// PidFile, if set, receives the process's pid.
	PidFile string
	// PreserveFDs is the number of fds from 3 on the process inherits.
	PreserveFDs int
	// Stdin, Stdout and Stderr are the process's stdio without a
	// terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// IgnorePaused allows exec into a paused container.
	IgnorePaused bool
}

// Process is a process started in a container by Exec.
type Process struct {
	// Pid is its pid in hull's pid namespace.
	Pid int
	cmd *exec.Cmd
}

// Wait waits for the process and returns its exit status (128+signal if a
// signal killed it).
func (p *Process) Wait() (int, error) { return waitStatus(p.cmd) }

// nsProcNames are the /proc/<pid>/ns names of the namespaces exec joins.
var nsProcNames = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.CgroupNamespace:  "cgroup",
}

// Exec starts process p in the running container: in its namespaces and
// cgroup, with the container's seccomp profile, p's user, capabilities,
// rlimits, no_new_privs and cwd. The parent joins the pid, network, IPC,
// UTS and cgroup namespaces on a locked thread before the fork; the helper
// (`hull runtime init` in exec mode) joins the mount namespace itself, on
// its main thread after unshare(CLONE_FS), and execve's the process.
func (c *Container) Exec(p *specs.Process, o ExecOptions) (proc *Process, err error) {
	st, err := c.Status()
	if err != nil {
		return nil, err
	}
	switch {
	case st == Stopped:
		return nil, errors.New("cannot exec in a stopped container")
	case st == Paused && !o.IgnorePaused:
		return nil, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
	}
	if err := validateExecProcess(p); err != nil {
		return nil, err
	}
	hasConsole := o.ConsoleSocket != "" || o.Console != nil
	if p.Terminal && !hasConsole {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if !p.Terminal && hasConsole {
		return nil, errors.New("cannot use console socket if runc will not detach or allocate tty")
	}
	plan := &nsPlan{}
	var mntns *os.File
	for _, ns := range c.rec.Config.Linux.Namespaces {
		switch ns.Type {
		case specs.UserNamespace, specs.TimeNamespace:
			return nil, fmt.Errorf("exec into a container with its own %s namespace is not supported yet", ns.Type)
		case specs.MountNamespace:
			if mntns, err = os.Open(c.nsPath("mnt")); err != nil {
				return nil, fmt.Errorf("open the container's mount namespace: %w", err)
			}
			defer mntns.Close()
		default:
			plan.join = append(plan.join, nsJoin{typ: ns.Type, path: c.nsPath(nsProcNames[ns.Type]), flag: int(nsFlags[ns.Type])})
		}
	}
	if mntns == nil {
		return nil, errors.New("exec into a container without a mount namespace of its own is not supported")
	}
	// The namespace files are the right ones only if init is still the
	// process we started.
	if !c.initAlive() {
		return nil, ErrNotRunning
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	exe, err := protectedExe(c.dir)
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "exec-sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "exec-sync-child")
	defer parentSock.Close()
	defer childSock.Close()
	extra, err := preservedFiles(o.PreserveFDs)
	if err != nil {
		return nil, err
	}
	nPreserved := len(extra)
	syncFd := 3 + nPreserved
	extra = append(extra, childSock, mntns)
	env := append(initEnv(),
		initproc.EnvPipe+"="+strconv.Itoa(syncFd),
		initproc.EnvMntns+"="+strconv.Itoa(syncFd+1),
	)
	console := o.Console
	if o.ConsoleSocket != "" {
		if console, err = dialConsole(o.ConsoleSocket); err != nil {
			return nil, err
		}
		defer console.Close()
	}
	if console != nil {
		env = append(env, initproc.EnvConsole+"="+strconv.Itoa(syncFd+2))
		extra = append(extra, console)
	}
	cmd := &exec.Cmd{
		Path:        fdPath(int(exe.Fd())),
		Args:        append([]string{"hull"}, InitArgs...),
		Env:         env,
		ExtraFiles:  extra,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if !p.Terminal {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = fileOrNil(o.Stdin), fileOrNil(o.Stdout), fileOrNil(o.Stderr)
	}
	if err := plan.startIn(cmd); err != nil {
		return nil, fmt.Errorf("start exec process: %w", err)
	}
	childSock.Close()
	defer func() {
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// In a frozen cgroup the helper would freeze before it is ready: join
	// a paused container's cgroup only once it is.
	if cg != nil && st != Paused {
		if err := cg.Apply(cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	cfg, err := execConfig(c.rec.Config, p, nPreserved)
	if err != nil {
		return nil, err
	}
	conn := initproc.NewConn(parentSock)
	if err := conn.SendConfig(cfg); err != nil {
		return nil, fmt.Errorf("send config to exec process: %w", err)
	}
	if _, err := conn.Expect(initproc.MsgReady); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			_ = cmd.Wait()
			return nil, fmt.Errorf("exec process exited unexpectedly (%v)", cmd.ProcessState)
		}
		return nil, fmt.Errorf("exec: %w", err)
	}
	if cg != nil && st == Paused {
		// Only once the helper has execve'd (EOF on the socket): a
		// multi-threaded process frozen in mid-execve never finishes it
		// (its other threads cannot die while frozen, the cgroup never
		// gets past FREEZING).
		if _, _, err := conn.Recv(); !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("exec: waiting for execve: %v", err)
		}
		if err := cg.Apply(cmd.Process.Pid); err != nil && !exited(cmd.Process.Pid) {
			return nil, err
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	return &Process{Pid: cmd.Process.Pid, cmd: cmd}, nil
}

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool {
	st, err := procstat.Read(pid)
	return err != nil || st.Zombie()
}

// nsPath is the /proc path of one of init's namespaces.
func (c *Container) nsPath(name string) string {
	return filepath.Join("/proc", strconv.Itoa(c.rec.InitPid), "ns", name)
}

// validateExecProcess checks a process given to Exec.
func validateExecProcess(p *specs.Process) error {
	if p == nil || len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("process args must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process cwd %q must be an absolute path", p.Cwd)
	}
	for _, rl := range p.Rlimits {
		if _, ok := rlimitTypes[rl.Type]; !ok {
			return fmt.Errorf("unknown rlimit type %q", rl.Type)
		}
	}
	return nil
}
