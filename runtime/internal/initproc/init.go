package initproc

import (
	"errors"
	"os"
	"syscall"
)

// runInit does init's work; ready is set once the parent was told so (and
// stopped listening).
func runInit(conn *Conn, sock *os.File, fds initFds, ready *bool) error {
	payload, err := conn.Expect(MsgConfig)
	if err != nil {
		return wrap("read init config", err)
	}
	cfg := &Config{}
	if err := cfg.Unmarshal(payload); err != nil {
		return wrap("read init config", err)
	}
	if len(cfg.Process.Args) == 0 {
		return errors.New("init config has no process")
	}
	if cfg.Exec {
		return runExec(conn, cfg, fds, ready)
	}
	p := &cfg.Process
	if fds.mntns >= 0 {
		if err := joinMountNS(fds.mntns); err != nil {
			return err
		}
	}
	if cfg.NewCgroupNS {
		// The parent has put us into the container's cgroup: the new
		// namespace is rooted there.
		if err := syscall.Unshare(cloneNewCgroup); err != nil {
			return wrap("unshare cgroup namespace", err)
		}
	}
	if cfg.NewTimeNS {
		if err := unshareTime(cfg.TimeOffsets); err != nil {
			return err
		}
	}
	r := &rootfs{cfg: cfg, path: cfg.Rootfs}
	if err := r.prepare(); err != nil {
		return err
	}
	// The working directory is created if missing, as runc does.
	if fd, err := mkdirAllInRoot(r.fd, p.Cwd, 0o755); err != nil {
		return wrap("create cwd", err)
	} else {
		syscall.Close(fd)
	}
	if cfg.RuntimeHooks {
		if err := conn.Send(MsgHooks, nil); err != nil {
			return err
		}
		if _, err := conn.Expect(MsgHooksDone); err != nil {
			return wrap("waiting for hooks", err)
		}
	}
	if err := runHooks("createContainer", cfg.CreateContainer, cfg.CreatingState); err != nil {
		return err
	}
	if err := r.pivot(); err != nil {
		return err
	}
	if p.Terminal {
		if err := setupConsole(fds.console, p, true); err != nil {
			return err
		}
	}
	if err := finalizeRootfs(cfg); err != nil {
		return err
	}
	syscall.Umask(int(p.Umask))
	if cfg.Hostname != "" {
		if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
			return wrap("set hostname", err)
		}
	}
	if cfg.Domainname != "" {
		if err := syscall.Setdomainname([]byte(cfg.Domainname)); err != nil {
			return wrap("set domainname", err)
		}
	}
	if cfg.Personality >= 0 {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PERSONALITY, uintptr(cfg.Personality), 0, 0); errno != 0 {
			return wrap("set personality", errno)
		}
	}
	exe, env, err := prepareProcess(cfg)
	if err != nil {
		return err
	}
	if err := conn.Send(MsgReady, nil); err != nil {
		return err
	}
	*ready = true
	sock.Close()
	return execAfterStart(cfg, fds.fifo, exe, env)
}

// runExec is the exec helper's side of Exec: join the container's mount
// namespace, set the process up and execve it.
func runExec(conn *Conn, cfg *Config, fds initFds, ready *bool) error {
	p := &cfg.Process
	if fds.mntns < 0 {
		return errors.New("no mount namespace fd")
	}
	// The mount namespace's root is the container's rootfs.
	if err := joinMountNS(fds.mntns); err != nil {
		return err
	}
	if p.Terminal {
		if err := setupConsole(fds.console, p, false); err != nil {
			return err
		}
	}
	syscall.Umask(int(p.Umask))
	exe, env, err := prepareProcess(cfg)
	if err != nil {
		return err
	}
	if err := conn.Send(MsgReady, nil); err != nil {
		return err
	}
	// The socket stays open (close-on-exec): the parent sees EOF once the
	// execve happened.
	*ready = true
	return execProcess(cfg, exe, env)
}

// prepareProcess gives the calling thread the process's rlimits, I/O
// priority, no_new_privs, user, groups and capabilities (loading the
// seccomp filter before dropping them unless no_new_privs lets it wait),
// changes to its cwd and finds its executable. It is the part init and exec
// share, run inside the container's mount namespace.
func prepareProcess(cfg *Config) (exe string, env []string, err error) {
	p := &cfg.Process
	if err := setRlimits(p.Rlimits); err != nil {
		return "", nil, err
	}
	if p.IOPriority >= 0 {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(p.IOPriority)); errno != 0 {
			return "", nil, wrap("set I/O priority", errno)
		}
	}
	// Check that the cwd is inside the container before the seccomp
	// filter is loaded: a profile may deny getcwd.
	if err := chdirInside(p.Cwd); err != nil {
		return "", nil, err
	}
	if p.NoNewPrivileges {
		if err := prctl(prSetNoNewPrivs, 1, 0, 0, 0); err != nil {
			return "", nil, wrap("set no_new_privs", err)
		}
	} else if err := loadSeccomp(cfg.Seccomp); err != nil {
		// Without no_new_privs the filter needs CAP_SYS_ADMIN: load it
		// while the process still has it.
		return "", nil, err
	}
	env = processEnv(p)
	if err := setupUser(p, cfg.LastCap); err != nil {
		return "", nil, err
	}
	// Again as the user, for the permission check; the same path with the
	// same fds and mounts resolves to the directory checked above.
	if err := syscall.Chdir(p.Cwd); err != nil {
		return "", nil, wrap("chdir to cwd ("+quote(p.Cwd)+") set in config.json failed", err)
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
func execAfterStart(cfg *Config, fifoFd int, exe string, env []string) error {
	// Reopen the FIFO for writing through the O_PATH fd the parent passed:
	// the state directory is not visible after pivot_root.
	fd, err := syscall.Open(fdPath(fifoFd), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return wrap("open exec fifo (needs /proc in the container)", err)
	}
	if _, err := syscall.Write(fd, []byte{'0'}); err != nil {
		syscall.Close(fd)
		return wrap("write exec fifo", err)
	}
	syscall.Close(fd)
	syscall.Close(fifoFd)
	if err := runHooks("startContainer", cfg.StartContainer, cfg.CreatedState); err != nil {
		return err
	}
	return execProcess(cfg, exe, env)
}

// execProcess is the last step of init and of exec: with no_new_privs the
// seccomp filter goes on as late as possible, every fd above the preserved
// ones is marked close-on-exec, and the process replaces this one.
func execProcess(cfg *Config, exe string, env []string) error {
	p := &cfg.Process
	if p.NoNewPrivileges {
		if err := loadSeccomp(cfg.Seccomp); err != nil {
			return err
		}
	}
	if err := closeExecFrom(3 + cfg.PreserveFDs); err != nil {
		return err
	}
	if err := syscall.Exec(exe, p.Args, env); err != nil {
		return wrap("exec "+exe, err)
	}
	return nil
}
