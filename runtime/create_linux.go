package runtime

import (
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/procstat"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/runtime/internal/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CreateOptions are the options of Create: runc create's flags plus the
// init process's stdio.
type CreateOptions struct {
	// Bundle is the bundle directory (default: the working directory).
	Bundle string
	// ConsoleSocket is the path of a unix socket that receives the pty
	// master (SCM_RIGHTS) when process.terminal is set.
	ConsoleSocket string
	// PidFile, if set, receives init's pid (written atomically).
	PidFile string
	// NoPivot uses MS_MOVE and chroot instead of pivot_root (for a rootfs
	// on a ramfs).
	NoPivot bool
	// PreserveFDs is the number of fds from 3 on that the container
	// process inherits (plus LISTEN_FDS of socket activation).
	PreserveFDs int
	// Stdin, Stdout and Stderr are init's (hence the container process's)
	// stdio without a terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Warn, if set, is told about ignored settings.
	Warn func(msg string)
	// Console is a connected unix socket used instead of ConsoleSocket
	// (`run` relays the terminal itself); the caller keeps it.
	Console *os.File
}

// Create creates the container id from a bundle: on success its init
// process waits in the "created" state for Start.
func (r *Runtime) Create(id string, o CreateOptions) (c *Container, err error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	bundle := o.Bundle
	if bundle == "" {
		bundle = "."
	}
	bundle, err = filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	s, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	warnings, err := Validate(s)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		if o.Warn != nil {
			o.Warn(w)
		}
	}
	rootfs := s.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("rootfs %s is not a directory", rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	hasConsole := o.ConsoleSocket != "" || o.Console != nil
	if s.Process.Terminal && !hasConsole {
		return nil, errors.New("cannot allocate tty if runc will detach without setting console socket")
	}
	if !s.Process.Terminal && hasConsole {
		return nil, errors.New("cannot use console socket if runc will not detach or allocate tty")
	}
	plan, err := planNamespaces(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.root(), 0o711); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	dir := filepath.Join(r.root(), id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExist, id)
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	c = &Container{rt: r, id: id, dir: dir, rec: record{
		ID: id, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(),
		CgroupPath: cgroupsPath(s, id), Config: s,
	}}
	b := &builder{c: c, o: &o, spec: s, plan: plan}
	defer func() {
		if err != nil {
			b.abort()
		}
	}()
	if err := b.start(); err != nil {
		return nil, err
	}
	return c, nil
}

// builder holds the parent's side of a container being created.
type builder struct {
	c    *Container
	o    *CreateOptions
	spec *specs.Spec
	plan *nsPlan
	cg   cgroup.Manager
	cmd  *exec.Cmd
}

// start starts init and drives it to the "created" state.
func (b *builder) start() error {
	c, s := b.c, b.spec
	fifo := filepath.Join(c.dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return fmt.Errorf("create exec fifo: %w", err)
	}
	if err := os.Chmod(fifo, 0o622); err != nil { // undo the umask
		return fmt.Errorf("create exec fifo: %w", err)
	}
	fifoFd, err := unix.Open(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	fifoFile := os.NewFile(uintptr(fifoFd), fifo)
	defer fifoFile.Close()

	b.cg, err = cgroup.New(c.rec.CgroupPath, cgroupResources(s))
	if err != nil {
		return err
	}
	exe, err := protectedExe(c.dir)
	if err != nil {
		return err
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "init-sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "init-sync-child")
	defer parentSock.Close()
	defer childSock.Close()

	// The child's fds: 0-2 stdio, 3.. the preserved fds, then the sync
	// socket, the exec FIFO (O_PATH) and the console socket.
	extra, err := preservedFiles(b.o.PreserveFDs)
	if err != nil {
		return err
	}
	if n := listenFds(); n > 0 {
		s.Process.Env = append(s.Process.Env, "LISTEN_FDS="+strconv.Itoa(n), "LISTEN_PID=1")
	}
	nPreserved := len(extra)
	syncFd := 3 + len(extra)
	extra = append(extra, childSock, fifoFile)
	env := append(initEnv(),
		initproc.EnvPipe+"="+strconv.Itoa(syncFd),
		initproc.EnvFifo+"="+strconv.Itoa(syncFd+1),
	)
	if b.plan.joinMnt != "" {
		mnt, err := os.Open(b.plan.joinMnt)
		if err != nil {
			return fmt.Errorf("open mount namespace: %w", err)
		}
		defer mnt.Close()
		env = append(env, initproc.EnvMntns+"="+strconv.Itoa(3+len(extra)))
		extra = append(extra, mnt)
	}
	console := b.o.Console
	if b.o.ConsoleSocket != "" {
		console, err = dialConsole(b.o.ConsoleSocket)
		if err != nil {
			return err
		}
		defer console.Close()
	}
	if console != nil {
		env = append(env, initproc.EnvConsole+"="+strconv.Itoa(3+len(extra)))
		extra = append(extra, console)
	}
	b.cmd = &exec.Cmd{
		Path:       fdPath(int(exe.Fd())),
		Args:       append([]string{"hull"}, InitArgs...),
		Env:        env,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: b.plan.cloneFlags,
			Setsid:     true,
		},
	}
	if !s.Process.Terminal {
		b.cmd.Stdin, b.cmd.Stdout, b.cmd.Stderr = fileOrNil(b.o.Stdin), fileOrNil(b.o.Stdout), fileOrNil(b.o.Stderr)
	}
	userNS := b.plan.isNew(specs.UserNamespace)
	if userNS {
		b.cmd.SysProcAttr.UidMappings = idMaps(s.Linux.UIDMappings)
		b.cmd.SysProcAttr.GidMappings = idMaps(s.Linux.GIDMappings)
		b.cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		// hull's uid is not mapped in the new namespace: become its root
		// (once the maps are written), or execve drops every capability.
		b.cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
		// The init's root must be able to open the FIFO.
		if err := os.Chown(fifo, rootID(s.Linux.UIDMappings), rootID(s.Linux.GIDMappings)); err != nil {
			return fmt.Errorf("chown exec fifo: %w", err)
		}
	}
	if err := b.plan.startIn(b.cmd); err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	childSock.Close()
	pid := b.cmd.Process.Pid
	if err := b.cg.Apply(pid); err != nil {
		return err
	}
	if err := b.cg.Set(nil); err != nil {
		return err
	}
	if p := s.Process.OOMScoreAdj; p != nil {
		if err := writeOOMScoreAdj(pid, *p); err != nil {
			return err
		}
	}
	cgInfo, err := cgroupMountInfoFor(b.cg)
	if err != nil {
		return err
	}
	cfg, err := initConfig(s, initSetup{
		id: c.id, bundle: c.rec.Bundle, rootfs: c.rec.Rootfs, pid: pid, noPivot: b.o.NoPivot,
		preserveFDs: nPreserved, plan: b.plan, cgroup: cgInfo,
	})
	if err != nil {
		return err
	}
	conn := initproc.NewConn(parentSock)
	if err := conn.SendConfig(cfg); err != nil {
		return b.initFailed(fmt.Errorf("send config to init: %w", err))
	}
	// While init sets the container up, get state.json's content ready:
	// once init is, only the write is left. (init's start time does not
	// change; a failure to read it matters only if init got ready.)
	st, statErr := procstat.Read(pid)
	if statErr == nil {
		c.rec.InitPid, c.rec.InitStartTime = pid, st.StartTime
	}
	c.rec.HostMounts = cfg.HostMountNS
	state, encErr := c.encode()
	if err := b.waitReady(conn); err != nil {
		return err
	}
	if statErr != nil {
		return fmt.Errorf("init process: %w", statErr)
	}
	if encErr != nil {
		return encErr
	}
	if err := c.write(state); err != nil {
		return err
	}
	if b.o.PidFile != "" {
		if err := writePidFile(b.o.PidFile, pid); err != nil {
			return err
		}
	}
	c.cmd, c.cg = b.cmd, b.cg
	return nil
}

// waitReady serves init's requests until it reports ready.
func (b *builder) waitReady(conn *initproc.Conn) error {
	c := b.c
	for {
		typ, _, err := conn.Recv()
		if err != nil {
			return b.initFailed(err)
		}
		switch typ {
		case initproc.MsgHooks:
			st := hookState(c.id, Creating, b.cmd.Process.Pid, c.rec.Bundle, b.spec)
			h := hooksOf(b.spec)
			//lint:ignore SA1019 Prestart is deprecated but still run
			err := runHooks("prestart", h.Prestart, st)
			if err == nil {
				err = runHooks("createRuntime", h.CreateRuntime, st)
			}
			if err != nil {
				_ = conn.Send(initproc.MsgError, []byte(err.Error()))
				return err
			}
			if err := conn.Send(initproc.MsgHooksDone, nil); err != nil {
				return b.initFailed(err)
			}
		case initproc.MsgReady:
			return nil
		default:
			return fmt.Errorf("unexpected message %q from init", initproc.MsgName(typ))
		}
	}
}

// initFailed turns a sync failure into an error: init's own error if it
// sent one, else how it exited.
func (b *builder) initFailed(err error) error {
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("container init: %w", err)
	}
	_ = b.cmd.Wait()
	if ps := b.cmd.ProcessState; ps != nil {
		return fmt.Errorf("container init exited unexpectedly (%s)", ps)
	}
	return errors.New("container init exited unexpectedly")
}

// abort undoes a failed create: kill init, remove its cgroup and the state
// directory.
func (b *builder) abort() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Wait()
		}
	}
	if b.cg != nil {
		_ = b.cg.Kill(unix.SIGKILL)
		_ = waitCgroupEmpty(b.cg, 2*time.Second)
		_ = b.cg.Destroy()
	}
	_ = os.RemoveAll(b.c.dir)
}

