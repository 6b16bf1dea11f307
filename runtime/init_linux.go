package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"

	"github.com/hull-project/hull/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// InitArgs are the arguments the parent starts the init process with
// (argv[1:] of `hull runtime init`).
var InitArgs = []string{"runtime", "init"}

func init() {
	// A container's init does its work right here, before main and the
	// packages initialized after this one (the CLI and its command tree),
	// which init has no use for. (Packages whose import paths sort before
	// this one's are initialized first all the same: keep package-level
	// initializers cheap, see the package variables made lazy with
	// sync.OnceValue.)
	//
	// Everything init does that is per thread (setns, capabilities,
	// no_new_privs, seccomp, the final execve) must happen on one thread:
	// the main goroutine is locked to the main thread.
	if !IsInit() || len(os.Args) != 1+len(InitArgs) || os.Args[1] != InitArgs[0] || os.Args[2] != InitArgs[1] {
		return
	}
	goruntime.LockOSThread()
	// No signal.Reset here: nothing has called signal.Notify yet, and
	// Reset would cost milliseconds (a round trip to the runtime's signal
	// goroutine for every signal).
	err := initProcess()
	var ie *InitError
	if !errors.As(err, &ie) || !ie.Reported {
		fmt.Fprintln(os.Stderr, "Error: "+err.Error())
	}
	os.Exit(1)
}

// IsInit reports whether this process was started as a container's init.
func IsInit() bool { return os.Getenv(envInitPipe) != "" }

// Init is the container's init process (`hull runtime init`): it reads
// its configuration from the parent, sets up the container and execve's
// the container process. It returns only on failure, after reporting the
// error to the parent when it still listens; the caller should exit
// non-zero.
func Init() error {
	if !IsInit() {
		return errors.New("hull runtime init is started by hull runtime create, not by hand")
	}
	// Signals get their default effect (hull's main catches SIGTERM).
	signal.Reset()
	// Init's per-thread work (namespaces, credentials, capabilities,
	// seccomp, execve) must all happen on this thread.
	goruntime.LockOSThread()
	return initProcess()
}

// initProcess is Init, for a process where signal.Notify was never called.
func initProcess() error {
	if !IsInit() {
		return errors.New("hull runtime init is started by hull runtime create, not by hand")
	}
	pipeFd, err := strconv.Atoi(os.Getenv(envInitPipe))
	if err != nil {
		return fmt.Errorf("bad %s: %w", envInitPipe, err)
	}
	fds := initFds{fifo: envFd(envInitFifo), console: envFd(envInitConsole), mntns: envFd(envInitMntns)}
	for _, k := range []string{envInitPipe, envInitFifo, envInitConsole, envInitMntns} {
		os.Unsetenv(k)
	}
	// Hooks init runs must not inherit the control fds: a hook left
	// running would keep the sync socket open and the parent waiting.
	for _, fd := range []int{pipeFd, fds.fifo, fds.console, fds.mntns} {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	sock := os.NewFile(uintptr(pipeFd), "init-sync")
	conn := newSyncConn(sock)
	ready := false
	err = runInit(conn, sock, fds, &ready)
	if !ready && conn.send(syncMsg{Type: msgError, Error: err.Error()}) == nil {
		return &InitError{Err: err, Reported: true}
	}
	return &InitError{Err: err}
}

// initFds are the control fds init got besides the sync socket (-1: none).
type initFds struct {
	fifo    int // O_PATH fd of exec.fifo (create)
	console int // console socket
	mntns   int // the container's mount namespace (exec)
}

// envFd parses the fd number in the environment variable name, -1 if unset.
func envFd(name string) int {
	fd, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return -1
	}
	return fd
}

// InitError is the failure of Init. Reported says the parent got the error
// (and prints it), so init should exit quietly.
type InitError struct {
	Err      error
	Reported bool
}

func (e *InitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *InitError) Unwrap() error { return e.Err }

// runInit does init's work; ready is set once the parent was told so (and
// stopped listening).
func runInit(conn *syncConn, sock *os.File, fds initFds, ready *bool) error {
	m, err := conn.expect(msgConfig)
	if err != nil {
		return fmt.Errorf("read init config: %w", err)
	}
	cfg := m.Config
	if cfg == nil || cfg.Spec == nil || cfg.Spec.Process == nil || cfg.Spec.Linux == nil {
		return errors.New("init config has no spec")
	}
	if cfg.Exec {
		return runExec(conn, cfg, fds, ready)
	}
	s := cfg.Spec
	p := s.Process
	// Compile seccomp before changing anything: a bad profile fails early.
	filter, err := compileSeccomp(s.Linux.Seccomp)
	if err != nil {
		return err
	}
	if fds.mntns >= 0 {
		if err := joinMountNS(fds.mntns); err != nil {
			return err
		}
	}
	if cfg.NewCgroupNS {
		// The parent has put us into the container's cgroup: the new
		// namespace is rooted there.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	if cfg.NewTimeNS {
		if err := unshareTime(s.Linux.TimeOffsets); err != nil {
			return err
		}
	}
	r := &rootfs{cfg: cfg, path: cfg.Rootfs}
	if err := r.prepare(); err != nil {
		return err
	}
	// The working directory is created if missing, as runc does.
	if fd, err := mkdirAllInRoot(r.fd, p.Cwd, 0o755); err != nil {
		return fmt.Errorf("create cwd: %w", err)
	} else {
		unix.Close(fd)
	}
	h := hooksOf(s)
	//lint:ignore SA1019 Prestart is deprecated but still run
	if len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 {
		if err := conn.send(syncMsg{Type: msgHooks}); err != nil {
			return err
		}
		if _, err := conn.expect(msgHooksDone); err != nil {
			return fmt.Errorf("waiting for hooks: %w", err)
		}
	}
	if err := runHooks("createContainer", h.CreateContainer, hookState(cfg.ID, Creating, cfg.Pid, cfg.Bundle, s)); err != nil {
		return err
	}
	if err := r.pivot(); err != nil {
		return err
	}
	if p.Terminal {
		if err := setupConsole(fds.console, p.ConsoleSize, true); err != nil {
			return err
		}
	}
	if err := finalizeRootfs(s, r.devRO); err != nil {
		return err
	}
	setUmask(p)
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("set domainname: %w", err)
		}
	}
	if err := setPersonality(s.Linux.Personality); err != nil {
		return err
	}
	exe, env, err := prepareProcess(p, filter)
	if err != nil {
		return err
	}
	if err := conn.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	*ready = true
	sock.Close()
	return execAfterStart(cfg, fds.fifo, filter, exe, env)
}

