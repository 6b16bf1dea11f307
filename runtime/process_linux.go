package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setRlimits applies the process's rlimits to init (the container process
// inherits them). syscall.Setrlimit is used so that the Go runtime does not
// restore its own RLIMIT_NOFILE at execve.
func setRlimits(rls []specs.POSIXRlimit) error {
	for _, rl := range rls {
		res := rlimitTypes[rl.Type]
		err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard})
		if err == nil {
			continue
		}
		var cur syscall.Rlimit
		if errors.Is(err, unix.EPERM) && syscall.Getrlimit(res, &cur) == nil && rl.Hard > cur.Max {
			return fmt.Errorf("set %s to %d:%d: %w: raising the hard limit above %d needs CAP_SYS_RESOURCE, which hull does not have here",
				rl.Type, rl.Soft, rl.Hard, err, cur.Max)
		}
		return fmt.Errorf("set %s to %d:%d: %w", rl.Type, rl.Soft, rl.Hard, err)
	}
	return nil
}

// capSets builds the capability sets of the process; capabilities the
// kernel lacks are ignored (Validate warned about them).
func capSets(c *specs.LinuxCapabilities) (capability.Capabilities, error) {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	caps.Clear(capability.CAPS | capability.BOUNDS | capability.AMBS)
	if c == nil {
		return caps, nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	for _, set := range []struct {
		which capability.CapType
		names []string
	}{
		{capability.BOUNDING, c.Bounding},
		{capability.EFFECTIVE, c.Effective},
		{capability.PERMITTED, c.Permitted},
		{capability.INHERITABLE, c.Inheritable},
		{capability.AMBIENT, c.Ambient},
	} {
		for _, n := range set.names {
			if v, ok := capByName()[n]; ok && v <= last {
				caps.Set(set.which, v)
			}
		}
	}
	return caps, nil
}

// setupUser drops the bounding set, switches to the process's user and
// groups keeping the permitted capabilities across setuid, then sets the
// effective, permitted, inheritable and ambient sets (runc's order). It
// must run on the thread that execve's: capabilities are per thread.
func setupUser(p *specs.Process) error {
	caps, err := capSets(p.Capabilities)
	if err != nil {
		return err
	}
	if err := caps.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("drop capabilities from the bounding set: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	// This thread only: it is the one that execve's (see setThreadIDs).
	if err := setThreadIDs(p.User.UID, p.User.GID, p.User.AdditionalGids); err != nil {
		return fmt.Errorf("switch to user %d:%d (groups %v): %w", p.User.UID, p.User.GID, p.User.AdditionalGids, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keep capabilities: %w", err)
	}
	if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	return nil
}

// processEnv returns the process's environment with HOME added from the
// container's /etc/passwd when it is missing (runc does this), "/" if the
// user has no entry.
func processEnv(p *specs.Process) []string {
	env := append([]string{}, p.Env...)
	hasHome := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			hasHome = true
		}
	}
	if !hasHome {
		home := "/"
		users, err := user.ParsePasswdFileFilter("/etc/passwd", func(u user.User) bool { return u.Uid == int(p.User.UID) })
		if err == nil && len(users) > 0 && users[0].Home != "" {
			home = users[0].Home
		}
		env = append(env, "HOME="+home)
	}
	return env
}

// lookPath finds the executable file in the PATH of env, as execvp(3)
// would, with Go's exec error messages (Docker maps "executable file not
// found" to exit status 127).
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("exec: %q: %w", file, err)
		}
		return file, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// checkExecutable checks that p is a file the process may execute.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("is a directory")
	}
	if err := unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS); err != nil {
		return &os.PathError{Op: "access", Path: p, Err: err}
	}
	return nil
}

// chdirInside changes to the process's cwd and checks that it is inside
// the container: a cwd reached through a leaked host fd
// (/proc/self/fd/N) is "(unreachable)" for getcwd (CVE-2024-21626).
func chdirInside(cwd string) error {
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("cwd %q is not inside the container (getcwd: %q, %v)", cwd, wd, err)
	}
	return nil
}

// closeExecFrom marks every fd from min on close-on-exec, so that nothing
// but stdio and the preserved fds reaches the container process.
func closeExecFrom(min int) error {
	err := unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < min {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return fmt.Errorf("set close-on-exec on fd %d: %w", fd, err)
		}
	}
	return nil
}