// initEnv is the environment init starts with, before the control fds.
// GOMAXPROCS=1 spares the Go runtime the per-P set-up and the extra
// threads it would start for init, which does its work on one thread
// anyway (about 0.5 ms per start). The container process and the hooks
// get their own environment, not this one. (GODEBUG=containermaxprocs=0
// would not save the cgroup reads at start-up: Go 1.26 reads the cgroup
// limit in any case.)
func initEnv() []string {
	return []string{"GOMAXPROCS=1"}
}

// preservedFiles returns the fds 3 .. 3+n+LISTEN_FDS-1, checking that they
// are open.
func preservedFiles(n int) ([]*os.File, error) {
	n += listenFds()
	var out []*os.File
	for fd := 3; fd < 3+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("preserved fd %d: %w", fd, err)
		}
		out = append(out, os.NewFile(uintptr(fd), "preserved-fd-"+strconv.Itoa(fd)))
	}
	return out, nil
}

// listenFds is the LISTEN_FDS of socket activation, if meant for us.
func listenFds() int {
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return 0
	}
	if pid := os.Getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return n
}

// dialConsole connects to the console socket and returns the connection as
// a file to hand to init.
func dialConsole(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to console socket: %w", err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

func fileOrNil(f *os.File) io.ReadWriter {
	if f == nil {
		return nil
	}
	return f
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// rootID is the host id that id 0 of the container maps to.
func rootID(m []specs.LinuxIDMapping) int {
	for _, e := range m {
		if e.ContainerID == 0 {
			return int(e.HostID)
		}
	}
	return 0
}

// writeOOMScoreAdj sets init's oom_score_adj (inherited by the container
// process).
func writeOOMScoreAdj(pid, v int) error {
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(v)), 0)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("set oom_score_adj to %d: %w (lowering it needs CAP_SYS_RESOURCE)", v, err)
	}
	if err != nil {
		return fmt.Errorf("set oom_score_adj to %d: %w", v, err)
	}
	return nil
}

// writePidFile writes pid to path atomically, as runc does (no newline).
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// waitCgroupEmpty waits until the cgroup has no process left.
func waitCgroupEmpty(cg cgroup.Manager, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := cg.Pids()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup still has processes %v", pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