// setUmask sets the process's umask (0022 by default).
func setUmask(p *specs.Process) {
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
}

// prepareProcess gives the calling thread the process's rlimits, I/O
// priority, no_new_privs, user, groups and capabilities (loading the
// seccomp filter before dropping them unless no_new_privs lets it wait),
// changes to its cwd and finds its executable. It is the part init and exec
// share, run inside the container's mount namespace.
func prepareProcess(p *specs.Process, filter *seccomp.Filter) (exe string, env []string, err error) {
	if err := setRlimits(p.Rlimits); err != nil {
		return "", nil, err
	}
	if err := setIOPriority(p.IOPriority); err != nil {
		return "", nil, err
	}
	// Check that the cwd is inside the container before the seccomp
	// filter is loaded: a profile may deny getcwd.
	if err := chdirInside(p.Cwd); err != nil {
		return "", nil, err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	} else if err := loadSeccomp(filter); err != nil {
		// Without no_new_privs the filter needs CAP_SYS_ADMIN: load it
		// while the process still has it.
		return "", nil, err
	}
	env = processEnv(p)
	if err := setupUser(p); err != nil {
		return "", nil, err
	}
	// Again as the user, for the permission check; the same path with the
	// same fds and mounts resolves to the directory checked above.
	if err := unix.Chdir(p.Cwd); err != nil {
		return "", nil, fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", p.Cwd, err)
	}
	exe, err = lookPath(p.Args[0], env)
	if err != nil {
		return "", nil, err
	}
	return exe, env, nil
}

// execAfterStart blocks until `hull runtime start` opens exec.fifo, then
// runs the startContainer hooks, loads seccomp (when no_new_privs allows it
// this late) and execve's the container process.
func execAfterStart(cfg *initConfig, fifoFd int, filter *seccomp.Filter, exe string, env []string) error {
	s := cfg.Spec
	p := s.Process
	// Reopen the FIFO for writing through the O_PATH fd the parent passed:
	// the state directory is not visible after pivot_root.
	fd, err := unix.Open(fdPath(fifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo (needs /proc in the container): %w", err)
	}
	if _, err := unix.Write(fd, []byte{'0'}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("write exec fifo: %w", err)
	}
	unix.Close(fd)
	unix.Close(fifoFd)
	if err := runHooks("startContainer", hooksOf(s).StartContainer, hookState(cfg.ID, Created, cfg.Pid, cfg.Bundle, s)); err != nil {
		return err
	}
	return execProcess(p, filter, cfg.PreserveFDs, exe, env)
}

// setPersonality sets the execution domain (linux.personality).
func setPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	var dom uintptr
	switch p.Domain {
	case specs.PerLinux:
		dom = 0x0000
	case specs.PerLinux32:
		dom = 0x0008
	default:
		return fmt.Errorf("unknown personality domain %q", p.Domain)
	}
	if len(p.Flags) > 0 {
		return errors.New("personality flags are not supported")
	}
	if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, dom, 0, 0); errno != 0 {
		return fmt.Errorf("set personality: %w", errno)
	}
	return nil
}

// ioprioClasses are the classes of process.ioPriority.
var ioprioClasses = map[specs.IOPriorityClass]uintptr{
	specs.IOPRIO_CLASS_RT:   1,
	specs.IOPRIO_CLASS_BE:   2,
	specs.IOPRIO_CLASS_IDLE: 3,
}

// setIOPriority sets process.ioPriority with ioprio_set(2).
func setIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return fmt.Errorf("unknown I/O priority class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("I/O priority %d out of range 0-7", p.Priority)
	}
	const ioprioWhoProcess = 1
	prio := class<<13 | uintptr(p.Priority)
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, prio); errno != 0 {
		return fmt.Errorf("set I/O priority: %w", errno)
	}
	return nil
}

// execProcess is the last step of init and of exec: with no_new_privs the
// seccomp filter goes on as late as possible, every fd above the preserved
// ones is marked close-on-exec, and the process replaces this one.
func execProcess(p *specs.Process, filter *seccomp.Filter, preserveFDs int, exe string, env []string) error {
	if p.NoNewPrivileges {
		if err := loadSeccomp(filter); err != nil {
			return err
		}
	}
	if err := closeExecFrom(3 + preserveFDs); err != nil {
		return err
	}
	if err := unix.Exec(exe, p.Args, env); err != nil {
		return fmt.Errorf("exec %s: %w", exe, err)
	}
	return nil
}
